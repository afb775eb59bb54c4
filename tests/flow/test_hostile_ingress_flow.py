"""Over HTTP on the local cloud: forged CRM wins are acknowledged and ignored (the CRM sandbox says the
deal is not won), and a handful of hostile requests per route get a 4xx, never a 5xx."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from localcloud.sandboxes.salesforce import NOTIFICATION
from o2c_cli.crm_scenarios import hubspot_deal, salesforce_opportunity
from o2c_cli.http import request
from o2c_cli.trace import trace
from shared.inbound.signatures import standard_webhooks_v1
from shared.inbound.stripe import signature_header
from tests.conftest import ROOT, stripe_sample
from tests.flow.conftest import Hub
from tests.flow.test_crm_ingress_flow import won_event


def test_a_signed_hubspot_win_for_a_deal_hubspot_has_open_starts_nothing(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)  # in stage appointmentscheduled
    before = hub.idempotency_record_count()

    status, body = sandbox.deliver([won_event(sandbox, deal_id)])

    assert (status, json.loads(body)) == (200, {"status": "ignored"})
    hub.settle()
    assert trace(hub.target, f"hubspot:{deal_id}") == [] and trace(hub.target, deal_id) == []
    assert sandbox.deal(deal_id)["properties"]["dealstage"] == "appointmentscheduled"
    assert hub.idempotency_record_count() == before + 1  # remembered as ignored: a redelivery is too


def test_a_forged_salesforce_win_for_an_open_opportunity_is_acked_and_starts_nothing(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["salesforce"]
    opportunity_id = salesforce_opportunity(sandbox)
    forged = NOTIFICATION.format(
        notification_id="04l5g00000Forg1AAA",
        Id=opportunity_id,
        AccountId="",
        Amount="29040.0",
        CurrencyIsoCode="EUR",
        IsWon="true",
        StageName="Closed Won",
        LastModifiedDate="2026-11-27T10:15:00.000Z",
    )

    status, body = sandbox.deliver_notifications(forged)

    assert status == 200 and "<Ack>true</Ack>" in body
    hub.settle()
    assert trace(hub.target, f"salesforce:{opportunity_id}") == [] and trace(hub.target, opportunity_id) == []
    assert sandbox.opportunity(opportunity_id)["fields"]["IsWon"] is False


def _stripe(hub: Hub, body: bytes, signature: str | None = None) -> Any:
    return request(
        "POST",
        f"{hub.api}/webhooks/stripe",
        body,
        {
            "Content-Type": "application/json",
            "Stripe-Signature": signature or signature_header(body, hub.stripe_secrets),
        },
    )


def _erp(hub: Hub, payload: Any, msg_id: str = "msg_hostile_1") -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(time.time())
    secret = hub.cloud.local_json["secrets"]["erp_webhook"]
    return request(
        "POST",
        f"{hub.api}/webhooks/erp",
        body,
        {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": standard_webhooks_v1(secret, msg_id, ts, body),
        },
    )


_PI = json.dumps(stripe_sample("payment_intent.payment_failed")).encode()
_INVOICE = json.loads((ROOT / "events" / "erp" / "invoice.posted.json").read_text())
HOSTILE = {
    "stripe 400-digit timestamp": (lambda hub: _stripe(hub, _PI, "t=" + "9" * 400 + ",v1=ab"), 401),
    "stripe non-ASCII signature": (lambda hub: _stripe(hub, _PI, f"t={int(time.time())},v1=\u00e9"), 401),
    "stripe deep JSON, signed": (lambda hub: _stripe(hub, b"[" * 50_000 + b"]" * 50_000), 400),
    "stripe currency 7, signed": (
        lambda hub: _stripe(hub, _PI.replace(b'"currency": "usd"', b'"currency": 7')),
        400,
    ),
    "erp Infinity amount, signed": (
        lambda hub: _erp(hub, {**_INVOICE, "data": {**_INVOICE["data"], "amount": "Infinity"}}),
        400,
    ),
    "erp 5000-char id, signed": (lambda hub: _erp(hub, _INVOICE, "msg_" + "x" * 5000), 401),
    "hubspot 400-digit timestamp": (
        lambda hub: request(
            "POST",
            f"{hub.api}/webhooks/hubspot",
            b"[]",
            {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "9" * 400},
        ),
        401,
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_requests_are_a_4xx_problem_and_leave_nothing(hub: Hub, case: str) -> None:
    send, status = HOSTILE[case]
    before = hub.idempotency_record_count()
    reply = send(hub)
    assert reply.status == status and reply.content_type.startswith("application/problem+json")
    assert hub.idempotency_record_count() == before
