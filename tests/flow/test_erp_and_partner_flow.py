"""The ERP's Standard Webhooks and the partner buses (Stripe event destinations, Salesforce Event Relay)
on the local cloud: the same verification-or-trust boundary, normaliser and de-duplication."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from o2c_cli.crm_scenarios import salesforce_opportunity, salesforce_stage
from o2c_cli.erp_client import sample as erp_sample
from o2c_cli.erp_client import send as send_erp
from o2c_cli.http import request
from o2c_cli.stripe_client import send as send_stripe
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.test_stripe_webhook_flow import fresh


def erp_event(name: str) -> dict[str, Any]:
    event = erp_sample(name)
    tag = uuid.uuid4().hex[:8]
    event["data"] = {
        k: (f"{v}-{tag}" if k.endswith("Id") and isinstance(v, str) else v) for k, v in event["data"].items()
    }
    event["data"]["correlationId"] = f"erp-corr-{tag}"
    return event


def test_erp_invoice_posted_is_accepted_once(hub: Hub) -> None:
    secret = hub.cloud.local_json["secrets"]["erp_webhook"]
    event = erp_event("invoice.posted")
    msg_id = f"msg_{uuid.uuid4().hex}"

    first = send_erp(hub.api, event, secret, msg_id=msg_id)
    again = send_erp(
        hub.api, event, secret, msg_id=msg_id
    )  # the ERP's retry re-signs with the same webhook-id

    assert (first.status, first.json()) == (200, {"status": "accepted", "eventId": msg_id})
    assert again.json() == {"status": "duplicate", "eventId": msg_id}
    hub.settle()
    [entry] = trace(hub.target, event["data"]["invoiceId"])
    assert entry.detail_type == "InvoicePosted" and entry.source == "o2c.erp"
    assert entry.data["amount"] == {"amount": 2856000, "currency": "EUR"}


@pytest.mark.parametrize(
    "name",
    [
        "customer_payment.applied",
        "credit_memo.recorded",
        "customer_refund.recorded",
        "sales_order.status_changed",
        "deposit.created",
    ],
)
def test_every_erp_fact_is_routed(hub: Hub, name: str) -> None:
    event = erp_event(name)
    reply = send_erp(hub.api, event, hub.cloud.local_json["secrets"]["erp_webhook"])
    assert reply.json()["status"] == "accepted"
    hub.settle()
    assert len(trace(hub.target, event["data"]["correlationId"])) == 1


ERP_BAD = {
    "missing signature": (lambda hub, body: request("POST", f"{hub.api}/webhooks/erp", body), 401),
    "wrong secret": (lambda hub, body: send_erp(hub.api, body, "whsec_" + "QUJD" * 8), 401),
    "stale": (
        lambda hub, body: send_erp(
            hub.api, body, hub.cloud.local_json["secrets"]["erp_webhook"], timestamp=int(time.time()) - 600
        ),
        401,
    ),
    "malformed JSON": (
        lambda hub, body: send_erp(hub.api, body[:10], hub.cloud.local_json["secrets"]["erp_webhook"]),
        400,
    ),
    "body over the limit": (
        lambda hub, body: send_erp(
            hub.api, body + b" " * 262_144, hub.cloud.local_json["secrets"]["erp_webhook"]
        ),
        413,
    ),
}


@pytest.mark.parametrize("case", sorted(ERP_BAD))
def test_erp_bad_input_is_a_4xx_and_leaves_nothing(hub: Hub, case: str) -> None:
    send, status = ERP_BAD[case]
    before = hub.idempotency_record_count()
    reply = send(hub, json.dumps(erp_event("invoice.posted")).encode())
    assert reply.status == status and reply.content_type.startswith("application/problem+json")
    assert hub.idempotency_record_count() == before


def test_a_stripe_event_by_webhook_and_by_event_destination_is_one_event(hub: Hub) -> None:
    event = fresh("payment_intent.succeeded")
    assert send_stripe(hub.api, event, hub.stripe_secrets[:1]).json()["status"] == "accepted"

    hub.cloud.inject_partner_event("StripePartnerBus", event["type"], event)
    other = fresh("charge.refunded")
    hub.cloud.inject_partner_event("StripePartnerBus", other["type"], other)
    hub.settle()

    assert len(trace(hub.target, event["data"]["object"]["id"])) == 1  # not booked twice
    [refund] = trace(hub.target, other["data"]["object"]["id"])
    assert refund.detail_type == "RefundSettled" and refund.source_event_id == other["id"]
    assert hub.dlq_depth("StripePartnerIngest") == 0


def test_salesforce_event_relay_won_opportunity_becomes_opportunity_closed_won(hub: Hub) -> None:
    opportunity_id = salesforce_opportunity(hub.cloud.sandboxes["salesforce"], name="Relay deal")
    salesforce_stage(
        hub.cloud.sandboxes["salesforce"], opportunity_id
    )  # a Flow publishes the event on the win
    hub.cloud.inject_partner_event(
        "SalesforcePartnerBus",
        "O2C_Opportunity_Won__e",
        {
            "payload": {"OpportunityId__c": opportunity_id, "CreatedDate": "2026-11-27T10:00:00.000Z"},
            "schemaId": "0XSdemo",
            "id": str(uuid.uuid4()),
        },
    )
    hub.settle()
    [entry] = [e for e in trace(hub.target, opportunity_id) if e.detail_type == "OpportunityClosedWon"]
    assert entry.data["crmSystem"] == "salesforce" and entry.data["complete"] is True


def test_an_unreadable_partner_event_is_parked_in_the_dlq(hub: Hub) -> None:
    before = hub.dlq_depth("StripePartnerIngest")
    hub.cloud.inject_partner_event(
        "StripePartnerBus",
        "payment_intent.succeeded",
        {"id": "evt_thin", "type": "payment_intent.succeeded", "related_object": {}},
    )
    deadline = time.monotonic() + 60
    while hub.dlq_depth("StripePartnerIngest") == before:
        assert time.monotonic() < deadline, "the unreadable event never reached the DLQ"
        time.sleep(0.2)
