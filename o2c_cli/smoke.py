"""``o2c smoke``: a signed webhook through a stage's public front door, as Stripe sends it.

Two deliveries to ``<public URL>/webhooks/stripe``, what the deploy pipeline runs after each deployment:

1. a Stripe ``customer.created`` event (a real Stripe type the hub does not use), signed the way Stripe signs
   (``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the endpoint's signing
   secret, read from the stage's ``StripeWebhookSecret`` as the function reads it). The hub must answer 200
   ``ignored``: the request crossed WAF, API Gateway and the function, the function read its secret and
   verified the signature, and nothing was published or stored (an unused type costs no I/O), so the
   smoke is safe on a production stage;
2. the same body signed with a secret the stage does not hold: the hub must refuse it with 401.

The signature is computed here from Stripe's published scheme, not with the hub's own code, so a bug in
the hub's verifier cannot make the smoke pass. The stage is the local cloud or ``--stack``; the AWS calls
are doctor's (the stage's functions' environment, its secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from o2c_cli.targets import TargetError

#: The AWS actions of ``o2c smoke --stack`` (after resolving the stack: targets.py): what doctor reads.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "smoke": (
        ("run",),
        frozenset(
            {
                "cloudformation:DescribeStacks",
                "cloudformation:ListStackResources",
                "lambda:GetFunctionConfiguration",
                "secretsmanager:GetSecretValue",
            }
        ),
    ),
}

#: A Stripe event type the hub does not map (shared/inbound/stripe.py MAPPINGS): answered ``ignored``.
SMOKE_EVENT_TYPE = "customer.created"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe sends (https://docs.stripe.com/webhooks#verify-manually)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def smoke_event(now: int, api_version: str | None = None) -> dict[str, Any]:
    """A test-mode ``customer.created`` event shaped as Stripe delivers one."""
    tag = secrets.token_hex(8)
    return {
        "id": f"evt_o2csmoke{tag}",
        "object": "event",
        "api_version": api_version,
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": SMOKE_EVENT_TYPE,
        "data": {"object": {"id": f"cus_o2csmoke{tag}", "object": "customer", "metadata": {}}},
    }


def _post(url: str, body: bytes, signature: str, timeout_s: float) -> tuple[int, Any, float]:
    from o2c_cli.http import request

    started = time.monotonic()
    reply = request(
        "POST",
        url,
        body,
        {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature},
        timeout=timeout_s,
    )
    elapsed_ms = (time.monotonic() - started) * 1000
    try:
        payload = reply.json()
    except ValueError:
        payload = reply.text[:200]
    return reply.status, payload, elapsed_ms


def smoke(url: str, signing_secrets: list[str], *, timeout_s: float = 30) -> list[Check]:
    """The two deliveries against ``url`` (the stage's ``/webhooks/stripe``)."""
    import stripe

    now = int(time.time())
    # the API version the hub's Stripe SDK speaks, which its endpoints are pinned to (doctor checks that)
    body = json.dumps(smoke_event(now, str(stripe.api_version)), separators=(",", ":")).encode()
    status, payload, ms = _post(url, body, stripe_signature(body, signing_secrets[0], now), timeout_s)
    answered = payload.get("status") if isinstance(payload, dict) else None
    checks = [
        Check(
            "signed delivery",
            status == 200 and answered == "ignored",
            f"{status} {answered if answered else repr(payload)[:120]} in {ms:.0f} ms"
            + ("" if status == 200 else " (expected 200 ignored: the signature or the front door is wrong)"),
        )
    ]
    forged = "whsec_" + secrets.token_hex(16)
    status, payload, ms = _post(url, body, stripe_signature(body, forged, now), timeout_s)
    # the hub's refusal is application/problem+json: its ``type`` URI ends with the reason
    reason = str(payload.get("type", "")).rsplit("/", 1)[-1] if isinstance(payload, dict) else None
    checks.append(
        Check(
            "forged delivery",
            status == 401,
            f"{status} {reason or ''} in {ms:.0f} ms".replace("  ", " ")
            + ("" if status == 401 else " (expected 401: the stage accepts what it should refuse)"),
        )
    )
    return checks


def run(stack: str | None, region: str | None) -> int:
    from o2c_cli.doctor import stage_for

    try:
        stage = stage_for(stack, region)
    except TargetError as exc:
        print(f"o2c smoke: {exc}")
        return 1
    value = stage.secrets.get("StripeWebhookSecret")
    active = value.get("secrets") if isinstance(value, dict) else None
    if not active or not all(isinstance(s, str) and s for s in active):
        unreadable = f" ({type(value).__name__})" if isinstance(value, Exception) else ""
        print(
            f"o2c smoke: stage {stage.name}: StripeWebhookSecret holds no signing secret{unreadable}; "
            "set it first (`o2c doctor` says how)"
        )
        return 1
    if not stage.public_url:
        print(f"o2c smoke: stage {stage.name} has no public URL (ApiUrl output or PUBLIC_BASE_URL)")
        return 1
    url = f"{stage.public_url}/webhooks/stripe"
    checks = smoke(url, [str(s) for s in active])
    print(f"o2c smoke: stage {stage.name} ({url})")
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} ok, {len(failed)} failing")
    return 1 if failed else 0
