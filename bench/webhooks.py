"""The webhook providers the benchmarks drive, one ``WebhookCase`` each.

A case knows how to make realistic, unique deliveries for its provider (from the samples under
``events/<provider>/``), how the provider signs them, and what the *floor* of handling one is: verifying
the signature and parsing the body, the least any correct handler must do. Every webhook function of
``infra/topology.py`` has a case: Stripe, the ERP (Standard Webhooks), HubSpot and Salesforce. The cold
starts (``bench/coldstart.py``) measure every case; the warm, AWS-call and throughput benchmarks measure
the cases with ``all_benches`` (Stripe's).

HubSpot and Salesforce re-read the deal from the CRM before publishing (a signed webhook is no proof of the
deal's state): their cases ``prepare`` a won deal in the bench cloud's CRM sandbox and deliver its
notification, and their cold-start floor also replays the CRM requests the function made (``vendor_reads``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.floor_calls import lock_publish_complete
from infra.topology import (
    ERP_WEBHOOK,
    ERP_WEBHOOK_SECRET,
    HUBSPOT_CREDENTIALS,
    HUBSPOT_WEBHOOK,
    SALESFORCE_CREDENTIALS,
    SALESFORCE_WEBHOOK,
    STRIPE_WEBHOOK,
    STRIPE_WEBHOOK_SECRET,
    ZENDESK_CREDENTIALS,
    ZENDESK_WEBHOOK,
    FunctionSpec,
)

if TYPE_CHECKING:
    from bench.cloud import BenchCloud

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "events"

Headers = dict[str, str]


@dataclass(frozen=True)
class WebhookCase:
    provider: str
    function: FunctionSpec
    #: The topology secret holding the active signing secrets (``{"secrets": [...]}``).
    secret_id: str
    #: ``n`` unique deliveries the hub accepts (``tag`` keeps ids unique across runs): body bytes.
    accepted_bodies: Callable[[int, str], list[bytes]]
    #: One delivery of an event type the hub does not use.
    ignored_body: Callable[[str], bytes]
    #: The headers the provider sends with ``body``, signed with every active secret at ``timestamp``.
    signed_headers: Callable[[bytes, Sequence[str], int], Headers]
    #: The floor: verify the signature and parse the body, nothing else.
    floor: Callable[[bytes, Headers, Sequence[str]], Any]
    #: The provider's id of a parsed delivery (what a correct handler de-duplicates on).
    event_id: Callable[[Any], str] = lambda event: str(event["id"])
    #: Module of the by-the-docs peer handler for this provider (``bench/peer/``), if there is one.
    peer_module: str | None = None
    #: The key of the signing secrets in the topology secret (``{"secrets": [...]}`` unless said otherwise).
    secrets_field: str = "secrets"
    #: Sets up what the deliveries name in the bench cloud (a won deal in a CRM sandbox, the URL signed);
    #: called once in the benchmark's process before any delivery is built.
    prepare: Callable[[BenchCloud], None] | None = None
    #: The function reads from the vendor's API before it publishes: its cold-start floor makes the same
    #: HTTP requests (recorded from the function's own cold start) with a bare ``urllib3.PoolManager``.
    vendor_reads: bool = False
    #: Whether the reply to an accepted delivery says it was accepted (by default the hub's JSON reply).
    accepted: Callable[[dict[str, Any]], bool] | None = None
    #: Measured by every webhook benchmark (warm, AWS calls); else by the cold starts only.
    all_benches: bool = False


# -- Stripe ----------------------------------------------------------------------------------------------


def _stripe_samples() -> list[dict[str, Any]]:
    from shared.inbound.stripe import MAPPINGS

    samples = [json.loads(p.read_text()) for p in sorted((SAMPLES / "stripe").glob("*.json"))]
    return [s for s in samples if s["type"] in MAPPINGS]


def _stripe_unique(template: dict[str, Any], tag: str, suffix: str) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event["id"] = f"evt_bench{tag}x{suffix}"
    obj = event["data"]["object"]
    obj["id"] = f"{obj['id']}_{tag}x{suffix}"
    metadata = obj.get("metadata") or {}
    if metadata.get("o2c_correlation_id"):
        metadata["o2c_correlation_id"] = f"{metadata['o2c_correlation_id']}-{tag}x{suffix}"
    return event


def stripe_accepted_bodies(n: int, tag: str) -> list[bytes]:
    samples = _stripe_samples()
    return [json.dumps(_stripe_unique(samples[i % len(samples)], tag, f"{i:06d}")).encode() for i in range(n)]


def stripe_ignored_body(tag: str) -> bytes:
    template = json.loads((SAMPLES / "stripe" / "customer.created.json").read_text())
    return json.dumps(_stripe_unique(template, tag, "ignored")).encode()


def stripe_signed_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> Headers:
    from shared.inbound.stripe import signature_header

    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": signature_header(body, secrets, timestamp),
    }


def stripe_floor(body: bytes, headers: Headers, secrets: Sequence[str]) -> Any:
    """HMAC-SHA256 of ``"{t}.{body}"`` compared in constant time with the first ``v1``, then json.loads."""
    items = dict(part.split("=", 1) for part in headers["Stripe-Signature"].split(",")[:2])
    expected = hmac.new(secrets[0].encode(), items["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, items["v1"]):
        raise ValueError("floor: signature mismatch")
    return json.loads(body)


STRIPE = WebhookCase(
    provider="stripe",
    function=STRIPE_WEBHOOK,
    secret_id=STRIPE_WEBHOOK_SECRET.id,
    accepted_bodies=stripe_accepted_bodies,
    ignored_body=stripe_ignored_body,
    signed_headers=stripe_signed_headers,
    floor=stripe_floor,
    peer_module="bench.peer.stripe_handler",
    all_benches=True,
)

#: What ``prepare`` set up in the bench cloud, by provider (the benchmark's own process only).
PREPARED: dict[str, dict[str, str]] = {}


# -- ERP (Standard Webhooks v1) ----------------------------------------------------------------------------


def _erp_samples() -> list[dict[str, Any]]:
    from shared.inbound.erp import MAPPINGS

    samples = [json.loads(p.read_text()) for p in sorted((SAMPLES / "erp").glob("*.json"))]
    return [s for s in samples if s["type"] in MAPPINGS]


def _erp_unique(template: dict[str, Any], tag: str, suffix: str) -> dict[str, Any]:
    """A sample with its record ids made unique (the ERP's ids are per record; the webhook id is derived
    from the body, stable across retries as the ERP's is)."""
    event = copy.deepcopy(template)
    data = event["data"]
    for key, value in list(data.items()):
        if key.endswith("Id") and key not in ("customerId", "subsidiaryId", "opportunityId", "correlationId"):
            data[key] = f"{value}{tag}{suffix}"[:64]
    return event


def erp_accepted_bodies(n: int, tag: str) -> list[bytes]:
    samples = _erp_samples()
    return [json.dumps(_erp_unique(samples[i % len(samples)], tag, f"{i:06d}")).encode() for i in range(n)]


def erp_ignored_body(tag: str) -> bytes:
    """An ERP event type the hub maps to nothing (a vendor bill): answered 200 ``ignored``."""
    event = {
        "type": "vendor_bill.created",
        "timestamp": "2026-11-27T10:30:00+00:00",
        "data": {"vendorBillId": f"vb-{tag}", "amount": "10.00", "currency": "USD"},
    }
    return json.dumps(event).encode()


def erp_message_id(body: bytes) -> str:
    """``webhook-id``: one per message, the same on every retry of it."""
    return "msg_" + hashlib.sha256(body).hexdigest()[:32]


def erp_signed_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> Headers:
    from shared.inbound.signatures import standard_webhooks_v1

    msg_id = erp_message_id(body)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_webhooks_v1(s, msg_id, timestamp, body) for s in secrets),
    }


