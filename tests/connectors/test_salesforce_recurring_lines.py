"""A Salesforce opportunity's recurring line items, read through Salesforce's API from the sandbox: the hub's
line custom fields (billing frequency, term) and the line's ``ServiceDate`` become the line's ``recurring``
terms; an org without those fields (no ``o2c setup crm``) is read as before, every line one-time; a value the
picklist does not hold is refused by Salesforce itself."""

from __future__ import annotations

from datetime import date

import pytest

from localcloud.sandboxes import SalesforceSandbox
from o2c_cli.crm_scenarios import salesforce_subscription_opportunity
from o2c_cli.crm_setup import salesforce_fields, salesforce_status
from shared.crm.models import Recurring
from shared.outbound import InvalidRecord
from shared.outbound.salesforce import FREQUENCIES, RECHECK_MISSING_FIELDS_S, SalesforceCrm
from tests.connectors.conftest import SF_CLIENT_ID, SF_CLIENT_SECRET, FakeSleep, salesforce_crm
from tests.connectors.test_crm_contracts import call, salesforce_token


def services_opportunity(salesforce: SalesforceSandbox) -> str:
    """An opportunity entered in an org without any of the hub's custom fields."""
    return salesforce.create_opportunity(
        "Services only",
        "24000",
        "EUR",
        account={"Name": "Contoso BV", "BillingCountryCode": "NL"},
        contacts=[{"FirstName": "Cas", "LastName": "Finance", "Email": "finance@contoso.example"}],
        line_items=[{"Name": "Seats", "ProductCode": "SEAT", "Quantity": 100, "UnitPrice": "240.00"}],
    )


def describes(salesforce: SalesforceSandbox) -> int:
    return sum(r.endswith("/sobjects/OpportunityLineItem/describe") for r in salesforce.requests)


def test_a_recurring_line_keeps_its_interval_term_and_start(salesforce: SalesforceSandbox) -> None:
    opp_id = salesforce_subscription_opportunity(salesforce, start="2026-12-01")

    opportunity = salesforce_crm(salesforce, FakeSleep()).fetch_opportunity(opp_id)

    platform, onboarding = sorted(opportunity.lines, key=lambda line: line.sku != "PLAT-Y")
    assert platform.recurring == Recurring(
        interval="year", intervalCount=1, startDate=date(2026, 12, 1), termMonths=12
    )
    assert onboarding.recurring is None


@pytest.mark.parametrize(
    ("frequency", "interval"),
    [
        ("Monthly", ("month", 1)),
        ("Quarterly", ("month", 3)),
        ("Semiannually", ("month", 6)),
        ("Annually", ("year", 1)),
        ("Every 2 Years", ("year", 2)),
        ("Every 3 Years", ("year", 3)),
    ],
)
def test_each_billing_frequency_is_a_stripe_interval(
    salesforce: SalesforceSandbox, frequency: str, interval: tuple[str, int]
) -> None:
    opp_id = salesforce_subscription_opportunity(salesforce, start="2026-12-01", frequency=frequency)

    opportunity = salesforce_crm(salesforce, FakeSleep()).fetch_opportunity(opp_id)

    [recurring] = [li.recurring for li in opportunity.lines if li.recurring]
    assert (recurring.interval, recurring.intervalCount) == interval


def test_every_value_setup_deploys_in_the_picklist_is_a_stripe_interval() -> None:
    [spec] = [f for f in salesforce_fields() if f["FullName"].endswith(".O2C_Billing_Frequency__c")]
    deployed = [v["fullName"] for v in spec["Metadata"]["valueSet"]["valueSetDefinition"]["value"]]
    assert deployed == list(FREQUENCIES)


def test_a_term_in_part_months_is_refused(salesforce: SalesforceSandbox) -> None:
    opp_id = salesforce_subscription_opportunity(salesforce, start="2026-12-01", term_months=12.5)

    with pytest.raises(InvalidRecord, match="whole months"):
        salesforce_crm(salesforce, FakeSleep()).fetch_opportunity(opp_id)


