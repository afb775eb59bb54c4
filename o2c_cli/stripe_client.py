"""Sends signed Stripe webhooks to the hub, as Stripe does (demo, tests, benchmarks)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from o2c_cli.http import Reply, request
from shared.inbound.stripe import signature_header

SAMPLES = Path(__file__).resolve().parents[1] / "events" / "stripe"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def send(
    api_url: str,
    event: dict[str, Any] | bytes,
    secrets: Sequence[str],
    *,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    t = int(time.time()) if timestamp is None else timestamp
    sent_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, secrets, t),
        **(headers or {}),
    }
    return request("POST", f"{api_url}/webhooks/stripe", body, sent_headers)
