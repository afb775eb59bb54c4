"""The sandboxes' webhooks are the vendors' real shapes: a HubSpot v3-signed JSON array like
events/hubspot/deal_closed_won.json, a Salesforce Outbound Message like events/salesforce/outbound_message.xml.
A tiny receiver stands in for the hub and checks them as the hub will."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from localcloud.sandboxes import HubSpotSandbox, SalesforceSandbox
from shared.inbound.signatures import hubspot_v3
from tests.connectors.conftest import HUBSPOT_CLIENT_SECRET, SF_ORG_ID, Receiver, control

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OM = "{http://soap.sforce.com/2005/09/outbound}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def assert_hubspot_v3_valid(delivery_headers: dict[str, str], uri: str, body: bytes) -> int:
    """What the hub does: recompute the v3 signature over the full URI and check the 5-minute window."""
    timestamp = delivery_headers["X-HubSpot-Request-Timestamp"]
    expected = hubspot_v3(HUBSPOT_CLIENT_SECRET, "POST", uri, body, timestamp)
    assert delivery_headers["X-HubSpot-Signature-v3"] == expected
    assert abs(time.time() * 1000 - int(timestamp)) < 300_000
    return int(timestamp)


def small_deal(hubspot: HubSpotSandbox) -> str:
    return hubspot.create_deal(
        "Acme",
        "100.00",
        "EUR",
        company={"name": "Acme"},
        contacts=[],
        line_items=[{"name": "x", "quantity": 1, "price": "100"}],
    )


def test_hubspot_win_posts_a_signed_closed_won_delivery(hubspot: HubSpotSandbox, receiver: Receiver) -> None:
    # Given a deal, and a hub endpoint whose URL carries a query string (signed as sent)
    hubspot.webhook_url = f"{receiver.url}/webhooks/hubspot?app=o2c"
    deal_id = small_deal(hubspot)

    # When the deal is won
    status, body = hubspot.win(deal_id)

    # Then the hub answered, and got one correctly signed delivery shaped like the sample
    assert (status, json.loads(body)) == (200, {"status": "accepted"})
    [delivery] = receiver.received
    assert delivery.path == "/webhooks/hubspot?app=o2c"
    assert delivery.headers["Content-Type"] == "application/json"
    assert_hubspot_v3_valid(delivery.headers, hubspot.webhook_url, delivery.body)
    [event] = json.loads(delivery.body)
    [sample] = json.loads((EVENTS / "hubspot" / "deal_closed_won.json").read_text())
    assert event.keys() == sample.keys()
    assert {k: type(v) for k, v in event.items()} == {k: type(v) for k, v in sample.items()}
    assert event["objectId"] == int(deal_id)
    assert (event["subscriptionType"], event["propertyName"], event["propertyValue"]) == (
        "deal.propertyChange",
        "dealstage",
        "closedwon",
    )
    assert (event["portalId"], event["appId"]) == (62515, 1160452)
    assert abs(event["occurredAt"] - time.time() * 1000) < 60_000
    # and the deal is closed won in HubSpot
    assert hubspot.deal(deal_id)["properties"]["dealstage"] == "closedwon"


def test_hubspot_redelivery_is_the_same_body_signed_anew(hubspot: HubSpotSandbox, receiver: Receiver) -> None:
    # Given a delivered win
    hubspot.win(small_deal(hubspot))

    # When HubSpot retries it (over the control endpoint, as the demo would)
    answer = control(hubspot.url, "POST", "/_sandbox/redeliver")

    # Then the same bytes arrive with a fresh, valid signature
    assert answer["status"] == 200
    first, second = receiver.received
    assert second.body == first.body
    ts_first = assert_hubspot_v3_valid(first.headers, hubspot.webhook_url, first.body)
    ts_second = assert_hubspot_v3_valid(second.headers, hubspot.webhook_url, second.body)
    assert ts_second >= ts_first


def test_hubspot_event_ids_are_unique_and_arbitrary_arrays_can_be_sent(
    hubspot: HubSpotSandbox, receiver: Receiver
) -> None:
    # Given two deals won over the control endpoints, then a hand-made two-event delivery
    ids = [
        control(hubspot.url, "POST", f"/_sandbox/deals/{small_deal(hubspot)}/win")["status"] for _ in range(2)
    ]
    events = [
        {"eventId": hubspot.next_event_id(), "subscriptionType": "deal.creation", "objectId": 1},
        {"eventId": hubspot.next_event_id(), "subscriptionType": "deal.deletion", "objectId": 2},
    ]
    answer = control(hubspot.url, "POST", "/_sandbox/deliver", {"events": events})

    # Then every delivery was answered and signed, and no eventId repeats
    assert ids == [200, 200] and answer["status"] == 200
    event_ids = [e["eventId"] for d in receiver.received for e in json.loads(d.body)]
    assert len(event_ids) == 4 and len(set(event_ids)) == 4
    for delivery in receiver.received:
        assert_hubspot_v3_valid(delivery.headers, hubspot.webhook_url, delivery.body)


def test_salesforce_win_posts_an_outbound_message_like_the_sample(
    salesforce: SalesforceSandbox, receiver: Receiver
) -> None:
    # Given an opportunity, and a hub that acknowledges Outbound Messages
    receiver.body, receiver.content_type = ACK, "text/xml; charset=utf-8"
    opp_id = salesforce.create_opportunity(
        "Acme", "1234.50", "EUR", account={"Name": "Acme"}, contacts=[], line_items=[]
    )

    # When it is won (over the control endpoint)
    answer = control(salesforce.url, "POST", f"/_sandbox/opportunities/{opp_id}/win")

    # Then the hub's Ack came back, and the message has the sample's structure and this deal's fields
    assert answer["status"] == 200 and "<Ack>true</Ack>" in answer["body"]
    [delivery] = receiver.received
    assert delivery.path == "/webhooks/salesforce"
    assert delivery.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert delivery.headers["SOAPAction"] == '""'
    root = ET.fromstring(delivery.body)  # noqa: S314 - our own sandbox's message, in a test
    sample = ET.parse(EVENTS / "salesforce" / "outbound_message.xml").getroot()  # noqa: S314 - repo sample
    assert [e.tag for e in root.iter()] == [e.tag for e in sample.iter()]
    notifications = root.find(f"{SOAP}Body/{OM}notifications")
    assert notifications is not None
    assert notifications.findtext(f"{OM}OrganizationId") == SF_ORG_ID
    assert notifications.findtext(f"{OM}ActionId", "").startswith("04k")
    session = notifications.find(f"{OM}SessionId")
    # "Send Session ID" ticked: a session of the org ("{org id}!..."), as in Salesforce's sample
    assert session is not None and session.get(f"{XSI}nil") is None
    assert (session.text or "").startswith(SF_ORG_ID[:15] + "!")
    [notification] = notifications.findall(f"{OM}Notification")
    notification_id = notification.findtext(f"{OM}Id", "")
    assert notification_id.startswith("04l") and len(notification_id) == 18
    sobject = notification.find(f"{OM}sObject")
    assert sobject is not None and sobject.get(f"{XSI}type") == "sf:Opportunity"
    fields = {child.tag.removeprefix(SF): child.text for child in sobject}
    stored = salesforce.opportunity(opp_id)
    assert fields == {
        "Id": opp_id,
        "AccountId": stored["account"]["Id"],
        "Amount": "1234.5",
        "CurrencyIsoCode": "EUR",
        "IsWon": "true",
        "StageName": "Closed Won",
        "LastModifiedDate": fields["LastModifiedDate"],
    }
    assert fields["LastModifiedDate"] is not None and fields["LastModifiedDate"].endswith("Z")
    assert stored["fields"]["IsWon"] is True


def test_salesforce_redelivers_the_same_notification(
    salesforce: SalesforceSandbox, receiver: Receiver
) -> None:
    # Given a won opportunity whose message was delivered, and a second win of another one
    opp_id = salesforce.create_opportunity("A", "1", "USD", account={"Name": "A"}, contacts=[], line_items=[])
    salesforce.win(opp_id)

    # When Salesforce retries the message
    status, _ = salesforce.redeliver_last()

    # Then the very same notification Id arrives again (the hub de-duplicates on it)
    assert status == 200
    first, second = receiver.received
    assert first.body == second.body


def test_control_endpoints_answer_404_for_unknown_records(
    hubspot: HubSpotSandbox, salesforce: SalesforceSandbox
) -> None:
    # Given no such records, When asked over HTTP, Then 404 with a JSON error
    import urllib.error

    for url, path in (
        (hubspot.url, "/_sandbox/deals/1/win"),
        (salesforce.url, "/_sandbox/opportunities/006000000000000AAA/win"),
    ):
        with pytest.raises(urllib.error.HTTPError) as raised:
            control(url, "POST", path)
        assert raised.value.code == 404
