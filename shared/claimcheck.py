"""Claim checks for events too large to publish (EventBridge caps a PutEvents call at 256 KB).

The publisher writes the event's ``detail.data`` to the stage's claim-check bucket under a key derived from the
event id and publishes the event with ``data`` replaced by
``{"claimCheck": {"bucket", "key", "sha256", "bytes"}}``. ``shared.consumers`` loads it back before any
record handler runs, so consumers see the original event; ``delivered_body`` gives the body as delivered
(parking stores that, so a released event stays within the limits).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

BUCKET_ENV = "CLAIM_CHECK_BUCKET_NAME"
#: Key of the raw SQS record that keeps the body as delivered once the claim check is loaded.
_DELIVERED = "o2cDeliveredBody"


class ClaimCheckError(Exception):
    """The stored data is missing or does not match the claim check's digest."""


def key_for(event_id: str) -> str:
    # The same event stored twice (a retried publish) lands on the same key: idempotent.
    return f"events/{event_id}/data.json"


class ClaimChecks:
    def __init__(self, s3: Any, bucket: str) -> None:
        """``s3``: a client, or a function that makes one — called on the first oversized event only, so a
        webhook's cold start does not pay for an S3 client it almost never uses."""
        self._s3_client = None if callable(s3) else s3
        self._make_s3 = s3 if callable(s3) else None
        self._bucket = bucket

    @property
    def _s3(self) -> Any:
        if self._s3_client is None:
            assert self._make_s3 is not None
            self._s3_client = self._make_s3()
        return self._s3_client

    @classmethod
    def from_env(cls) -> ClaimChecks | None:
        bucket = os.environ.get(BUCKET_ENV)
        if not bucket:
            return None
        from shared.aws import client

        return cls(lambda: client("s3"), bucket)

    def store(self, event_id: str, data_json: str) -> dict[str, Any]:
        """Write ``data`` and return the claim check that replaces it."""
        body = data_json.encode()
        key = key_for(event_id)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return {
            "claimCheck": {
                "bucket": self._bucket,
                "key": key,
                "sha256": hashlib.sha256(body).hexdigest(),
                "bytes": len(body),
            }
        }


def claim_check_of(detail: Any) -> dict[str, Any] | None:
    data = detail.get("data") if isinstance(detail, dict) else None
    if isinstance(data, dict) and set(data) == {"claimCheck"} and isinstance(data["claimCheck"], dict):
        return data["claimCheck"]
    return None


def load(s3: Any, check: dict[str, Any]) -> Any:
    body = s3.get_object(Bucket=check["bucket"], Key=check["key"])["Body"].read()
    if len(body) != check["bytes"] or hashlib.sha256(body).hexdigest() != check["sha256"]:
        raise ClaimCheckError(f"claim check {check['key']} does not match its digest")
    return json.loads(body)


def resolve_body(body: str, s3: Any = None) -> str | None:
    """The EventBridge event in an SQS body with its claim-checked data loaded back, or None if it has none."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    check = claim_check_of(event.get("detail")) if isinstance(event, dict) else None
    if check is None:
        return None
    if s3 is None:
        from shared.aws import client

        s3 = client("s3")
    event["detail"] = {**event["detail"], "data": load(s3, check)}
    return json.dumps(event, separators=(",", ":"))


def resolve_record(record: Any, s3: Any = None) -> Any:
    """An SQS record whose claim-checked data is loaded back (the same record when there is none)."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    resolved = resolve_body(record.body, s3)
    if resolved is None:
        return record
    return SQSRecord({**record.raw_event, "body": resolved, _DELIVERED: record.body})


def delivered_body(record: Any) -> str:
    """The body as EventBridge delivered it (with the claim check, if any)."""
    raw = getattr(record, "raw_event", None)
    if isinstance(raw, dict) and _DELIVERED in raw:
        return str(raw[_DELIVERED])
    return str(record.body)
