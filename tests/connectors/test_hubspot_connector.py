"""HubSpotCrm over HTTP against the HubSpot sandbox: the v3 calls, the mapping to CrmOpportunity, the
error classes and retries, and write-back."""

from __future__ import annotations

from datetime import date

import pytest

from localcloud.sandboxes import HubSpotSandbox
from shared.crm.models import Address
from shared.money import Money
from shared.outbound import AuthError, InvalidRecord, NotFound, TransientError
from tests.connectors.conftest import FakeSleep, control, hubspot_crm

ACME = {
    "name": "Acme GmbH",
    "domain": "acme.de",
    "address": "Hauptstrasse 1",
    "city": "Berlin",
    "state": "BE",
    "zip": "10115",
    "country": "DE",
    "tax_id": "DE123456789",
    "o2c_region": "EMEA",
}
BUYERS = [
    {"email": "ap@acme.de", "firstname": "Ada", "lastname": "Payable"},
    {"email": "cto@acme.de", "firstname": "Carl", "lastname": "Tech"},
]


def given_acme_deal(hubspot: HubSpotSandbox) -> str:
    return hubspot.create_deal(
        "Acme platform 2027",
        "1234.50",
        "EUR",
        company=ACME,
        contacts=BUYERS,
        line_items=[
            {
                "name": "Platform licence",
                "quantity": "2",
                "price": "500.00",
                "hs_sku": "PLT-1",
                "hs_product_id": "77",
            },
            {"name": "Onboarding", "quantity": "1", "price": "234.50", "hs_sku": "ONB-1"},
        ],
        close_date="2026-11-27T10:15:00.000Z",
        owner_id="1234567",
    )


