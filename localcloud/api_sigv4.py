"""The /v1 API for IAM callers (``infra/constructs/iam_api.py``), authorized locally as API Gateway's
``AWS_IAM`` authorization does on AWS.

A request is refused (403, as API Gateway answers) when it is unsigned ("Missing Authentication Token"), when
its key belongs to no IAM user or role session of the local cloud ("The security token included in the
request is invalid."), when its ``X-Amz-Date`` is more than 15 minutes off ("Signature expired"), when its
credential scope is not ``<date>/<region>/execute-api/aws4_request``, or when the signature is not the one
botocore's SigV4 signer computes with the key's secret over the request as received (method, path, query,
the signed headers, the body). A valid signature is then authorized by the local cloud's IAM evaluation
(``localcloud.iam``): the caller's policies must allow ``execute-api:Invoke`` on the method's ARN
``arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>``, explicit denies winning. The
function then receives the caller in ``requestContext.identity`` (``userArn``, ``accessKey``, ``caller``)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from localcloud import iam as local_iam
from localcloud.api_auth import AuthFailure

#: API Gateway's tolerance for the request's clock (X-Amz-Date)
MAX_SKEW_S = 15 * 60
SERVICE = "execute-api"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;_.-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_UNKNOWN_KEY = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


class LocalSigV4:
    def __init__(
        self, *, account_id: str, region: str, api_id: str, stage: str, clock: Any = time.time
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.api_id = api_id
        self.stage = stage
        self.clock = clock

    def method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/{method}{path}"
        )

    def authorize(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> dict[str, str]:
        """The caller's identity (``requestContext.identity`` fields) for a request whose raw target
        (path and query as sent) and headers are given; ``AuthFailure`` 403 otherwise."""
        by_name: dict[str, list[str]] = {}
        for name, value in headers:
            by_name.setdefault(name.lower(), []).append(value)
        authorization = (by_name.get("authorization") or [""])[0].strip()
        if not authorization:
            raise AuthFailure(403, "Missing Authentication Token")
        match = _AUTHORIZATION.match(authorization)
        if match is None:
            raise AuthFailure(
                403, f"Authorization header requires existence of a valid signature. {_MISMATCH}"
            )
        if match["service"] != SERVICE or match["region"] != self.region:
            raise AuthFailure(
                403,
                f"Credential should be scoped to correct service: '{SERVICE}' and region '{self.region}'.",
            )
        signed = match["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed or "x-amz-date" not in by_name:
            raise AuthFailure(403, f"'Host' and 'X-Amz-Date' must be signed. {_MISMATCH}")
        amz_date = by_name["x-amz-date"][0].strip()
        try:
            stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AuthFailure(403, f"Invalid X-Amz-Date {amz_date!r}. {_MISMATCH}") from None
        now = self.clock()
        if abs(now - stamp) > MAX_SKEW_S:
            earliest = datetime.fromtimestamp(now - MAX_SKEW_S, UTC).strftime("%Y%m%dT%H%M%SZ")
            raise AuthFailure(403, f"Signature expired: {amz_date} is now earlier than {earliest}.")
        if amz_date[:8] != match["date"]:
            raise AuthFailure(
                403, f"Date in Credential scope does not match YYYYMMDD from X-Amz-Date. {_MISMATCH}"
            )
        plain = {name: values[0] for name, values in by_name.items()}
        plain_case = {
            ("X-Amz-Security-Token" if k == "x-amz-security-token" else k): v for k, v in plain.items()
        }
        found = local_iam.signer_for(match["key"], plain_case, self.account_id)
        if found is None:
            raise AuthFailure(403, _UNKNOWN_KEY)
        principal, credentials = found
        declared = by_name.get("x-amz-content-sha256")
        if declared and declared[0] != hashlib.sha256(body).hexdigest():
            raise AuthFailure(403, _MISMATCH)  # the body is not the one signed
        expected = _signature(credentials, self.region, method, target, by_name, signed, body, amz_date)
        if not hmac.compare_digest(expected, match["signature"]):
            raise AuthFailure(403, _MISMATCH)
        path = target.split("?", 1)[0]
        resource = self.method_arn(method, path)
        verdict = local_iam.evaluate(principal.documents, "execute-api:Invoke", resource)
        if verdict != "allow":
            raise AuthFailure(
                403,
                local_iam.denial_message(principal.arn, "execute-api:Invoke", resource, verdict),
            )
        return {
            "accountId": self.account_id,
            "accessKey": match["key"],
            "caller": principal.arn.rsplit("/", 1)[-1],
            "user": principal.arn.rsplit("/", 1)[-1],
            "userArn": principal.arn,
        }


def _signature(
    credentials: Any,
    region: str,
    method: str,
    target: str,
    headers: Mapping[str, list[str]],
    signed: list[str],
    body: bytes,
    amz_date: str,
) -> str:
    """The signature botocore's SigV4 signer computes for the request as received, over its signed headers."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    host = headers.get("host", [""])[0]
    request = AWSRequest(
        method=method,
        # http: botocore then always hashes the body into the signature (as API Gateway checks it)
        url=f"http://{host}{target}",
        data=body,
    )
    for name in signed:
        for value in headers.get(name, []):
            request.headers.add_header(name, value)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, SERVICE, region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