def test_salesforce_refuses_a_billing_frequency_its_picklist_does_not_hold(
    salesforce: SalesforceSandbox,
) -> None:
    with pytest.raises(ValueError, match="restricted picklist"):
        salesforce.create_opportunity(
            "Odd",
            "100",
            "EUR",
            account={"Name": "Odd BV"},
            contacts=[],
            line_items=[{"Name": "X", "UnitPrice": "100", "O2C_Billing_Frequency__c": "Every 5 Years"}],
        )


def test_an_org_without_the_recurring_fields_books_every_line_as_one_time(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    # Given an org where o2c setup crm never ran (no custom fields at all)
    opp_id = services_opportunity(fresh_salesforce)
    crm = salesforce_crm(fresh_salesforce, FakeSleep())

    # When its opportunity is read (twice: the describe is not read again within the recheck time)
    first = crm.fetch_opportunity(opp_id)
    crm.fetch_opportunity(opp_id)

    # Then its lines are read, one-time (Salesforce refuses a SOQL naming a field the org lacks: this one
    # named none), and the org's line fields were described once
    assert [(li.sku, li.recurring) for li in first.lines] == [("SEAT", None)]
    assert describes(fresh_salesforce) == 1


def test_fields_deployed_later_are_seen_after_the_recheck_time(fresh_salesforce: SalesforceSandbox) -> None:
    # Given a process that read the org before o2c setup crm ran
    now = [0.0]
    crm = SalesforceCrm(
        fresh_salesforce.url,
        client_id=SF_CLIENT_ID,
        client_secret=lambda: SF_CLIENT_SECRET,
        clock=lambda: now[0],
    )
    crm.fetch_opportunity(services_opportunity(fresh_salesforce))

    # When the fields are deployed and a subscription sold: not seen before the recheck time, seen after
    assert all(s.ok for s in salesforce_status(crm, create=True))
    opp_id = salesforce_subscription_opportunity(fresh_salesforce, start="2026-12-01")
    assert not [li for li in crm.fetch_opportunity(opp_id).lines if li.recurring]
    now[0] += RECHECK_MISSING_FIELDS_S + 1

    # Then its recurring line is read as such
    opportunity = crm.fetch_opportunity(opp_id)
    assert [li.sku for li in opportunity.lines if li.recurring] == ["PLAT-Y"]


def test_a_line_field_deleted_in_setup_after_it_was_read_does_not_stop_the_opportunities(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    # Given an org whose admin deployed the line fields, and a process that has read them once
    crm = salesforce_crm(fresh_salesforce, FakeSleep())
    ids = {
        spec["FullName"]: crm.create_custom_field(spec["FullName"], spec["Metadata"])
        for spec in salesforce_fields()
        if spec["FullName"].startswith("OpportunityLineItem.")
    }
    crm.fetch_opportunity(services_opportunity(fresh_salesforce))

    # When the admin deletes the term field in Setup (Tooling API DELETE CustomField/{id})
    term_id = ids["OpportunityLineItem.O2C_Billing_Term_Months__c"]
    status, _ = call(
        fresh_salesforce.url,
        "DELETE",
        f"/services/data/v62.0/tooling/sobjects/CustomField/{term_id}",
        token=salesforce_token(fresh_salesforce),
    )
    assert status == 204
    opp_id = fresh_salesforce.create_opportunity(
        "Monthly",
        "100",
        "EUR",
        account={"Name": "Monthly BV"},
        contacts=[],
        line_items=[{"Name": "Plan", "UnitPrice": "100", "O2C_Billing_Frequency__c": "Monthly"}],
    )

    # Then the refused query (INVALID_FIELD) makes the connector describe the org again and ask for what is left
    [line] = crm.fetch_opportunity(opp_id).lines
    assert line.recurring == Recurring(interval="month", intervalCount=1)
    assert describes(fresh_salesforce) == 2
