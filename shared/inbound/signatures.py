"""Signature schemes of the providers, as pure functions (the providers verify with them; the sandboxes,
the demo and the tests sign with them)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def hubspot_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp_ms: int | str) -> str:
    """HubSpot v3: base64(HMAC-SHA256(client_secret, method + uri + body + timestamp))."""
    message = method.upper().encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(client_secret.encode(), message, hashlib.sha256).digest()).decode()


def standard_webhooks_v1(secret: str, msg_id: str, timestamp_s: int | str, body: bytes) -> str:
    """Standard Webhooks v1: ``v1,`` + base64(HMAC-SHA256(base64-decoded secret, "{id}.{ts}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def zendesk(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk webhooks: base64(HMAC-SHA256(signing secret, timestamp + body)), the timestamp as sent in
    ``X-Zendesk-Webhook-Signature-Timestamp``."""
    message = timestamp.encode() + body
    return base64.b64encode(hmac.new(signing_secret.encode(), message, hashlib.sha256).digest()).decode()