def erp_floor(body: bytes, headers: Headers, secrets: Sequence[str]) -> Any:
    """base64(HMAC-SHA256(base64-decoded secret, ``"{id}.{ts}.{body}"``)) compared in constant time with the
    first ``v1,`` signature, then json.loads; the event id is the ``webhook-id`` header."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    key = base64.b64decode(secrets[0].removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    offered = headers["webhook-signature"].split()[0].partition(",")[2]
    if not hmac.compare_digest(base64.b64encode(mac).decode(), offered):
        raise ValueError("floor: signature mismatch")
    return {"id": msg_id, "event": json.loads(body)}


ERP = WebhookCase(
    provider="erp",
    function=ERP_WEBHOOK,
    secret_id=ERP_WEBHOOK_SECRET.id,
    accepted_bodies=erp_accepted_bodies,
    ignored_body=erp_ignored_body,
    signed_headers=erp_signed_headers,
    floor=erp_floor,
)


# -- HubSpot (app webhooks, signature v3) ------------------------------------------------------------------


def hubspot_prepare(cloud: BenchCloud) -> None:
    """A deal as a user enters it in the HubSpot sandbox (its company, a contact and a line item), moved to
    the closed-won stage: what the webhook's re-read finds."""
    sandbox = cloud.sandboxes["hubspot"]
    deal_id = sandbox.create_deal(
        name="Bench Cold Start",
        amount="24000.00",
        currency="EUR",
        company={
            "name": "Bench Cold Start GmbH",
            "address": "Hauptstrasse 1",
            "city": "Munich",
            "zip": "80331",
            "country": "DE",
        },
        contacts=[{"email": "ap@bench-cold-start.example"}],
        line_items=[{"name": "Platform", "quantity": 1, "price": "24000.00", "hs_sku": "PLAT-1"}],
    )
    sandbox.win(deal_id)  # moves the deal; its own delivery meets no function in the bench cloud
    PREPARED["hubspot"] = {
        "deal_id": str(deal_id),
        "uri": cloud.settings["PUBLIC_BASE_URL"].rstrip("/") + str(HUBSPOT_WEBHOOK.route.path),  # type: ignore[union-attr]
    }


