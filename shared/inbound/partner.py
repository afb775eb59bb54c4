"""Events that arrive on EventBridge partner buses instead of over HTTP, turned into the same
``ProviderEvent`` the webhook path produces, so they share the normaliser and the de-duplication:

- Stripe event destinations (snapshot events): ``detail`` is the Stripe event itself (``evt_...``), so a
  Stripe event delivered by webhook and by event destination has one idempotency record.
- Salesforce Event Relay: ``detail = {"payload": {...}, "schemaId": ..., "id": <event uuid>}``. A platform
  event ``O2C_Opportunity_Won__e`` (field ``OpportunityId__c``) or Change Data Capture
  ``OpportunityChangeEvent`` with ``IsWon`` true becomes the same Opportunity notification an Outbound
  Message carries.
"""

from __future__ import annotations

from typing import Any

from shared.crm.closed_won import deal_correlation_id
from shared.ingress.pipeline import ProviderEvent

WON_PLATFORM_EVENT = "O2C_Opportunity_Won__e"
OPPORTUNITY_CDC = "OpportunityChangeEvent"


class MalformedPartnerEvent(ValueError):
    """Not an event the hub can read: it is parked (DLQ), not dropped."""


def vendor_of(event: dict[str, Any]) -> str:
    source = str(event.get("source", ""))
    if source.startswith("aws.partner/stripe.com"):
        return "stripe"
    if source.startswith("aws.partner/salesforce.com"):
        return "salesforce"
    raise MalformedPartnerEvent(f"no partner provider for source {source!r}")


def stripe_event(event: dict[str, Any]) -> ProviderEvent:
    # here, not at the top: a Salesforce event's cold start need not build Stripe's mapping and events
    from shared.inbound.stripe import CORRELATION_METADATA_KEY

    detail = event.get("detail")
    if (
        not isinstance(detail, dict)
        or not str(detail.get("id", "")).startswith("evt_")
        or "type" not in detail
    ):
        raise MalformedPartnerEvent("a Stripe event destination delivers the event as detail")
    obj = (detail.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        raise MalformedPartnerEvent(
            "thin Stripe events (no data.object) are not supported: use snapshot events"
        )
    metadata = obj.get("metadata") or {}
    return ProviderEvent(
        id=detail["id"],
        type=detail["type"],
        payload=detail,
        correlation_id=metadata.get(CORRELATION_METADATA_KEY) if isinstance(metadata, dict) else None,
    )


def salesforce_event(event: dict[str, Any]) -> ProviderEvent:
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("payload"), dict) or not detail.get("id"):
        raise MalformedPartnerEvent("a Salesforce Event Relay event carries detail.payload and detail.id")
    payload, kind = detail["payload"], str(event.get("detail-type", ""))
    if kind == WON_PLATFORM_EVENT:
        opportunity_id, won = payload.get("OpportunityId__c"), "true"
        stage = payload.get("StageName__c")
    elif kind == OPPORTUNITY_CDC:
        header = payload.get("ChangeEventHeader") or {}
        record_ids = header.get("recordIds") or [None]
        opportunity_id = record_ids[0]
        won = "true" if payload.get("IsWon") is True else "false"
        stage = payload.get("StageName")
    else:
        opportunity_id, won, stage = None, "false", None
    fields = {"Id": opportunity_id, "IsWon": won, "StageName": stage}
    return ProviderEvent(
        id=str(detail["id"]),
        type="Opportunity" if opportunity_id else kind,
        payload=fields,
        correlation_id=deal_correlation_id("salesforce", opportunity_id) if opportunity_id else None,
    )


def provider_event(event: dict[str, Any]) -> tuple[str, ProviderEvent]:
    vendor = vendor_of(event)
    return vendor, (stripe_event(event) if vendor == "stripe" else salesforce_event(event))
