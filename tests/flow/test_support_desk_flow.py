"""The support desk on the shared local cloud: payment facts as internal notes on the customer's Zendesk ticket
(once each, however often the fact is delivered), and a refund an agent asks for from a ticket booked once
(once in Stripe, once in NetSuite) even when Zendesk delivers the webhook twice.

Other tests share this cloud: everything here is found by this module's own customer and ticket."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.http import request
from shared.events.envelope import new_event
from shared.events.payments import PaymentFailed
from shared.money import Money
from tests.flow import q2c
from tests.flow.conftest import Hub

pytestmark = pytest.mark.flow


def wait_for(condition: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def customer(hub: Hub) -> dict[str, Any]:
    """A paid HubSpot deal whose customer has a Zendesk organization, a user and an open ticket naming the
    payment in the account's payment field (what an agent fills in)."""
    hubspot = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(hubspot, name="Support desk - annual platform")
    hubspot.win(deal_id)
    name = f"hubspot-{deal_id}"
    q2c.save_card(hub, name)
    q2c.wait_until(hub, name, status="SUCCEEDED")
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    erp_customer = intent["metadata"]["o2c_erp_customer_id"]
    zendesk = hub.cloud.sandboxes["zendesk"]
    org = zendesk.create_organization("Northwind Traders GmbH", external_id=erp_customer)
    user = zendesk.create_user(
        "Ada Payable", "ap@northwind.example", external_id=erp_customer, organization_id=org
    )
    ticket = zendesk.create_ticket(
        "Was I charged twice?",
        requester_id=user,
        organization_id=org,
        custom_fields={hub.cloud.zendesk_payment_field_id: intent["id"]},
    )
    return {"deal": deal_id, "intent": intent, "erp_customer": erp_customer, "org": org, "ticket": ticket}


def notes(hub: Hub, ticket: int, starting: str) -> list[str]:
    return [n for n in hub.cloud.sandboxes["zendesk"].notes(ticket) if n.startswith(starting)]


def test_a_failed_payment_is_one_internal_note_on_the_customers_ticket_even_when_redelivered(
    hub: Hub, customer: dict[str, Any]
) -> None:
    # Given a payment of the customer failed (the fact as the Stripe webhook publishes it)
    failed = new_event(
        PaymentFailed(
            paymentIntentId=f"pi_flowfailed{uuid.uuid4().hex[:12]}",
            amount=Money.of(120000, "EUR"),
            failureCode="card_declined",
            declineCode="insufficient_funds",
            failureMessage="Your card has insufficient funds.",
            erpCustomerId=customer["erp_customer"],
        ),
        source_system="stripe",
        correlation_id=f"flow-{uuid.uuid4().hex[:8]}",
        source_event_id=f"evt_flow_{uuid.uuid4().hex[:16]}",
    )
    entry = {"Source": failed.source, "DetailType": failed.detail_type, "Detail": failed.detail_json()}

    # When the fact reaches the bus twice (a redelivery)
    hub.put_on_bus([entry])
    wait_for(lambda: len(notes(hub, customer["ticket"], "Payment failed")) >= 1)
    hub.put_on_bus([entry])
    hub.settle()

    # Then the ticket has one internal note for it, with ids, amount and reason only
    [note] = notes(hub, customer["ticket"], "Payment failed")
    assert "1200.00 EUR" in note and "insufficient_funds" in note and failed.data.paymentIntentId in note
    assert "@" not in note and "insufficient funds." not in note  # no e-mail, no free text from Stripe
    fields = hub.cloud.sandboxes["zendesk"].organization(customer["org"])["organization_fields"]
    assert fields["o2c_payment_status"] == "payment_failed"


def test_a_refund_asked_for_from_a_ticket_is_booked_once_and_noted_once_even_when_delivered_twice(
    hub: Hub, customer: dict[str, Any]
) -> None:
    zendesk, stripe = hub.cloud.sandboxes["zendesk"], hub.cloud.sandboxes["stripe"]
    request_id = f"zd-{customer['ticket']}"

    def refunds() -> list[dict[str, Any]]:
        return [r for r in stripe.refunds() if r["metadata"].get("o2c_refund_request_id") == request_id]

    # When an agent tags the ticket for a refund, and Zendesk delivers the webhook a second time
    status, body = zendesk.request_refund(customer["ticket"])
    assert status == 200 and json.loads(body)["status"] == "accepted"
    status, body = zendesk.redeliver_last()
    assert status == 200 and json.loads(body)["status"] in {"duplicate", "accepted"}

    # Then Stripe refunds the payment once and the ERP books it once
    wait_for(lambda: len(refunds()) == 1)
    [refund] = refunds()
    assert refund["payment_intent"] == customer["intent"]["id"]
    wait_for(lambda: len(q2c.records(hub, "creditMemo", externalId=f"cm-{refund['id']}")) == 1)
    # and the booked refund is one internal note on the ticket
    wait_for(lambda: len(notes(hub, customer["ticket"], "Refund booked")) >= 1)
    zendesk.redeliver_last()
    hub.settle()
    assert len(refunds()) == 1
    assert len(q2c.records(hub, "creditMemo", externalId=f"cm-{refund['id']}")) == 1
    [note] = notes(hub, customer["ticket"], "Refund booked")
    assert refund["id"] in note
    fields = zendesk.organization(customer["org"])["organization_fields"]
    assert fields["o2c_payment_status"] == "refunded"


def test_forged_stale_or_oversized_zendesk_deliveries_are_refused_and_ask_for_no_refund(
    hub: Hub, customer: dict[str, Any]
) -> None:
    zendesk = hub.cloud.sandboxes["zendesk"]
    body = zendesk.tags_changed_body(customer["ticket"], added=["refund_requested"], removed=[])
    good = zendesk.signed_headers(body)
    url = hub.api + "/webhooks/zendesk"
    before = hub.idempotency_record_count()

    forged = request("POST", url, body, {**good, "X-Zendesk-Webhook-Signature": "Zm9yZ2Vk"})
    stale = request(
        "POST", url, body, {**good, "X-Zendesk-Webhook-Signature-Timestamp": "2021-03-25T05:09:27Z"}
    )
    unsigned = request("POST", url, body, {"Content-Type": "application/json"})
    big = b'{"pad": "' + b"x" * 300_000 + b'"}'
    oversized = request("POST", url, big, zendesk.signed_headers(big))

    assert [r.status for r in (forged, stale, unsigned, oversized)] == [401, 401, 401, 413]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in (forged, oversized))
    hub.settle()
    assert hub.idempotency_record_count() == before


def test_no_log_line_holds_the_zendesk_token_or_signing_secret(hub: Hub, customer: dict[str, Any]) -> None:
    creds = hub.cloud.res.secret_values["ZendeskCredentials"]
    hub.settle()
    logs = hub.logs()
    assert "support desk informed" in logs  # the consumer's logs are really there
    for secret in (creds["api_token"], *creds["signing_secrets"]):
        assert secret not in logs
    assert "X-Zendesk-Webhook-Signature" not in logs and "Basic " not in logs