def _hubspot_event(tag: str, suffix: int, stage: str) -> dict[str, Any]:
    (template,) = json.loads((SAMPLES / "hubspot" / "deal_closed_won.json").read_text())
    event = dict(template)
    # HubSpot event ids are numbers (~10 digits): unique per run (the tag) and per delivery, at most 12 digits,
    # as 13 to 19 would be refused as looking like a card number
    event["eventId"] = (int(tag, 16) % 10**6) * 10**6 + suffix
    event["objectId"] = int(PREPARED["hubspot"]["deal_id"]) if "hubspot" in PREPARED else template["objectId"]
    event["occurredAt"] = int(time.time() * 1000)
    event["propertyValue"] = stage
    return event


def hubspot_accepted_bodies(n: int, tag: str) -> list[bytes]:
    return [json.dumps([_hubspot_event(tag, i, "closedwon")]).encode() for i in range(n)]


def hubspot_ignored_body(tag: str) -> bytes:
    """The deal moved to a stage that is not closed-won: selected out, no CRM read."""
    return json.dumps([_hubspot_event(tag, 9_999_999, "contractsent")]).encode()


def hubspot_signed_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> Headers:
    from shared.inbound.signatures import hubspot_v3

    timestamp_ms = timestamp * 1000
    uri = PREPARED.get("hubspot", {}).get("uri", "https://hub.example/webhooks/hubspot")
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_v3(secrets[0], "POST", uri, body, timestamp_ms),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
    }


def hubspot_floor(body: bytes, headers: Headers, secrets: Sequence[str]) -> Any:
    """base64(HMAC-SHA256(client secret, ``POST`` + URI + body + timestamp)) compared in constant time, then
    json.loads (an array of events; the first's ``eventId`` is the id)."""
    uri = PREPARED.get("hubspot", {}).get("uri", "https://hub.example/webhooks/hubspot")
    ts = headers["X-HubSpot-Request-Timestamp"]
    mac = hmac.new(secrets[0].encode(), b"POST" + uri.encode() + body + ts.encode(), hashlib.sha256)
    if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), headers["X-HubSpot-Signature-v3"]):
        raise ValueError("floor: signature mismatch")
    events = json.loads(body)
    return {"id": events[0]["eventId"], "events": events}


HUBSPOT = WebhookCase(
    provider="hubspot",
    function=HUBSPOT_WEBHOOK,
    secret_id=HUBSPOT_CREDENTIALS.id,
    accepted_bodies=hubspot_accepted_bodies,
    ignored_body=hubspot_ignored_body,
    signed_headers=hubspot_signed_headers,
    floor=hubspot_floor,
    prepare=hubspot_prepare,
    vendor_reads=True,
)


# -- Salesforce (Outbound Messages, SOAP) ------------------------------------------------------------------


