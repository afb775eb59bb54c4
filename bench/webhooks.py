"""The webhook providers the benchmarks drive, one ``WebhookCase`` each.

A case knows how to make realistic, unique deliveries for its provider (from the samples under
``events/<provider>/``), how the provider signs them, and what the *floor* of handling one is: verifying
the signature and parsing the body, the least any correct handler must do. Stripe is the only provider
today; HubSpot, Salesforce and the ERP slot in by adding a case to ``CASES`` (and their function to
``infra/topology.py``), and every webhook benchmark picks them up.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.topology import STRIPE_WEBHOOK, STRIPE_WEBHOOK_SECRET, FunctionSpec

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
        import time

        event = self.case.floor(body, headers, secrets)
        key = {"id": {"S": f"{self.case.provider}#{self.case.event_id(event)}"}}
        self.dynamodb.put_item(
            TableName=self.table,
            Item={**key, "status": {"S": "IN_PROGRESS"}, "expiration": {"N": str(int(time.time()) + 3600)}},
            ConditionExpression="attribute_not_exists(id)",
        )
        self.events.put_events(
            Entries=[
                {
                    "Source": f"o2c.{self.case.provider}",
                    "DetailType": "WebhookReceived",
                    "Detail": body.decode(),
                    "EventBusName": self.bus,
                }
            ]
        )
        self.dynamodb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
        )


CASES: dict[str, WebhookCase] = {case.provider: case for case in (STRIPE,)}
