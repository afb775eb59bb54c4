"""SalesforceCrm over HTTP against the Salesforce sandbox: client-credentials token, sObject reads, SOQL with
paging, mapping to CrmOpportunity, errors, token refresh and write-back."""

from __future__ import annotations

from datetime import date

import pytest

from localcloud.sandboxes import SalesforceSandbox
from shared.crm.models import Address
from shared.money import Money
from shared.outbound import AuthError, InvalidRecord, NotFound, PermanentError, TransientError
from shared.outbound.salesforce import soql_literal
from tests.connectors.conftest import FakeSleep, control, salesforce_crm

KAISHA = {
    "Name": "Kaisha KK",
    "BillingStreet": "1-1 Marunouchi",
    "BillingCity": "Chiyoda-ku",
    "BillingState": "Tokyo",
    "BillingPostalCode": "100-0005",
    "BillingCountryCode": "JP",
    "Website": "https://www.kaisha.co.jp/en",
    "Tax_Id__c": "T1234567890123",
    "O2C_Region__c": "APAC",
}


def given_yen_opportunity(salesforce: SalesforceSandbox) -> str:
    return salesforce.create_opportunity(
        "Kaisha rollout",
        "50000",
        "JPY",
        account=KAISHA,
        contacts=[
            {"FirstName": "Ken", "LastName": "Sato", "Email": "ken@kaisha.co.jp", "Role": "Decision Maker"},
            {
                "FirstName": "Aiko",
                "LastName": "Ito",
                "Email": "ap@kaisha.co.jp",
                "Role": "Billing",
                "IsPrimary": True,
            },
        ],
        line_items=[
            {"Name": "Seats", "ProductCode": "SEAT", "Quantity": 4, "UnitPrice": "10000"},
            {"Name": "Setup", "ProductCode": "SETUP", "Quantity": 1, "UnitPrice": "10000"},
        ],
        close_date="2026-11-27",
    )


