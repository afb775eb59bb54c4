"""NetSuiteErp over HTTP against the NetSuite sandbox (TBA-signed): upserts by external id, the invoice
transform once only (also after a commit whose reply timed out), payments, order status, error classes and
retries, money on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared.crm.models import Address
from shared.money import Money, from_major
from shared.outbound import AuthError, InvalidRecord, NotFound, PermanentError, TransientError
from shared.outbound.erp_gate import ErpGate
from shared.outbound.netsuite import (
    BearerAuth,
    ErpRef,
    NetSuiteErp,
    NetSuiteHttp,
    OrderLine,
    TokenBasedAuth,
    base_url_for,
    realm_for,
)
from tests.connectors.conftest import FakeSleep, control

ACCOUNT = "1234567_SB1"
CONSUMER_KEY = "ck-0123456789abcdef"
CONSUMER_SECRET = "cs-fedcba9876543210"
TOKEN_ID = "tk-aaaabbbbccccdddd"
TOKEN_SECRET = "ts-eeeeffff00001111"
CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4", "JPY": "5", "KWD": "6"}
BERLIN = Address(street="Hauptstrasse 1", city="Berlin", state="BE", postalCode="10115", country="DE")


def new_sandbox(**kwargs: Any) -> NetSuiteSandbox:
    return NetSuiteSandbox(
        account_id=ACCOUNT,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        token_id=TOKEN_ID,
        token_secret=TOKEN_SECRET,
        **kwargs,
    )


@pytest.fixture
def netsuite() -> Iterator[NetSuiteSandbox]:
    with new_sandbox() as sandbox:
        yield sandbox  # type: ignore[misc]


def tba(*, token_secret: str = TOKEN_SECRET) -> TokenBasedAuth:
    return TokenBasedAuth(
        ACCOUNT,
        consumer_key=CONSUMER_KEY,
        consumer_secret=lambda: CONSUMER_SECRET,
        token_id=TOKEN_ID,
        token_secret=token_secret,
    )


def erp(
    sandbox: NetSuiteSandbox,
    sleep: FakeSleep | None = None,
    *,
    gate: ErpGate | None = None,
    token_secret: str = TOKEN_SECRET,
    **http: Any,
) -> NetSuiteErp:
    client = NetSuiteHttp(
        sandbox.url, auth=tba(token_secret=token_secret), gate=gate, sleep=sleep or FakeSleep(), **http
    )
    return NetSuiteErp(
        sandbox.url, account_id=ACCOUNT, auth=client.auth, http=client, currency_ids=CURRENCY_IDS
    )


def eur(value: str) -> Money:
    return from_major(value, "EUR")


def given_customer(
    connector: NetSuiteErp, external_id: str = "hs-company-77", currency: str = "EUR"
) -> ErpRef:
    return connector.upsert_customer(
        external_id,
        company_name="Acme GmbH",
        email="ap@acme.de",
        subsidiary_id="2",
        currency=currency,
        billing_address=BERLIN,
        tax_id="DE123456789",
    )


def given_order(connector: NetSuiteErp, customer: ErpRef, external_id: str = "hs-deal-1001") -> ErpRef:
    return connector.upsert_sales_order(
        external_id,
        customer_id=customer.id,
        subsidiary_id="2",
        currency="EUR",
        lines=[
            OrderLine(
                item_external_id="PLT-1",
                name="Platform licence",
                quantity=2,
                rate=eur("500.00"),
                amount=eur("1000.00"),
                tax=eur("190.00"),
            ),
            OrderLine(
                item_external_id="ONB-1",
                name="Onboarding",
                quantity=1,
                rate=eur("234.50"),
                amount=eur("234.50"),
                tax=eur("44.56"),
            ),
        ],
        memo="HubSpot deal 1001",
    )


def unit(sku: str, price: Money, tax: Money | None = None, **more: Any) -> OrderLine:
    """One of ``sku`` at ``price`` (untaxed unless ``tax``); ``more``: revenue recognition dates ..."""
    return OrderLine(
        item_external_id=sku,
        quantity=1,
        rate=price,
        amount=price,
        tax=tax if tax is not None else Money.of(0, price.currency),
        **more,
    )


def order_of(
    connector: NetSuiteErp,
    external_id: str,
    customer_id: str,
    *lines: OrderLine,
    currency: str = "EUR",
    subsidiary_id: str = "2",
) -> ErpRef:
    """A sales order of ``lines`` for the customer, written as the hub writes one."""
    return connector.upsert_sales_order(
        external_id,
        customer_id=customer_id,
        subsidiary_id=subsidiary_id,
        currency=currency,
        lines=list(lines),
    )


# --- customers -------------------------------------------------------------------------------------------


def test_upserting_a_customer_twice_keeps_one_record_with_the_same_id(netsuite: NetSuiteSandbox) -> None:
    # Given a connector signing with TBA
    connector = erp(netsuite)

    # When the same customer is upserted twice (a retry, or a redelivered event)
    first = given_customer(connector)
    second = given_customer(connector)

    # Then NetSuite holds one customer, found by its external id, with one billing address
    assert first == second
    assert first.external_id == "hs-company-77" and first.document_number == "CUST1001"
    [customer] = netsuite.records("customer")
    assert customer["id"] == first.id
    assert customer["companyName"] == "Acme GmbH"
    assert customer["subsidiary"]["id"] == "2" and customer["currency"]["refName"] == "EUR"
    assert customer["vatRegNumber"] == "DE123456789"
    assert [a["addressBookAddress"]["city"] for a in customer["addressBook"]["items"]] == ["Berlin"]
    assert connector.get_by_external_id("customer", "hs-company-77")["id"] == first.id  # type: ignore[index]
    assert [r for r in netsuite.requests if r.startswith("PUT")] == [
        "PUT /services/rest/record/v1/customer/eid:hs-company-77"
    ] * 2


def test_an_unknown_external_id_is_none_and_an_unknown_internal_id_not_found(
    netsuite: NetSuiteSandbox,
) -> None:
    connector = erp(netsuite)

    assert connector.get_by_external_id("customer", "nobody") is None
    with pytest.raises(NotFound) as caught:
        connector.get("salesOrder", "999999")
    assert caught.value.code == "NONEXISTENT_ID"


# --- sales orders ----------------------------------------------------------------------------------------


def test_a_sales_order_carries_its_lines_tax_and_exact_amounts(netsuite: NetSuiteSandbox) -> None:
    # Given a customer
    connector = erp(netsuite)
    customer = given_customer(connector)

    # When an order with two taxed lines is upserted twice
    order = given_order(connector, customer)
    again = given_order(connector, customer)

    # Then one order, Pending Approval, with both lines (replaced, not appended) and exact totals
    assert order == again
    assert order.document_number == "SO1001"
    [record] = netsuite.records("salesOrder")
    assert record["orderStatus"]["id"] == "A" and record["status"]["refName"] == "Pending Approval"
    assert record["entity"]["id"] == customer.id
    lines = record["item"]["items"]
    assert [(line["item"]["externalId"], line["quantity"]) for line in lines] == [("PLT-1", 2), ("ONB-1", 1)]
    assert [line["tax1Amt"] for line in lines] == [Decimal("190.00"), Decimal("44.56")]
    assert (record["subtotal"], record["taxTotal"], record["total"]) == (
        Decimal("1234.50"),
        Decimal("234.56"),
        Decimal("1469.06"),
    )


@pytest.mark.parametrize(
    ("currency", "rate", "tax"),
    [("JPY", "12345", "1234"), ("KWD", "12.34", "0.61")],
)
def test_money_goes_to_netsuite_in_the_currency_s_own_decimals(
    netsuite: NetSuiteSandbox, currency: str, rate: str, tax: str
) -> None:
    # Given a customer in a zero-decimal currency, or a three-decimal one (which NetSuite keeps to 2)
    connector = erp(netsuite)
    customer = given_customer(connector, f"cust-{currency}", currency=currency)

    # When an order is written in that currency
    line = unit("PLT-1", from_major(rate, currency), from_major(tax, currency))
    order_of(connector, f"so-{currency}", customer.id, line, currency=currency, subsidiary_id="1")

    # Then NetSuite received the exact figures (it refuses more decimals than the currency has)
    [record] = netsuite.records("salesOrder")
    assert record["currency"]["refName"] == currency
    assert str(record["item"]["items"][0]["rate"]) == rate
    assert record["total"] == Decimal(rate) + Decimal(tax)


def test_a_kwd_amount_netsuite_cannot_hold_is_refused_before_it_is_sent(netsuite: NetSuiteSandbox) -> None:
    # Given a KWD customer (KWD has 3 decimals in ISO 4217; a NetSuite currency has 0 or 2)
    connector = erp(netsuite)
    customer = given_customer(connector, "cust-kwd", currency="KWD")

    # When an order line of 12.345 KWD is sent
    with pytest.raises(InvalidRecord) as caught:
        line = unit("PLT-1", from_major("12.345", "KWD"))
        order_of(connector, "so-kwd-fils", customer.id, line, currency="KWD", subsidiary_id="1")

    # Then the connector refuses it (NetSuite would: its currencies have 0 or 2 decimals); nothing is sent
    assert "more decimals than NetSuite keeps" in str(caught.value)
    assert netsuite.records("salesOrder") == []
    assert not [r for r in netsuite.requests if r.startswith("PUT /services/rest/record/v1/salesOrder")]


def test_netsuite_refuses_an_amount_finer_than_the_currency_as_an_invalid_record(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given an order whose line is in EUR but the order is in JPY (the connector refuses that itself) ...
    connector = erp(netsuite)
    customer = given_customer(connector, "cust-jpy", currency="JPY")
    with pytest.raises(ValueError):
        order_of(
            connector, "so-mixed", customer.id, unit("X", eur("1.50")), currency="JPY", subsidiary_id="1"
        )
    # ... and a record NetSuite rejects (unknown customer) is an InvalidRecord with NetSuite's code
    with pytest.raises(InvalidRecord) as caught:
        order_of(connector, "so-orphan", "424242", unit("X", eur("1")), subsidiary_id="1")
    assert caught.value.status == 400 and caught.value.code == "INVALID_KEY_OR_REF"
    assert netsuite.records("salesOrder") == []


def test_activate_and_cancel_are_idempotent(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite)
    order = given_order(connector, given_customer(connector))

    connector.activate_sales_order(order.id)
    connector.activate_sales_order(order.id)
    approved = netsuite.record("salesOrder", order.id)
    assert approved["orderStatus"]["id"] == "B" and approved["status"]["refName"] == "Pending Fulfillment"

    connector.cancel_sales_order(order.id)
    connector.cancel_sales_order(order.id)
    closed = netsuite.record("salesOrder", order.id)
    assert closed["status"]["refName"] == "Closed"
    assert all(line["isClosed"] for line in closed["item"]["items"])

    # a redelivered "create the order" does not resurrect a closed order
    assert given_order(connector, given_customer(connector)) == order
    assert netsuite.record("salesOrder", order.id)["status"]["id"] == "H"


# --- invoices and payments --------------------------------------------------------------------------------


def test_invoicing_twice_by_external_id_makes_one_invoice(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite)
    order = given_order(connector, given_customer(connector))
    connector.activate_sales_order(order.id)

    invoice = connector.invoice_sales_order(order.id, external_id="inv-hs-deal-1001")
    again = connector.invoice_sales_order(order.id, external_id="inv-hs-deal-1001")

    assert invoice == again and invoice.document_number == "INV1001"
    [record] = netsuite.records("invoice")
    assert record["createdFrom"]["id"] == order.id
    assert record["total"] == Decimal("1469.06")
    assert netsuite.record("salesOrder", order.id)["status"]["refName"] == "Billed"
    assert sum(r.endswith("!transform/invoice") for r in netsuite.requests) == 1
    # its lines as the tax engine records the sale: each line's net and the tax NetSuite holds on it
    lines = connector.invoice_lines(invoice.id)
    assert sum(line.amount.amount + line.tax.amount for line in lines) == 146906
    items = record["item"]["items"]
    assert [(line.amount.to_decimal(), line.tax.to_decimal()) for line in lines] == [
        (Decimal(str(i["amount"])), Decimal(str(i["tax1Amt"]))) for i in items
    ]


def test_an_invoice_committed_whose_reply_timed_out_is_found_not_created_again(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given an approved order, and NetSuite that commits the next write but answers too late
    sleep = FakeSleep()
    connector = erp(netsuite, sleep, timeout_s=0.2)
    order = given_order(connector, given_customer(connector))
    connector.activate_sales_order(order.id)
    control(netsuite.url, "POST", "/_sandbox/commit_then_timeout", {"count": 1, "delay_s": 0.45})

    # When the hub invoices the order (the transform times out after committing)
    invoice = connector.invoice_sales_order(order.id, external_id="inv-hs-deal-1001")

    # Then it found the invoice the timed-out request made: exactly one invoice
    assert [r["id"] for r in netsuite.records("invoice")] == [invoice.id]
    assert sum(r.endswith("!transform/invoice") for r in netsuite.requests) == 1
    assert len(sleep.waits) == 1  # one backoff before looking again


def test_invoicing_an_order_not_yet_approved_is_refused(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite)
    order = given_order(connector, given_customer(connector))

    with pytest.raises(InvalidRecord) as caught:
        connector.invoice_sales_order(order.id, external_id="inv-early")
    assert caught.value.code == "INVALID_INITIALIZE_REF"
    assert netsuite.records("invoice") == []


def test_a_payment_is_applied_to_the_invoice_once(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite)
    customer = given_customer(connector)
    order = given_order(connector, customer)
    connector.activate_sales_order(order.id)
    invoice = connector.invoice_sales_order(order.id, external_id="inv-1001")

    for _ in range(2):  # a redelivered Stripe event records the same payment
        payment = connector.apply_customer_payment(
            "pi_3DemoAbc123",
            customer_id=customer.id,
            invoice_id=invoice.id,
            amount=eur("1469.06"),
            currency="EUR",
            memo="Stripe pi_3DemoAbc123",
        )

    [record] = netsuite.records("customerPayment")
    assert record["id"] == payment.id and record["payment"] == Decimal("1469.06")
    assert record["apply"]["items"][0]["doc"]["id"] == invoice.id
    paid = netsuite.record("invoice", invoice.id)
    assert paid["amountRemaining"] == 0 and paid["status"] == {"id": "B", "refName": "Paid In Full"}


# --- auth, errors, retries --------------------------------------------------------------------------------


def test_a_bad_tba_signature_is_an_auth_error(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite, token_secret="not-the-token-secret")

    with pytest.raises(AuthError) as caught:
        given_customer(connector)
    assert caught.value.status == 401 and caught.value.code == "INVALID_LOGIN"
    assert netsuite.records("customer") == []


def test_a_bearer_token_is_not_accepted_where_tba_is_expected(netsuite: NetSuiteSandbox) -> None:
    client = NetSuiteHttp(netsuite.url, auth=BearerAuth(lambda: "token"), sleep=FakeSleep())
    connector = NetSuiteErp(netsuite.url, account_id=ACCOUNT, auth=client.auth, http=client)

    with pytest.raises(AuthError):
        connector.get_by_external_id("customer", "x")


def test_503_is_retried_then_succeeds(netsuite: NetSuiteSandbox) -> None:
    sleep = FakeSleep()
    connector = erp(netsuite, sleep)
    netsuite.fail_next(503, count=2)

    customer = given_customer(connector)

    assert customer.id == netsuite.records("customer")[0]["id"]
    assert len(sleep.waits) == 2


def test_429_with_retry_after_is_waited_for_then_raised_as_transient(netsuite: NetSuiteSandbox) -> None:
    sleep = FakeSleep()
    connector = erp(netsuite, sleep)
    netsuite.fail_next(429, count=5, retry_after=1, code="CONCURRENCY_LIMIT_EXCEEDED")

    with pytest.raises(TransientError) as caught:
        connector.get_by_external_id("customer", "x")
    assert caught.value.code == "CONCURRENCY_LIMIT_EXCEEDED" and caught.value.retry_after == 1
    assert sleep.waits == [1, 1]


def test_permanent_errors_are_not_retried(netsuite: NetSuiteSandbox) -> None:
    sleep = FakeSleep()
    connector = erp(netsuite, sleep)
    netsuite.fail_next(403)

    with pytest.raises(PermanentError):
        connector.get_by_external_id("customer", "x")
    assert sleep.waits == []


def test_external_ids_and_accounts_are_checked_before_any_request(netsuite: NetSuiteSandbox) -> None:
    connector = erp(netsuite)
    with pytest.raises(ValueError):
        connector.get_by_external_id("customer", "has space")
    with pytest.raises(ValueError):
        connector.get_by_external_id("vendorBill", "x")
    assert netsuite.requests == []
    assert realm_for("1234567-sb1") == "1234567_SB1"
    assert base_url_for("1234567_SB1") == "https://1234567-sb1.suitetalk.api.netsuite.com"


def test_sandbox_control_endpoints(netsuite: NetSuiteSandbox) -> None:
    given_customer(erp(netsuite))

    assert control(netsuite.url, "GET", "/_sandbox")["vendor"] == "netsuite"
    assert [
        r["companyName"] for r in control(netsuite.url, "GET", "/_sandbox/records/customer")["records"]
    ] == ["Acme GmbH"]
    assert control(netsuite.url, "GET", "/_sandbox/concurrency")["rejected"] == 0


def test_order_lines_carry_their_revenue_recognition_dates_to_the_invoice(netsuite: NetSuiteSandbox) -> None:
    # Given a subscription deal's order: the subscription's first year and the onboarding's delivery day
    from datetime import date

    connector = erp(netsuite)
    customer = given_customer(connector)
    start, end, delivered = date(2026, 12, 1), date(2027, 11, 30), date(2026, 11, 30)
    order = order_of(
        connector,
        "hs-deal-sub",
        customer.id,
        unit("PLT-Y", eur("24000.00"), rev_rec_start=start, rev_rec_end=end, rev_rec_term_months=12),
        unit("ONB-1", eur("4560.00"), rev_rec_start=delivered, rev_rec_end=delivered),
    )

    # Then NetSuite keeps them per line, and the invoice billed from the order has them too
    read = connector.get("salesOrder", order.id)
    expanded = netsuite.records("salesOrder")[0]["item"]["items"]
    assert [
        (li.get("revRecStartDate"), li.get("revRecEndDate"), li.get("revRecTermInMonths")) for li in expanded
    ] == [
        ("2026-12-01", "2027-11-30", 12),
        ("2026-11-30", "2026-11-30", None),
    ]
    assert read["id"] == order.id
    connector.activate_sales_order(order.id)
    invoice = connector.invoice_sales_order(order.id, external_id="inv-hs-deal-sub")
    [billed] = netsuite.records("invoice")
    assert billed["id"] == invoice.id
    assert [li.get("revRecStartDate") for li in billed["item"]["items"]] == ["2026-12-01", "2026-11-30"]

    # And a line whose revenue would end before it starts is refused, as NetSuite refuses it
    with pytest.raises(InvalidRecord):
        order_of(
            connector,
            "hs-deal-bad-dates",
            customer.id,
            unit("PLT-Y", eur("1.00"), rev_rec_start=end, rev_rec_end=start),
        )
