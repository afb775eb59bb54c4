"""Sends ERP events signed with Standard Webhooks v1, as the ERP's outbound script does."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from o2c_cli.http import Reply, request
from shared.inbound.signatures import standard_webhooks_v1

SAMPLES = Path(__file__).resolve().parents[1] / "events" / "erp"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def send(
    api_url: str,
    event: dict[str, Any] | bytes,
    secret: str,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> Reply:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    msg = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg,
        "webhook-timestamp": str(ts),
        "webhook-signature": standard_webhooks_v1(secret, msg, ts, body),
    }
    return request("POST", f"{api_url}/webhooks/erp", body, headers)
