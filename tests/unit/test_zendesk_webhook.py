"""Zendesk webhooks through the shared ingress path (in-process moto): signature and timestamp, malformed and
oversized bodies, unknown types, duplicates, and a ticket tagged for a refund → one ``RefundRequested``."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from localcloud.sandboxes.zendesk import zendesk_signature as sandbox_signature
from shared.idempotency import OnceOnly
from shared.inbound.signatures import zendesk as hub_signature
from shared.inbound.zendesk import ZendeskProvider
from shared.ingress.pipeline import IngressPipeline
from shared.ingress.web import WebhookRequest
from shared.publisher import EventPublisher
from tests.unit.bus_sink import Cloud

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
FIELD = "360000000777"
TICKET = {
    "id": 35436,
    "status": "open",
    "tags": ["billing", "refund_requested"],
    "custom_fields": [{"id": int(FIELD), "value": "pi_3Pq0unitREFUND"}],
}


class Tickets:
    def __init__(self, ticket: dict[str, Any]) -> None:
        self.ticket = ticket
        self.reads = 0

    def get_ticket(self, ticket_id: str | int) -> dict[str, Any]:
        self.reads += 1
        return dict(self.ticket, id=int(ticket_id))


@pytest.fixture
def cloud(aws_env: None) -> Iterator[Cloud]:
    with mock_aws():
        yield Cloud("o2c.orchestration")


def pipeline(
    cloud: Cloud, tickets: Tickets | None = None, *, max_body_bytes: int = 262_144
) -> IngressPipeline:
    provider = ZendeskProvider(
        signing_secrets=lambda: ["an-older-secret", SECRET],
        tickets=lambda: tickets or Tickets(TICKET),
        refund_tag="refund_requested",
        payment_intent_field_id=FIELD,
    )
    return IngressPipeline(
        provider,
        publisher=EventPublisher(cloud.events, "o2c-unit"),
        once_only=OnceOnly("zendesk", "idem", client=cloud.ddb),
        max_body_bytes=max_body_bytes,
    )


def tags_changed(added: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    return {
        "account_id": 24681357,
        "detail": {
            "actor_id": "8447388090494",
            "id": "35436",
            "status": "OPEN",
            "tags": ["refund_requested"],
        },
        "event": {"tags": {"added": ["refund_requested"] if added is None else added, "removed": []}},
        "id": str(uuid.uuid4()),
        "subject": "zen:ticket:35436",
        "time": "2026-12-01T20:00:00.000000000Z",
        "type": "zen:event-type:ticket.tags_changed",
        "zendesk_event_version": "2022-11-06",
        **overrides,
    }


def now_iso(offset_s: float = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed(
    body: Any, *, secret: str = SECRET, timestamp: str | None = None, signature: str | None = None
) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = timestamp or now_iso()
    return WebhookRequest(
        method="POST",
        path="/webhooks/zendesk",
        body=raw,
        headers={
            "x-zendesk-webhook-signature": signature
            if signature is not None
            else hub_signature(secret, ts, raw),
            "x-zendesk-webhook-signature-timestamp": ts,
        },
    )


def reply(
    cloud: Cloud, request: WebhookRequest, tickets: Tickets | None = None, **kw: Any
) -> tuple[int, dict[str, Any]]:
    response = pipeline(cloud, tickets, **kw).handle(request)
    return response.status, json.loads(response.body)


def test_the_hub_verifies_exactly_what_zendesk_signs() -> None:
    body, ts = b'{"id":"x"}', "2021-03-25T05:09:27Z"
    assert hub_signature(SECRET, ts, body) == sandbox_signature(SECRET, ts, body)


def test_a_ticket_tagged_for_a_refund_requests_it_once_even_when_delivered_twice(cloud: Cloud) -> None:
    tickets = Tickets(TICKET)
    event = tags_changed()

    first = reply(cloud, signed(event), tickets)
    again = reply(cloud, signed(event), tickets)  # Zendesk retries: same event id, a new signature

    assert first == (200, {"status": "accepted", "eventId": event["id"]})
    assert again == (200, {"status": "duplicate", "eventId": event["id"]})
    [published] = cloud.published()
    assert published["detail-type"] == "RefundRequested"
    data = published["detail"]["data"]
    assert data["requestId"] == "zd-35436"
    assert data["paymentIntentId"] == "pi_3Pq0unitREFUND"
    assert data["amount"] is None and data["requestedBy"] == "zendesk:8447388090494"
    assert tickets.reads == 1


def test_the_same_ticket_tagged_again_asks_for_the_same_refund_request(cloud: Cloud) -> None:
    reply(cloud, signed(tags_changed()))
    reply(cloud, signed(tags_changed()))  # another event (tag removed and added again)
    ids = {e["detail"]["data"]["requestId"] for e in cloud.published()}
    assert ids == {"zd-35436"}  # one request: RefundInitiator's Stripe idempotency key is per request id


@pytest.mark.parametrize(
    ("request_of", "status", "why"),
    [
        (lambda raw: WebhookRequest("POST", "/webhooks/zendesk", {}, raw), 401, "missing_signature"),
        (lambda raw: signed(raw, timestamp=now_iso(-301)), 401, "stale_timestamp"),
        (lambda raw: signed(raw, timestamp=now_iso(+301)), 401, "stale_timestamp"),
        (lambda raw: signed(raw, timestamp="1617945600"), 401, "malformed_signature"),
        (lambda raw: signed(raw, secret="not-the-secret"), 401, "invalid_signature"),
        (lambda raw: signed(raw, signature="ünïcode"), 401, "malformed_signature"),
    ],
)
def test_unsigned_stale_or_forged_deliveries_are_refused_with_nothing_recorded(
    cloud: Cloud, request_of: Any, status: int, why: str
) -> None:
    response = pipeline(cloud).handle(request_of(json.dumps(tags_changed()).encode()))
    assert response.status == status
    assert response.content_type.startswith("application/problem+json")
    assert json.loads(response.body)["type"].endswith("/" + why.replace("_", "-"))
    assert cloud.idempotency_records() == [] and cloud.published() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (json.dumps(tags_changed(type="ticket.tags_changed")).encode(), 400),
        (json.dumps(tags_changed(type="zen:event-type:<script>")).encode(), 400),
        (json.dumps(tags_changed(id="4111 1111 1111 1111")).encode(), 400),
        (json.dumps({k: v for k, v in tags_changed().items() if k != "detail"}).encode(), 400),
    ],
)
def test_malformed_bodies_and_unknown_types_are_a_400(cloud: Cloud, body: bytes, status: int) -> None:
    response = pipeline(cloud).handle(signed(body))
    assert response.status == status
    assert cloud.idempotency_records() == [] and cloud.published() == []


def test_an_oversized_body_is_a_413_before_anything_else(cloud: Cloud) -> None:
    big = json.dumps(tags_changed(padding="x" * 300_000)).encode()
    response = pipeline(cloud).handle(signed(big))
    assert response.status == 413
    assert cloud.published() == []


def test_events_the_hub_does_not_use_are_acknowledged_as_ignored(cloud: Cloud) -> None:
    tickets = Tickets(TICKET)
    other_tag = reply(cloud, signed(tags_changed(added=["vip"])), tickets)
    comment = reply(
        cloud, signed(tags_changed(type="zen:event-type:ticket.comment_added", event={})), tickets
    )
    assert other_tag == (200, {"status": "ignored"}) and comment == (200, {"status": "ignored"})
    assert tickets.reads == 0 and cloud.published() == []


@pytest.mark.parametrize(
    "ticket",
    [
        {**TICKET, "tags": ["billing"]},  # the agent removed the tag since
        {**TICKET, "custom_fields": [{"id": int(FIELD), "value": None}]},  # no payment named
        {**TICKET, "custom_fields": [{"id": int(FIELD), "value": "4111111111111111"}]},  # not a payment id
        {**TICKET, "status": "closed"},
    ],
)
def test_what_zendesk_does_not_confirm_requests_no_refund(cloud: Cloud, ticket: dict[str, Any]) -> None:
    status, body = reply(cloud, signed(tags_changed()), Tickets(ticket))
    assert (status, body["status"]) == (200, "ignored")
    assert cloud.published() == []