def test_fetches_an_opportunity_with_account_lines_and_contact_roles(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a JPY opportunity with two line items and two contact roles (paged one row per page)
    opp_id = given_yen_opportunity(salesforce)
    salesforce.win(opp_id)
    crm = salesforce_crm(salesforce, fake_sleep)

    # When the connector fetches it
    opportunity = crm.fetch_opportunity(opp_id)

    # Then the whole deal is mapped, yen in whole units (0 decimals)
    assert opportunity.crmSystem == "salesforce"
    assert opportunity.opportunityId == opp_id
    assert (opportunity.name, opportunity.stage, opportunity.closeDate) == (
        "Kaisha rollout",
        "Closed Won",
        date(2026, 11, 27),
    )
    assert opportunity.ownerId == salesforce.owner_id
    assert opportunity.amount == Money(amount=50000, currency="JPY")
    account = opportunity.account
    assert account.accountId.startswith("001") and len(account.accountId) == 18
    assert (account.name, account.taxId, account.region, account.domain, account.currency) == (
        "Kaisha KK",
        "T1234567890123",
        "APAC",
        "kaisha.co.jp",
        "JPY",
    )
    assert account.billingAddress == Address(
        street="1-1 Marunouchi", city="Chiyoda-ku", state="Tokyo", postalCode="100-0005", country="JP"
    )
    # primary contact role first
    assert [(c.email, c.firstName, c.lastName, c.role) for c in opportunity.contacts] == [
        ("ap@kaisha.co.jp", "Aiko", "Ito", "Billing"),
        ("ken@kaisha.co.jp", "Ken", "Sato", "Decision Maker"),
    ]
    seats, setup = opportunity.lines
    assert (seats.name, seats.sku, seats.quantity) == ("Seats", "SEAT", 4)
    assert seats.productId is not None and seats.productId.startswith("01t")
    assert seats.unitPrice == Money(amount=10000, currency="JPY")
    assert seats.amount == Money(amount=40000, currency="JPY")
    assert setup.amount == Money(amount=10000, currency="JPY")
    # and SOQL paging was followed
    assert sum(1 for r in salesforce.requests if "/query/" in r) == 2


def test_euro_cents_come_exactly_from_json_numbers(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a EUR opportunity of 1234.50 with a line of 3 x 411.50
    opp_id = salesforce.create_opportunity(
        "Acme",
        "1234.50",
        "EUR",
        account={**KAISHA, "BillingCountryCode": None, "BillingCountry": "Germany", "CurrencyIsoCode": "EUR"},
        contacts=[],
        line_items=[{"Name": "Widget", "Quantity": 3, "UnitPrice": "411.50"}],
    )

    # When fetched
    opportunity = salesforce_crm(salesforce, fake_sleep).fetch_opportunity(opp_id)

    # Then cents are exact, and the country falls back to BillingCountry
    assert opportunity.amount == Money(amount=123450, currency="EUR")
    assert opportunity.lines[0].amount == Money(amount=123450, currency="EUR")
    assert opportunity.account.billingAddress is not None
    assert opportunity.account.billingAddress.country == "Germany"


def test_an_expired_session_fetches_one_new_token_and_retries(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a connector that already holds a token
    opp_id = given_yen_opportunity(salesforce)
    crm = salesforce_crm(salesforce, fake_sleep)
    crm.fetch_opportunity(opp_id)
    assert salesforce.requests.count("POST /services/oauth2/token") == 1

    # When Salesforce revokes every session and the connector fetches again
    assert control(salesforce.url, "POST", "/_sandbox/tokens/expire") == {"expired": 1}
    opportunity = crm.fetch_opportunity(opp_id)

    # Then it got a second token once, retried the call, and nothing was slept
    assert opportunity.amount.amount == 50000
    assert salesforce.requests.count("POST /services/oauth2/token") == 2
    assert fake_sleep.waits == []


def test_wrong_client_secret_is_an_auth_error(salesforce: SalesforceSandbox, fake_sleep: FakeSleep) -> None:
    # Given a connector with a wrong client secret
    opp_id = given_yen_opportunity(salesforce)
    crm = salesforce_crm(salesforce, fake_sleep, secret="not-the-secret")

    # When it fetches, Then the refused token request is an AuthError carrying the OAuth error code
    with pytest.raises(AuthError) as raised:
        crm.fetch_opportunity(opp_id)
    assert raised.value.code == "invalid_client"
    assert "not-the-secret" not in str(raised.value)
    assert salesforce.requests == ["POST /services/oauth2/token"]


def test_unknown_opportunity_is_not_found(salesforce: SalesforceSandbox, fake_sleep: FakeSleep) -> None:
    # Given an id of the right shape that the org does not have, When fetched, Then NotFound
    with pytest.raises(NotFound) as raised:
        salesforce_crm(salesforce, fake_sleep).fetch_opportunity("006000000000000AAA")
    assert raised.value.code == "NOT_FOUND"


@pytest.mark.parametrize("bad_id", ["006' OR Name != '", "0065g00000", "0065g00000WaQFIAA3/../x", ""])
def test_ids_are_validated_before_any_url_or_soql_is_built(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep, bad_id: str
) -> None:
    # Given an id that is not a Salesforce id, When fetched, Then refused without a single request
    with pytest.raises(InvalidRecord):
        salesforce_crm(salesforce, fake_sleep).fetch_opportunity(bad_id)
    assert salesforce.requests == []


def test_rate_limit_with_retry_after_then_success(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given the org answers the next call 429 with Retry-After: 3
    opp_id = given_yen_opportunity(salesforce)
    salesforce.fail_next(429, retry_after=3)

    # When fetched, Then the connector waited at least 3 s (fake) and succeeded
    assert salesforce_crm(salesforce, fake_sleep).fetch_opportunity(opp_id).amount.amount == 50000
    assert fake_sleep.waits == [3.0]


def test_a_retry_after_longer_than_allowed_is_handed_to_the_caller(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given the org asks to come back in 120 s (more than the 10 s the client may wait)
    opp_id = given_yen_opportunity(salesforce)
    salesforce.fail_next(429, retry_after=120)

    # When fetched, Then no waiting here: a TransientError that carries the hint for the queue
    with pytest.raises(TransientError) as raised:
        salesforce_crm(salesforce, fake_sleep).fetch_opportunity(opp_id)
    assert raised.value.retry_after == 120
    assert fake_sleep.waits == []


def test_persistent_unavailability_is_transient(salesforce: SalesforceSandbox, fake_sleep: FakeSleep) -> None:
    # Given the org answers 503 to everything
    opp_id = given_yen_opportunity(salesforce)
    salesforce.fail_next(503, count=5)

    # When fetched, Then a TransientError after 3 attempts
    with pytest.raises(TransientError) as raised:
        salesforce_crm(salesforce, fake_sleep).fetch_opportunity(opp_id)
    assert raised.value.status == 503
    assert len(fake_sleep.waits) == 2


def test_write_back_patches_the_opportunity(salesforce: SalesforceSandbox, fake_sleep: FakeSleep) -> None:
    # Given a won opportunity
    opp_id = given_yen_opportunity(salesforce)
    crm = salesforce_crm(salesforce, fake_sleep)

    # When the hub writes the ERP order back
    crm.update_opportunity(opp_id, {"ERP_Order_Number__c": "SO-2002", "NextStep": "Invoice"})

    # Then the org holds it (seen over the control endpoint)
    stored = control(salesforce.url, "GET", f"/_sandbox/opportunities/{opp_id}")
    assert stored["fields"]["ERP_Order_Number__c"] == "SO-2002"
    assert stored["fields"]["NextStep"] == "Invoice"
    assert f"PATCH /services/data/v62.0/sobjects/Opportunity/{opp_id}" in salesforce.requests


def test_a_rejected_write_is_permanent(salesforce: SalesforceSandbox, fake_sleep: FakeSleep) -> None:
    # Given an opportunity, When the hub tries to write a read-only field
    opp_id = given_yen_opportunity(salesforce)
    with pytest.raises(PermanentError) as raised:
        salesforce_crm(salesforce, fake_sleep).update_opportunity(opp_id, {"IsWon": False})

    # Then Salesforce's validation error comes back, not retried
    assert raised.value.status == 400
    assert raised.value.code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert fake_sleep.waits == []


def test_the_sandbox_only_understands_the_connectors_queries(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given any other SOQL, When queried, Then 400 MALFORMED_QUERY
    with pytest.raises(PermanentError) as raised:
        salesforce_crm(salesforce, fake_sleep).query("SELECT Id FROM Account")
    assert raised.value.code == "MALFORMED_QUERY"


WITH_FREQUENCY_SOQL = (
    "SELECT Id, O2C_Billing_Frequency__c FROM OpportunityLineItem WHERE OpportunityId = {id}"
)


def test_soql_naming_a_field_the_org_lacks_is_refused_even_when_no_row_matches(
    fresh_salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given an org without the hub's custom fields and an opportunity with no line items
    opp_id = fresh_salesforce.create_opportunity(
        "Empty", "100", "EUR", account={"Name": "Empty GmbH"}, contacts=[], line_items=[]
    )
    crm = salesforce_crm(fresh_salesforce, fake_sleep)

    # When the line items are queried with a custom field the org does not have
    # Then Salesforce refuses the query itself (the field is checked when the SOQL is parsed, not per row)
    with pytest.raises(PermanentError) as raised:
        crm.query(WITH_FREQUENCY_SOQL.format(id=soql_literal(opp_id)))
    assert (raised.value.status, raised.value.code) == (400, "INVALID_FIELD")
