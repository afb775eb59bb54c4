"""HTTP shapes of the ingress: the request a provider sent, the reply it gets, and RFC 9457 problems.

API Gateway (REST, proxy integration) hands the body over as the raw text it received; a signature is
verified on exactly those bytes, never on a re-serialised body.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    request_id: str = ""
    received_at: float = field(default_factory=time.time)
    #: API Gateway's requestContext.domainName and stage (to rebuild the public URL when not configured).
    domain_name: str = ""
    stage: str = ""
    #: Subject DN of the client certificate API Gateway verified (mutual TLS custom domains only).
    client_cert_subject: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @classmethod
    def from_api_gateway(cls, event: dict[str, Any]) -> WebhookRequest:
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
        ctx = event.get("requestContext") or {}
        cert = (ctx.get("identity") or {}).get("clientCert") or {}
        return cls(
            method=event.get("httpMethod", "POST"),
            path=event.get("path", ""),
            headers=headers,
            body=body,
            query={k: v for k, v in (event.get("queryStringParameters") or {}).items() if v is not None},
            request_id=ctx.get("requestId", ""),
            domain_name=ctx.get("domainName", ""),
            stage=ctx.get("stage", ""),
            client_cert_subject=cert.get("subjectDN") or None,
        )


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: dict[str, Any]) -> HttpResponse:
        return cls(status=status, body=json.dumps(payload, separators=(",", ":")))

    def to_api_gateway(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": self.content_type, **self.headers},
            "body": self.body,
            "isBase64Encoded": False,
        }


class Problem(Exception):
    """A request the hub refuses, answered as ``application/problem+json`` (RFC 9457).

    ``reason`` is a short machine label for metrics ("missing_signature", "stale_timestamp", ...); the
    detail names what was wrong without echoing secrets, signatures or the body.
    """

    titles: ClassVar[dict[int, str]] = {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        405: "Method Not Allowed",
        409: "Conflict",
        413: "Content Too Large",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }

    def __init__(self, status: int, reason: str, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after

    def response(self, instance: str | None = None) -> HttpResponse:
        payload: dict[str, Any] = {
            "type": f"https://o2c-hub.dev/problems/{self.reason.replace('_', '-')}",
            "title": self.titles.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            payload["instance"] = instance
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return HttpResponse(
            status=self.status, body=json.dumps(payload), content_type=PROBLEM_JSON, headers=headers
        )


def unauthorized(reason: str, detail: str) -> Problem:
    return Problem(401, reason, detail)


def bad_request(reason: str, detail: str) -> Problem:
    return Problem(400, reason, detail)
