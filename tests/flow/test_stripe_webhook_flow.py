"""Stripe webhooks end to end: HTTP → verify → de-duplicate → EventBridge → SQS → lineage recorder."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from o2c_cli.http import request
from o2c_cli.stripe_client import sample, send
from o2c_cli.trace import trace
from tests.flow.conftest import Hub

ID_PATTERN = re.compile(
    r'"((?:evt|pi|ch|cus|dp|in|sub|po|txn|pm|si|re)_[A-Za-z0-9]+|006Dn\w+|SO-\d+|corr-[\w-]+)"'
)


def fresh(name: str) -> dict[str, Any]:
    """A sample event whose every id is its own, so tests never see each other's events."""
    suffix = uuid.uuid4().hex[:12]
    event: dict[str, Any] = json.loads(
        ID_PATTERN.sub(lambda m: f'"{m.group(1)}{suffix}"', json.dumps(sample(name)))
    )
    event["data"]["object"].setdefault("metadata", {})["o2c_correlation_id"] = f"corr-{suffix}"
    return event


def test_accepted_payment_is_routed_and_recorded_with_its_amount(hub: Hub) -> None:
    event = fresh("payment_intent.succeeded")
    reply = send(hub.api, event, hub.stripe_secrets[:1])
    assert (reply.status, reply.json()) == (200, {"status": "accepted", "eventId": event["id"]})

    hub.settle()
    [entry] = trace(hub.target, event["data"]["object"]["id"])
    assert entry.detail_type == "PaymentCaptured"
    assert entry.data["amountReceived"] == {"amount": 125000, "currency": "USD"}
    assert entry.source_event_id == event["id"]
    assert entry.correlation_id == event["data"]["object"]["metadata"]["o2c_correlation_id"]


def test_every_used_stripe_type_becomes_its_canonical_event(hub: Hub) -> None:
    expected = {
        "payment_intent.amount_capturable_updated": "PaymentAuthorized",
        "payment_intent.payment_failed": "PaymentFailed",
        "charge.refunded": "RefundSettled",
        "charge.dispute.created": "DisputeOpened",
        "invoice.paid": "BillingInvoicePaid",
        "invoice.payment_failed": "BillingInvoicePaymentFailed",
        "customer.subscription.updated": "SubscriptionUpdated",
        "payout.paid": "PayoutPaid",
    }
    sent = {name: fresh(name) for name in expected}
    for event in sent.values():
        assert send(hub.api, event, hub.stripe_secrets[:1]).json()["status"] == "accepted"
    hub.settle()
    for name, event in sent.items():
        assert [e.detail_type for e in trace(hub.target, event["data"]["object"]["id"])] == [expected[name]]


def test_redelivery_answers_duplicate_and_books_nothing_twice(hub: Hub) -> None:
    event = fresh("charge.refunded")
    first = send(hub.api, event, hub.stripe_secrets[:1])
    again = send(hub.api, event, hub.stripe_secrets[:1])
    assert first.json()["status"] == "accepted"
    assert (again.status, again.json()) == (200, {"status": "duplicate", "eventId": event["id"]})
    hub.settle()
    assert len(trace(hub.target, event["data"]["object"]["id"])) == 1


def test_identical_deliveries_at_the_same_moment_publish_once(hub: Hub) -> None:
    event = fresh("payout.paid")
    body = json.dumps(event).encode()
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _i: send(hub.api, body, hub.stripe_secrets[:1]), range(4)))
    outcomes = sorted("409" if r.status == 409 else r.json()["status"] for r in replies)
    assert outcomes.count("accepted") == 1, outcomes
    assert set(outcomes) <= {"accepted", "duplicate", "409"}
    for reply in replies:
        if reply.status == 409:
            assert reply.content_type.startswith("application/problem+json")
    hub.settle()
    assert len(trace(hub.target, event["data"]["object"]["id"])) == 1


def test_a_secret_being_rotated_out_still_verifies(hub: Hub) -> None:
    event = fresh("invoice.paid")
    assert send(hub.api, event, hub.stripe_secrets[1:2]).json()["status"] == "accepted"


def test_unused_event_type_is_ignored_and_leaves_nothing(hub: Hub) -> None:
    before = hub.idempotency_record_count()
    reply = send(hub.api, fresh("customer.created"), hub.stripe_secrets[:1])
    assert (reply.status, reply.json()) == (200, {"status": "ignored"})
    assert hub.idempotency_record_count() == before


def _missing_signature(hub: Hub, body: bytes) -> Any:
    return request("POST", f"{hub.api}/webhooks/stripe", body, {"Content-Type": "application/json"})


BAD_INPUT = {
    "missing signature": (lambda hub, body: _missing_signature(hub, body), 401),
    "wrong signature": (lambda hub, body: send(hub.api, body, ["whsec_not_ours"]), 401),
    "stale signature": (
        lambda hub, body: send(hub.api, body, hub.stripe_secrets[:1], timestamp=int(time.time()) - 301),
        401,
    ),
    "malformed JSON": (lambda hub, body: send(hub.api, body[:-7], hub.stripe_secrets[:1]), 400),
    "not an event": (lambda hub, body: send(hub.api, b'{"hello": "world"}', hub.stripe_secrets[:1]), 400),
    "body over the limit": (
        lambda hub, body: send(hub.api, body + b" " * 262_144, hub.stripe_secrets[:1]),
        413,
    ),
    "unknown route": (lambda hub, body: request("POST", f"{hub.api}/webhooks/stripe-v2", body), 404),
    "wrong method": (lambda hub, body: request("PUT", f"{hub.api}/webhooks/stripe", body), 405),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_gets_a_clear_4xx_and_leaves_nothing_behind(hub: Hub, case: str) -> None:
    send_bad, status = BAD_INPUT[case]
    event = fresh("payment_intent.succeeded")
    before = hub.idempotency_record_count()

    reply = send_bad(hub, json.dumps(event).encode())

    assert reply.status == status
    assert reply.content_type.startswith("application/problem+json")
    assert reply.json()["status"] == status and reply.json()["title"]
    assert hub.idempotency_record_count() == before
    hub.settle()
    assert trace(hub.target, event["data"]["object"]["id"]) == []


def test_no_log_line_holds_a_secret_a_signature_a_body_or_card_data(hub: Hub) -> None:
    declined = fresh("payment_intent.payment_failed")
    send(hub.api, declined, hub.stripe_secrets[:1])
    send(hub.api, declined, ["whsec_not_ours"])
    hub.settle()

    logs = hub.logs()
    assert "webhook event accepted" in logs  # the logs are really there
    for secret in hub.stripe_secrets:
        assert secret not in logs
    # card details the declined payment's webhook carries (brand, last4, fingerprint) never reach a log
    for forbidden in (
        "whsec_",
        "v1=",
        "Stripe-Signature",
        '"livemode"',
        "last4",
        '"9995"',
        "fingerprint",
        "exp_year",
    ):
        assert forbidden not in logs, forbidden
    # and the correlation id travelled from the webhook into the log lines
    assert declined["data"]["object"]["metadata"]["o2c_correlation_id"] in logs