def test_fetches_a_won_deal_with_company_contacts_and_line_items(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a EUR deal with its company, two contacts and two line items
    deal_id = given_acme_deal(hubspot)
    hubspot.win(deal_id)
    crm = hubspot_crm(hubspot, fake_sleep)

    # When the connector fetches it
    opportunity = crm.fetch_opportunity(deal_id)

    # Then every part the order needs is there, money exact in minor units
    assert opportunity.crmSystem == "hubspot"
    assert opportunity.opportunityId == deal_id
    assert opportunity.name == "Acme platform 2027"
    assert opportunity.stage == "closedwon"
    assert opportunity.closeDate == date(2026, 11, 27)
    assert opportunity.ownerId == "1234567"
    assert opportunity.amount == Money(amount=123450, currency="EUR")
    account = opportunity.account
    assert (account.name, account.domain, account.taxId, account.region, account.currency) == (
        "Acme GmbH",
        "acme.de",
        "DE123456789",
        "EMEA",
        "EUR",
    )
    assert account.billingAddress == Address(
        street="Hauptstrasse 1", city="Berlin", state="BE", postalCode="10115", country="DE"
    )
    assert [(c.email, c.firstName, c.lastName) for c in opportunity.contacts] == [
        ("ap@acme.de", "Ada", "Payable"),
        ("cto@acme.de", "Carl", "Tech"),
    ]
    licence, onboarding = opportunity.lines
    assert (licence.name, licence.sku, licence.productId, licence.quantity) == (
        "Platform licence",
        "PLT-1",
        "77",
        2,
    )
    assert licence.unitPrice == Money(amount=50000, currency="EUR")
    assert licence.amount == Money(amount=100000, currency="EUR")
    assert onboarding.amount == Money(amount=23450, currency="EUR")
    # and it used the documented v3 calls only
    assert hubspot.requests == [
        f"GET /crm/v3/objects/deals/{deal_id}",
        "POST /crm/v3/objects/companies/batch/read",
        "POST /crm/v3/objects/contacts/batch/read",
        "POST /crm/v3/objects/line_items/batch/read",
    ]
    assert fake_sleep.waits == []


def test_three_decimal_currency_lines_keep_their_minor_unit(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a KWD deal whose company has its own currency property and a line priced "1.250"
    deal_id = hubspot.create_deal(
        "Kuwait pilot",
        "3.750",
        "KWD",
        company={**ACME, "name": "Gulf Trading", "country": "KW", "currency": "KWD"},
        contacts=[],
        line_items=[{"name": "Seat", "quantity": "3", "price": "1.250"}],
    )

    # When fetched
    opportunity = hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal_id)

    # Then fils are the minor unit (3 decimals)
    assert opportunity.amount == Money(amount=3750, currency="KWD")
    assert opportunity.lines[0].unitPrice == Money(amount=1250, currency="KWD")
    assert opportunity.lines[0].amount == Money(amount=3750, currency="KWD")
    assert opportunity.account.currency == "KWD"
    assert opportunity.contacts == ()


def test_rate_limit_with_retry_after_is_waited_out_then_succeeds(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given HubSpot answers the next two calls 429 with Retry-After: 2
    deal_id = given_acme_deal(hubspot)
    hubspot.fail_next(429, count=2, retry_after=2)

    # When the connector fetches the deal
    opportunity = hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal_id)

    # Then it waited at least what HubSpot asked, twice, and got the deal
    assert opportunity.amount.amount == 123450
    assert len(fake_sleep.waits) == 2
    assert all(wait >= 2 for wait in fake_sleep.waits)


def test_persistent_server_errors_end_in_a_transient_error(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given HubSpot keeps answering 502
    deal_id = given_acme_deal(hubspot)
    hubspot.fail_next(502, count=10)

    # When the connector fetches the deal, Then it gives up after 3 attempts with a retryable error
    with pytest.raises(TransientError) as raised:
        hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal_id)
    assert raised.value.status == 502
    assert len(hubspot.requests) == 3
    assert len(fake_sleep.waits) == 2  # exponential backoff with full jitter, capped
    assert all(0 <= wait <= 10 for wait in fake_sleep.waits)


def test_a_slow_answer_beyond_the_timeout_is_transient(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given HubSpot takes 0.3 s to answer and the client waits 0.1 s
    deal_id = given_acme_deal(hubspot)
    hubspot.slow_next(0.3)

    # When fetched with a single attempt, Then it is a retryable timeout
    with pytest.raises(TransientError):
        hubspot_crm(hubspot, fake_sleep, timeout_s=0.1, max_attempts=1).fetch_opportunity(deal_id)


def test_unknown_deal_is_not_found(hubspot: HubSpotSandbox, fake_sleep: FakeSleep) -> None:
    # Given no deal 4242, When fetched, Then NotFound (not retried)
    with pytest.raises(NotFound) as raised:
        hubspot_crm(hubspot, fake_sleep).fetch_opportunity("4242")
    assert raised.value.status == 404
    assert raised.value.code == "OBJECT_NOT_FOUND"
    assert fake_sleep.waits == []


def test_a_wrong_token_is_an_auth_error_and_is_not_retried(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a deal, and a connector with a revoked private-app token
    deal_id = given_acme_deal(hubspot)
    crm = hubspot_crm(hubspot, fake_sleep, token="pat-eu1-revoked")

    # When it fetches, Then AuthError after exactly one request, and the token is not in the message
    with pytest.raises(AuthError) as raised:
        crm.fetch_opportunity(deal_id)
    assert raised.value.status == 401
    assert raised.value.code == "INVALID_AUTHENTICATION"
    assert "pat-eu1" not in str(raised.value)
    assert len(hubspot.requests) == 1


def test_write_back_is_visible_on_the_deal(hubspot: HubSpotSandbox, fake_sleep: FakeSleep) -> None:
    # Given a won deal
    deal_id = given_acme_deal(hubspot)

    # When the hub writes the ERP order number back
    hubspot_crm(hubspot, fake_sleep).update_deal(
        deal_id, {"o2c_erp_order_number": "SO-1001", "o2c_payment_status": "paid"}
    )

    # Then HubSpot holds it (seen through the sandbox's HTTP control endpoint)
    stored = control(hubspot.url, "GET", f"/_sandbox/deals/{deal_id}")
    assert stored["properties"]["o2c_erp_order_number"] == "SO-1001"
    assert stored["properties"]["o2c_payment_status"] == "paid"
    assert stored["properties"]["dealname"] == "Acme platform 2027"


def test_a_deal_without_company_cannot_be_mapped(hubspot: HubSpotSandbox, fake_sleep: FakeSleep) -> None:
    # Given a deal whose company association was removed in HubSpot
    deal_id = given_acme_deal(hubspot)
    with hubspot._lock:
        hubspot._deals[deal_id]["associations"]["companies"] = []

    # When fetched, Then InvalidRecord names the problem
    with pytest.raises(InvalidRecord, match="no associated company"):
        hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal_id)


def test_amounts_finer_than_the_currency_are_refused_not_rounded(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a JPY deal whose amount has decimals (yen have none)
    deal_id = hubspot.create_deal("Yen deal", "1000.5", "JPY", company=ACME, contacts=[], line_items=[])

    # When fetched, Then the connector refuses it rather than rounding money
    with pytest.raises(InvalidRecord, match=r"deal\.amount"):
        hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal_id)


def test_a_deal_id_that_is_not_numeric_never_reaches_hubspot(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given an id that would change the URL path
    # When fetched, Then it is refused before any request
    with pytest.raises(InvalidRecord):
        hubspot_crm(hubspot, fake_sleep).fetch_opportunity("../companies/1")
    assert hubspot.requests == []


def test_faults_can_be_queued_over_the_control_endpoint(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a deal created and a 429 queued by another process, over HTTP
    deal = control(
        hubspot.url,
        "POST",
        "/_sandbox/deals",
        {
            "name": "Remote",
            "amount": "10.00",
            "currency": "USD",
            "company": ACME,
            "contacts": [],
            "line_items": [],
        },
    )
    control(hubspot.url, "POST", "/_sandbox/faults", {"status": 429, "count": 1, "retry_after": 1})

    # When the connector fetches it
    opportunity = hubspot_crm(hubspot, fake_sleep).fetch_opportunity(deal["id"])

    # Then it waited once for the advertised second and got the deal
    assert opportunity.amount == Money(amount=1000, currency="USD")
    assert fake_sleep.waits == [1.0]
