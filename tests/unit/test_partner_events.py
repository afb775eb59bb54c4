"""Partner-bus events become the same provider events as their webhook twins."""

from __future__ import annotations

import pytest

from shared.inbound.partner import MalformedPartnerEvent, provider_event
from shared.inbound.salesforce import SalesforceProvider
from shared.inbound.stripe import StripeProvider
from tests.conftest import stripe_sample
from tests.unit.crm_fixtures import FakeCrm, opportunity


def test_stripe_event_destination_keeps_the_stripe_event_id() -> None:
    event = stripe_sample("payment_intent.succeeded")
    vendor, provider_evt = provider_event(
        {"source": "aws.partner/stripe.com/ed_61Rtest", "detail-type": event["type"], "detail": event}
    )
    assert vendor == "stripe"
    assert provider_evt.id == event["id"]  # same idempotency key as the webhook delivery
    assert StripeProvider(secrets=lambda: ()).selects(provider_evt)
    assert provider_evt.correlation_id == "corr-deal-006Dn00000DemoOpp1"


def test_thin_stripe_events_are_refused_not_dropped() -> None:
    with pytest.raises(MalformedPartnerEvent):
        provider_event({"source": "aws.partner/stripe.com/ed_1", "detail": {"id": "evt_1", "type": "x"}})


@pytest.mark.parametrize(
    ("detail_type", "payload"),
    [
        (
            "O2C_Opportunity_Won__e",
            {"OpportunityId__c": "0065g00000DemoOpAA", "CreatedDate": "2026-11-27T10:00:00Z"},
        ),
        (
            "OpportunityChangeEvent",
            {
                "ChangeEventHeader": {
                    "entityName": "Opportunity",
                    "changeType": "UPDATE",
                    "recordIds": ["0065g00000DemoOpAA"],
                },
                "IsWon": True,
                "StageName": "Closed Won",
            },
        ),
    ],
)
def test_salesforce_event_relay_won_opportunity(detail_type: str, payload: dict[str, object]) -> None:
    vendor, provider_evt = provider_event(
        {
            "source": "aws.partner/salesforce.com/00D5g000004DemoEAA/0YL1",
            "detail-type": detail_type,
            "detail": {"payload": payload, "schemaId": "abc", "id": "4ff9a2b7-event-uuid"},
        }
    )
    crm = FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA"))
    provider = SalesforceProvider(allowed_org_ids=(), opportunities=lambda: crm)
    assert vendor == "salesforce" and provider_evt.id == "4ff9a2b7-event-uuid"
    assert provider.selects(provider_evt)
    [canonical] = provider.normalise(provider_evt, provider_evt.correlation_id or "")
    assert canonical.detail_type == "OpportunityClosedWon" and crm.calls == ["0065g00000DemoOpAA"]


def test_unknown_partner_source_is_refused() -> None:
    with pytest.raises(MalformedPartnerEvent):
        provider_event({"source": "aws.partner/unknown.com/x", "detail": {}})