def salesforce_prepare(cloud: BenchCloud) -> None:
    """An Opportunity with its Account, a contact and a line, closed as won in the Salesforce sandbox."""
    sandbox = cloud.sandboxes["salesforce"]
    opp_id = sandbox.create_opportunity(
        name="Bench Cold Start",
        amount="24000.00",
        currency="EUR",
        account={
            "Name": "Bench Cold Start GmbH",
            "BillingStreet": "Hauptstrasse 1",
            "BillingCity": "Munich",
            "BillingPostalCode": "80331",
            "BillingCountryCode": "DE",
        },
        contacts=[{"FirstName": "Ada", "LastName": "Payable", "Email": "ap@bench-cold-start.example"}],
        line_items=[{"Name": "Platform", "ProductCode": "PLAT-1", "Quantity": 1, "UnitPrice": "24000.00"}],
    )
    sandbox.win(opp_id)  # closes it; its own Outbound Message meets no function in the bench cloud
    opp = sandbox.opportunity(opp_id)
    PREPARED["salesforce"] = {
        "opportunity_id": opp_id,
        "account_id": str(opp["fields"]["AccountId"]),
        "org_id": str(sandbox.org_id),
    }


def _salesforce_message(tag: str, suffix: str, *, won: bool) -> bytes:
    """The sample Outbound Message (``events/salesforce/outbound_message.xml``) naming the prepared
    Opportunity, with a unique Notification Id (15 + 3 characters, as Salesforce's ids)."""
    xml = (SAMPLES / "salesforce" / "outbound_message.xml").read_text()
    prepared = PREPARED.get("salesforce")
    if prepared:
        xml = xml.replace("0065g00000DemoOpAA", prepared["opportunity_id"])
        xml = xml.replace("0015g00000DemoAccAAA", prepared["account_id"])
        xml = xml.replace("00D5g000004DemoEAA", prepared["org_id"])
    notification_id = "04l" + (tag[:7] + suffix)[-12:].rjust(12, "0") + "AAA"  # unique per tag and suffix
    xml = xml.replace("04l5g00000DemoN1AA", notification_id)
    if not won:
        xml = xml.replace("<sf:IsWon>true</sf:IsWon>", "<sf:IsWon>false</sf:IsWon>")
        xml = xml.replace(
            "<sf:StageName>Closed Won</sf:StageName>", "<sf:StageName>Negotiation</sf:StageName>"
        )
    return xml.encode()


def salesforce_accepted_bodies(n: int, tag: str) -> list[bytes]:
    return [_salesforce_message(tag, f"{i:05d}", won=True) for i in range(n)]


def salesforce_ignored_body(tag: str) -> bytes:
    """An Opportunity notification that is not won (another workflow rule's): selected out."""
    return _salesforce_message(tag, "zzzzz", won=False)


def salesforce_signed_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> Headers:
    """Outbound Messages are not signed: the org id in the envelope is checked against the allow-list."""
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


def salesforce_floor(body: bytes, headers: Headers, secrets: Sequence[str]) -> Any:
    """Parse the SOAP envelope safely (defusedxml: it comes from the internet) and check its OrganizationId
    against the allow-list (the local org): Outbound Messages carry no signature."""
    from defusedxml.ElementTree import fromstring

    ns = "{http://soap.sforce.com/2005/09/outbound}"
    root = fromstring(body)
    notifications = root.find(f".//{ns}notifications")
    if notifications is None:
        raise ValueError("floor: not an Outbound Message")
    org_id = notifications.findtext(f"{ns}OrganizationId") or ""
    if org_id[:15] != PREPARED.get("salesforce", {}).get("org_id", "00D5g000004DemoEAA")[:15]:
        raise ValueError("floor: organization not allowed")
    notification = notifications.find(f"{ns}Notification")
    assert notification is not None
    return {"id": notification.findtext(f"{ns}Id"), "envelope": root}


def _salesforce_ack(response: dict[str, Any]) -> bool:
    return response.get("statusCode") == 200 and "<Ack>true</Ack>" in str(response.get("body"))


SALESFORCE = WebhookCase(
    provider="salesforce",
    function=SALESFORCE_WEBHOOK,
    secret_id=SALESFORCE_CREDENTIALS.id,
    accepted_bodies=salesforce_accepted_bodies,
    ignored_body=salesforce_ignored_body,
    signed_headers=salesforce_signed_headers,
    floor=salesforce_floor,
    prepare=salesforce_prepare,
    vendor_reads=True,
    accepted=_salesforce_ack,
)


