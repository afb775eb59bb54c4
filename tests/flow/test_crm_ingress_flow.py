"""HubSpot and Salesforce over HTTP on the local cloud: a won deal in the CRM sandbox → signed webhook /
Outbound Message → verified, de-duplicated, deal fetched through the connector → OpportunityClosedWon."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from o2c_cli.crm_scenarios import hubspot_deal, hubspot_stage, salesforce_opportunity
from o2c_cli.http import request
from o2c_cli.trace import trace
from shared.inbound.signatures import hubspot_v3
from tests.flow.conftest import Hub


def closed_won(hub: Hub, the_id: str) -> list[dict[str, Any]]:
    return [e.data for e in trace(hub.target, the_id) if e.detail_type == "OpportunityClosedWon"]


# --- HubSpot ---------------------------------------------------------------------------------------


def test_hubspot_deal_won_becomes_a_complete_opportunity_closed_won(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)

    status, body = sandbox.win(deal_id)

    assert status == 200 and json.loads(body)["status"] == "accepted"
    hub.settle()
    [event] = closed_won(hub, deal_id)
    assert event["complete"] is True and event["missingFields"] == []
    opportunity = event["opportunity"]
    assert opportunity["amount"] == {"amount": 2856000, "currency": "EUR"}
    assert opportunity["account"]["taxId"] == "DE298765432"
    assert [line["amount"]["amount"] for line in opportunity["lines"]] == [2400000, 456000]
    assert opportunity["contacts"][0]["email"] == "ap@northwind.example"
    # tracing by the account id or the correlation id finds the same fact
    assert closed_won(hub, f"hubspot:{deal_id}") == [event]


def won_event(sandbox: Any, deal_id: str) -> dict[str, Any]:
    return {
        "eventId": sandbox.next_event_id(),
        "subscriptionId": 2881778,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": int(deal_id),
        "propertyName": "dealstage",
        "propertyValue": "closedwon",
        "changeSource": "CRM",
    }


def test_hubspot_redelivery_is_duplicate_and_a_mixed_array_publishes_only_the_new_event(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    first, second = hubspot_deal(sandbox), hubspot_deal(sandbox, name="second")
    hubspot_stage(sandbox, first)
    hubspot_stage(sandbox, second)
    first_event = won_event(sandbox, first)
    assert json.loads(sandbox.deliver([first_event])[1])["status"] == "accepted"

    status, body = sandbox.redeliver_last()
    assert status == 200 and json.loads(body)["status"] == "duplicate"

    second_event = won_event(sandbox, second)
    contact_event = {
        "eventId": sandbox.next_event_id(),
        "subscriptionType": "contact.creation",
        "objectId": 1,
        "occurredAt": int(time.time() * 1000),
    }
    status, body = sandbox.deliver([first_event, second_event, contact_event])

    assert status == 200
    results = {r["eventId"]: r["status"] for r in json.loads(body)["results"]}
    assert results == {
        str(first_event["eventId"]): "duplicate",
        str(second_event["eventId"]): "accepted",
        str(contact_event["eventId"]): "ignored",
    }
    hub.settle()
    assert len(closed_won(hub, first)) == 1 and len(closed_won(hub, second)) == 1


def test_incomplete_hubspot_account_is_published_flagged(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox, complete=False)
    assert sandbox.win(deal_id)[0] == 200
    hub.settle()
    [event] = closed_won(hub, deal_id)
    assert event["complete"] is False
    assert {"account.billingAddress.street", "account.billingAddress.country"} <= set(event["missingFields"])


def test_hubspot_api_throttling_is_ridden_out(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)
    sandbox.fail_next(429, count=1, retry_after=0.2)
    status, _ = sandbox.win(deal_id)
    assert status == 200
    hub.settle()
    assert len(closed_won(hub, deal_id)) == 1


def test_hubspot_api_down_answers_503_then_the_retry_publishes_once(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)
    sandbox.fail_next(503, count=3)  # every attempt the connector makes within one delivery
    status, _ = sandbox.win(deal_id)
    assert status == 503
    status, body = sandbox.redeliver_last()
    assert status == 200 and json.loads(body)["status"] == "accepted"
    hub.settle()
    assert len(closed_won(hub, deal_id)) == 1


def hubspot_post(hub: Hub, body: bytes, *, secret: str | None = None, ts_ms: int | None = None) -> Any:
    url = f"{hub.api}/webhooks/hubspot"
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    signature = hubspot_v3(
        secret or hub.cloud.local_json["secrets"]["hubspot_client_secret"], "POST", url, body, ts
    )
    return request(
        "POST",
        url,
        body,
        {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature,
            "X-HubSpot-Request-Timestamp": str(ts),
        },
    )


HUBSPOT_EVENT = {
    "eventId": 77,
    "subscriptionType": "deal.propertyChange",
    "objectId": 1,
    "propertyName": "dealstage",
    "propertyValue": "closedwon",
    "occurredAt": 1764238500000,
}
HUBSPOT_BAD = {
    "missing signature": (
        lambda hub: request("POST", f"{hub.api}/webhooks/hubspot", json.dumps([HUBSPOT_EVENT]).encode()),
        401,
    ),
    "wrong signature": (
        lambda hub: hubspot_post(hub, json.dumps([HUBSPOT_EVENT]).encode(), secret="not-ours"),
        401,
    ),
    "stale signature": (
        lambda hub: hubspot_post(
            hub, json.dumps([HUBSPOT_EVENT]).encode(), ts_ms=int(time.time() * 1000) - 400_000
        ),
        401,
    ),
    "malformed JSON": (lambda hub: hubspot_post(hub, b"[{"), 400),
    "over 100 events": (lambda hub: hubspot_post(hub, json.dumps([HUBSPOT_EVENT] * 101).encode()), 413),
    "body over the limit": (lambda hub: hubspot_post(hub, b"[" + b" " * 1_048_577 + b"]"), 413),
}


@pytest.mark.parametrize("case", sorted(HUBSPOT_BAD))
def test_hubspot_bad_input_is_a_4xx_and_leaves_nothing(hub: Hub, case: str) -> None:
    send, status = HUBSPOT_BAD[case]
    before = hub.idempotency_record_count()
    reply = send(hub)
    assert reply.status == status and reply.content_type.startswith("application/problem+json")
    assert hub.idempotency_record_count() == before


# --- Salesforce ------------------------------------------------------------------------------------


def test_salesforce_opportunity_won_is_acked_and_published_once(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["salesforce"]
    opportunity_id = salesforce_opportunity(sandbox)

    status, body = sandbox.win(opportunity_id)
    assert status == 200 and "<Ack>true</Ack>" in body
    status, body = sandbox.redeliver_last()
    assert status == 200 and "<Ack>true</Ack>" in body

    hub.settle()
    [event] = closed_won(hub, opportunity_id)
    assert event["crmSystem"] == "salesforce" and event["complete"] is True
    assert event["opportunity"]["amount"] == {"amount": 2400000, "currency": "EUR"}
    assert event["opportunity"]["account"]["billingAddress"]["country"] == "NL"


def soap(hub: Hub, body: bytes) -> Any:
    return request(
        "POST",
        f"{hub.api}/webhooks/salesforce",
        body,
        {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def outbound_message(org_id: str) -> bytes:
    from tests.conftest import ROOT

    xml = (ROOT / "events" / "salesforce" / "outbound_message.xml").read_text()
    return xml.replace("00D5g000004DemoEAA", org_id).encode()


SALESFORCE_BAD = {
    "unknown org": (lambda hub: soap(hub, outbound_message("00D000000000001AAA")), 401),
    "DOCTYPE": (lambda hub: soap(hub, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), 400),
    "malformed SOAP": (lambda hub: soap(hub, b"<soapenv:Envelope"), 400),
    "body over the limit": (lambda hub: soap(hub, b"<x>" + b" " * 1_048_577 + b"</x>"), 413),
}


@pytest.mark.parametrize("case", sorted(SALESFORCE_BAD))
def test_salesforce_bad_input_is_a_4xx_and_leaves_nothing(hub: Hub, case: str) -> None:
    send, status = SALESFORCE_BAD[case]
    before = hub.idempotency_record_count()
    reply = send(hub)
    assert reply.status == status and reply.content_type.startswith("application/problem+json")
    assert hub.idempotency_record_count() == before
