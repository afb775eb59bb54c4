"""The /v1 API's one error taxonomy: RFC 9457 ``application/problem+json`` with stable ``type`` URIs.

A client branches on ``type`` (never on ``title`` or ``detail``, which are for people). The URIs are names,
not pages; they never change within ``/v1`` (new kinds may be added). README "API" lists them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://o2c-hub.dev/problems/"

#: kind → (type URI, HTTP status, title)
KINDS: dict[str, tuple[str, int, str]] = {
    "validation": (TYPE_BASE + "validation", 422, "The request is not valid"),
    "unauthorized": (TYPE_BASE + "unauthorized", 401, "Authentication required"),
    "forbidden": (TYPE_BASE + "forbidden", 403, "Not allowed"),
    "not-found": (TYPE_BASE + "not-found", 404, "Not found"),
    "conflict": (TYPE_BASE + "conflict", 409, "Conflict"),
    "idempotency-key-reused": (
        TYPE_BASE + "idempotency-key-reused",
        422,
        "This Idempotency-Key was used with another request",
    ),
    "business-rejection": (TYPE_BASE + "business-rejection", 422, "The request was refused"),
    "rate-limited": (TYPE_BASE + "rate-limited", 429, "Too many requests"),
    "technical-failure": (TYPE_BASE + "technical-failure", 503, "A system the hub depends on failed"),
}


@dataclass
class Problem(Exception):
    """Raised anywhere in a route; rendered as problem+json by the resolver's exception handler."""

    kind: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}")
        super().__init__(self.detail)

    @property
    def status(self) -> int:
        return KINDS[self.kind][1]

    def body(self, instance: str | None = None) -> dict[str, Any]:
        type_uri, status, title = KINDS[self.kind]
        out: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": self.detail}
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out

    def json(self, instance: str | None = None) -> str:
        return json.dumps(self.body(instance))