class ServiceFloor:
    """What any correct webhook handler must do per accepted delivery, with bare boto3 clients: verify and
    parse (``case.floor``), take a conditional lock on the event id (PutItem, ``attribute_not_exists``),
    publish the event (PutEvents), mark the lock completed (UpdateItem). No logging, no metrics, no
    canonical mapping: the least work that still de-duplicates and publishes exactly once."""

    def __init__(self, case: WebhookCase, table: str, bus: str) -> None:
        import boto3

        self.case, self.table, self.bus = case, table, bus
        self.dynamodb = boto3.client("dynamodb")
        self.events = boto3.client("events")

    def __call__(self, body: bytes, headers: Headers, secrets: Sequence[str]) -> None:
        event = self.case.floor(body, headers, secrets)
        lock_publish_complete(
            self.dynamodb,
            self.events,
            table=self.table,
            bus=self.bus,
            key=f"{self.case.provider}#{self.case.event_id(event)}",
            source=f"o2c.{self.case.provider}",
            detail=body.decode(),
        )


# -- Zendesk (webhooks on ticket events) -------------------------------------------------------------------


def zendesk_prepare(cloud: BenchCloud) -> None:
    """A customer's ticket an agent tagged for a refund, with the payment in the payment field: what the
    webhook's re-read of the ticket finds. Its ``ticket.tags_changed`` payload, as the sandbox writes it, is
    the template of every delivery (each with its own event id)."""
    sandbox = cloud.sandboxes["zendesk"]
    field_id = int(cloud.settings["ZENDESK_PAYMENT_INTENT_FIELD_ID"])
    requester = sandbox.create_user("Ada Payable", "ap@bench-cold-start.example")
    ticket = sandbox.create_ticket(
        "Please refund my order",
        requester_id=requester,
        tags=["refund_requested"],
        custom_fields={field_id: "pi_3BenchColdStart0001"},
    )
    body = sandbox.tags_changed_body(ticket, added=["refund_requested"], removed=[])
    PREPARED["zendesk"] = {"template": body.decode()}


def _zendesk_event(tag: str, suffix: str, added: list[str]) -> bytes:
    event = json.loads(PREPARED["zendesk"]["template"])
    event["id"] = f"01HZBENCH{tag}{suffix}"
    event["event"] = {"tags": {"added": added, "removed": []}}
    return json.dumps(event, separators=(",", ":")).encode()


def zendesk_accepted_bodies(n: int, tag: str) -> list[bytes]:
    return [_zendesk_event(tag, f"{i:06d}", ["refund_requested"]) for i in range(n)]


def zendesk_ignored_body(tag: str) -> bytes:
    """Another tag added to the ticket: selected out, no ticket read."""
    return _zendesk_event(tag, "ignored", ["vip"])


def _zendesk_timestamp(timestamp: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zendesk_signed_headers(body: bytes, secrets: Sequence[str], timestamp: int) -> Headers:
    from shared.inbound.signatures import zendesk

    at = _zendesk_timestamp(timestamp)
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": zendesk(secrets[0], at, body),
        "X-Zendesk-Webhook-Signature-Timestamp": at,
    }


def zendesk_floor(body: bytes, headers: Headers, secrets: Sequence[str]) -> Any:
    """base64(HMAC-SHA256(signing secret, timestamp + body)) compared in constant time, then json.loads."""
    at = headers["X-Zendesk-Webhook-Signature-Timestamp"]
    mac = hmac.new(secrets[0].encode(), at.encode() + body, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(mac).decode(), headers["X-Zendesk-Webhook-Signature"]):
        raise ValueError("floor: signature mismatch")
    return json.loads(body)


ZENDESK = WebhookCase(
    provider="zendesk",
    function=ZENDESK_WEBHOOK,
    secret_id=ZENDESK_CREDENTIALS.id,
    accepted_bodies=zendesk_accepted_bodies,
    ignored_body=zendesk_ignored_body,
    signed_headers=zendesk_signed_headers,
    floor=zendesk_floor,
    secrets_field="signing_secrets",
    prepare=zendesk_prepare,
    vendor_reads=True,
)


CASES: dict[str, WebhookCase] = {case.provider: case for case in (STRIPE, ERP, HUBSPOT, SALESFORCE, ZENDESK)}
#: The cases every webhook benchmark measures (warm, AWS calls); the others are measured by the cold starts.
ALL_BENCH_CASES: dict[str, WebhookCase] = {p: case for p, case in CASES.items() if case.all_benches}
