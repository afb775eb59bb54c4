"""A HubSpot deal's recurring line items, read through HubSpot's API from the sandbox: the billing frequency,
term and start date HubSpot holds become the line's ``recurring`` terms; a frequency Stripe cannot bill is
refused; a value HubSpot does not offer is refused by HubSpot itself."""

from __future__ import annotations

from datetime import date

import pytest

from localcloud.sandboxes import HubSpotSandbox
from localcloud.sandboxes.hubspot import PropertyRefused
from o2c_cli.crm_scenarios import hubspot_subscription_deal
from shared.crm.models import Recurring
from shared.outbound import InvalidRecord
from tests.connectors.conftest import FakeSleep, hubspot_crm


def test_a_recurring_line_keeps_its_interval_term_and_start(hubspot: HubSpotSandbox) -> None:
    deal_id = hubspot_subscription_deal(hubspot, start="2026-12-01")

    opportunity = hubspot_crm(hubspot, FakeSleep()).fetch_opportunity(deal_id)

    platform, onboarding = opportunity.lines
    assert platform.recurring == Recurring(
        interval="year", intervalCount=1, startDate=date(2026, 12, 1), termMonths=12
    )
    assert onboarding.recurring is None


def test_a_line_billed_every_five_years_cannot_become_a_stripe_price(hubspot: HubSpotSandbox) -> None:
    deal_id = hubspot_subscription_deal(hubspot, start="2026-12-01")
    platform_line = hubspot.deal(deal_id)["associations"]["line_items"][0]
    hubspot.update_object("line_items", platform_line, {"recurringbillingfrequency": "per_five_years"})

    with pytest.raises(InvalidRecord, match="cannot be billed by Stripe"):
        hubspot_crm(hubspot, FakeSleep()).fetch_opportunity(deal_id)


def test_hubspot_refuses_a_billing_frequency_it_does_not_offer(hubspot: HubSpotSandbox) -> None:
    with pytest.raises(PropertyRefused, match="was not one of the allowed options"):
        hubspot.create_deal(
            name="Bad frequency",
            amount="10.00",
            currency="EUR",
            company={"name": "X"},
            contacts=[],
            line_items=[
                {"name": "Plan", "quantity": 1, "price": "10.00", "recurringbillingfrequency": "yearly"}
            ],
        )
