"""The CRM connectors read whether a deal is won, and since when, from the CRM's own API (the sandboxes
answer as HubSpot's deals API and Salesforce's sObject REST API do)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from localcloud.sandboxes import HubSpotSandbox
from localcloud.sandboxes.salesforce import SalesforceSandbox
from shared.crm.closed_won import is_closed_won
from shared.outbound import InvalidRecord, NotFound
from tests.connectors.conftest import FakeSleep, hubspot_crm, salesforce_crm
from tests.connectors.test_hubspot_connector import given_acme_deal
from tests.connectors.test_salesforce_connector import given_yen_opportunity


def test_hubspot_deal_state_is_its_stage_until_won_then_dated_by_hubspot(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    deal_id = given_acme_deal(hubspot)
    crm = hubspot_crm(hubspot, fake_sleep)
    open_state = crm.fetch_deal_state(deal_id)
    assert open_state.stage == "appointmentscheduled" and not is_closed_won(open_state, {"closedwon"})

    hubspot.win(deal_id)
    won = crm.fetch_deal_state(deal_id)
    assert won.stage == "closedwon" and is_closed_won(won, {"closedwon"})
    # when HubSpot's dealstage history says the deal entered the won stage (not its typed-in closedate)
    entered = hubspot.deal(deal_id)["propertiesWithHistory"]["dealstage"][0]
    assert entered["value"] == "closedwon"
    assert won.won_at == datetime.fromisoformat(entered["timestamp"].replace("Z", "+00:00"))
    assert won.won_at != datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


def test_hubspot_unknown_or_malformed_deal_ids(hubspot: HubSpotSandbox, fake_sleep: FakeSleep) -> None:
    crm = hubspot_crm(hubspot, fake_sleep)
    with pytest.raises(NotFound):
        crm.fetch_deal_state("4242")
    with pytest.raises(InvalidRecord):
        crm.fetch_deal_state("../companies/1")


def test_salesforce_opportunity_state_is_is_won_and_last_modified(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    opp_id = given_yen_opportunity(salesforce)
    crm = salesforce_crm(salesforce, fake_sleep)
    open_state = crm.fetch_deal_state(opp_id)
    assert open_state.is_won is False and not is_closed_won(open_state, {"Closed Won"})

    before = datetime.now(UTC).replace(microsecond=0)
    salesforce.win(opp_id)
    won = crm.fetch_deal_state(opp_id)
    assert won.is_won is True and won.stage == "Closed Won"
    assert won.won_at is not None and won.won_at >= before


def test_salesforce_unknown_opportunity_is_not_found(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    with pytest.raises(NotFound):
        salesforce_crm(salesforce, fake_sleep).fetch_deal_state("006000000000000AAA")


def test_hubspot_state_and_snapshot_come_from_one_read_of_the_deal(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    """Issue 16: the win is decided and the deal booked from what HubSpot says in ONE ``GET`` of the deal
    (it takes ``propertiesWithHistory`` and ``associations`` together), plus its associated records."""
    from shared.crm.closed_won import read_state_and_opportunity

    deal_id = given_acme_deal(hubspot)
    crm = hubspot_crm(hubspot, fake_sleep)
    hubspot.clear_requests()
    state, _ = read_state_and_opportunity(crm, deal_id)
    # an open deal: one request, no associated record read
    assert not is_closed_won(state, {"closedwon"})
    assert hubspot.requests == [f"GET /crm/v3/objects/deals/{deal_id}"]

    hubspot.win(deal_id)
    hubspot.clear_requests()
    state, opportunity = read_state_and_opportunity(crm, deal_id)
    won = opportunity()
    assert is_closed_won(state, {"closedwon"}) and state.won_at is not None
    assert won.opportunityId == deal_id and won.account.name == "Acme GmbH" and len(won.lines) == 2
    assert sorted(hubspot.requests) == [
        f"GET /crm/v3/objects/deals/{deal_id}",
        "POST /crm/v3/objects/companies/batch/read",
        "POST /crm/v3/objects/contacts/batch/read",
        "POST /crm/v3/objects/line_items/batch/read",
    ]
    # the same answers as the two separate reads
    assert state == crm.fetch_deal_state(deal_id) and won == crm.fetch_opportunity(deal_id)
