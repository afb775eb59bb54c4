"""AvaTax over HTTP against the AvaTax sandbox: the transactions/create request, tax per line and in total
exactly in the currency's minor units, Basic auth, errors and retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from shared.crm.models import Address
from shared.money import Money, from_major
from shared.outbound import AuthError, InvalidRecord, TransientError
from shared.outbound.avatax import (
    AvaTax,
    LineTax,
    RecordedReturn,
    RecordedSale,
    ReturnLine,
    SaleLine,
    TaxLine,
    TaxResult,
    basic,
)
from shared.outbound.http import JsonHttp
from tests.connectors.conftest import FakeSleep, control

ACCOUNT_ID = "2000123456"
LICENSE_KEY = "A1B2C3D4E5F6A7B8"
BERLIN = Address(street="Hauptstrasse 1", city="Berlin", postalCode="10115", country="DE")
AMSTERDAM = Address(street="Damrak 1", city="Amsterdam", postalCode="1012 LG", country="NL")


@pytest.fixture
def avatax() -> Iterator[AvaTaxSandbox]:
    with AvaTaxSandbox(account_id=ACCOUNT_ID, license_key=LICENSE_KEY) as sandbox:
        yield sandbox  # type: ignore[misc]


def connector(
    sandbox: AvaTaxSandbox, sleep: FakeSleep | None = None, *, key: str = LICENSE_KEY, **http: Any
) -> AvaTax:
    client = JsonHttp(
        sandbox.url, auth_headers=basic(ACCOUNT_ID, lambda: key), sleep=sleep or FakeSleep(), **http
    )
    return AvaTax(
        sandbox.url, account_id=ACCOUNT_ID, license_key=lambda: key, company_code="O2CGMBH", http=client
    )


def quote(tax: AvaTax, ship_to: Address, lines: list[TaxLine], currency: str) -> TaxResult:
    return tax.calculate(
        document_code="hs-deal-1001",
        customer_code="hs-company-77",
        date=date(2026, 11, 27),
        ship_to=ship_to,
        ship_from=AMSTERDAM,
        lines=lines,
        currency=currency,
    )


def test_german_vat_on_1000_eur_is_190_eur(avatax: AvaTaxSandbox) -> None:
    result = quote(
        connector(avatax), BERLIN, [TaxLine("1", from_major("1000.00", "EUR"), 2, "PLT-1", "SW054000")], "EUR"
    )

    assert result == TaxResult(Money.of(19000, "EUR"), [LineTax("1", Money.of(19000, "EUR"))])
    [sent] = avatax.transactions
    assert sent["type"] == "SalesOrder" and sent["commit"] is False
    assert sent["companyCode"] == "O2CGMBH" and sent["code"] == "hs-deal-1001"
    assert sent["customerCode"] == "hs-company-77" and sent["date"] == "2026-11-27"
    assert sent["currencyCode"] == "EUR"
    assert sent["addresses"]["shipTo"]["country"] == "DE" and sent["addresses"]["shipFrom"]["country"] == "NL"
    assert sent["lines"] == [
        {"number": "1", "quantity": 2, "amount": "1000.00", "itemCode": "PLT-1", "taxCode": "SW054000"}
    ]


def test_tax_per_line_is_rounded_half_up_by_the_engine_and_summed(avatax: AvaTaxSandbox) -> None:
    # 234.50 x 0.19 = 44.555 -> 44.56 (half-up); 0.10 x 0.19 = 0.019 -> 0.02
    result = quote(
        connector(avatax),
        BERLIN,
        [TaxLine("1", from_major("234.50", "EUR")), TaxLine("2", from_major("0.10", "EUR"))],
        "EUR",
    )

    assert result.lines == [LineTax("1", Money.of(4456, "EUR")), LineTax("2", Money.of(2, "EUR"))]
    assert result.total_tax == Money.of(4458, "EUR")


@pytest.mark.parametrize(
    ("currency", "amount", "tax_minor"),
    [
        ("JPY", "12345", 1018),  # 12345 x 0.0825 = 1018.4625 -> 1018 yen
        ("KWD", "12.345", 1018),  # 12.345 x 0.0825 = 1.0184625 -> 1.018 KWD = 1018 fils
        ("USD", "99.99", 825),  # 8.249175 -> 8.25
    ],
)
def test_tax_is_exact_in_the_currency_s_minor_units(
    avatax: AvaTaxSandbox, currency: str, amount: str, tax_minor: int
) -> None:
    ship_to = Address(city="Austin", state="TX", postalCode="78701", country="US")

    result = quote(connector(avatax), ship_to, [TaxLine("A", from_major(amount, currency))], currency)

    assert result.total_tax == Money.of(tax_minor, currency)
    assert avatax.transactions[0]["lines"][0]["amount"] == amount


def test_single_location_when_there_is_no_ship_from(avatax: AvaTaxSandbox) -> None:
    tax = connector(avatax)
    result = tax.calculate(
        document_code="d",
        customer_code="c",
        date=date(2026, 1, 2),
        ship_to=AMSTERDAM,
        ship_from=None,
        lines=[TaxLine("1", from_major("100", "EUR"))],
        currency="EUR",
    )

    assert result.total_tax == Money.of(2100, "EUR")
    assert set(avatax.transactions[0]["addresses"]) == {"singleLocation"}


def test_a_tax_amount_finer_than_the_currency_is_refused_not_rounded() -> None:
    from shared.outbound.avatax import _result

    with pytest.raises(InvalidRecord):
        _result(
            {"totalTax": Decimal("1.005"), "lines": [{"lineNumber": "1", "tax": Decimal("1.005")}]},
            ["1"],
            "EUR",
        )
    with pytest.raises(InvalidRecord):
        _result({"totalTax": Decimal("1.00"), "lines": []}, ["1"], "EUR")  # a line without its tax


def test_a_wrong_license_key_is_an_auth_error_with_avatax_s_code(avatax: AvaTaxSandbox) -> None:
    with pytest.raises(AuthError) as caught:
        quote(connector(avatax, key="wrong"), BERLIN, [TaxLine("1", from_major("1", "EUR"))], "EUR")

    assert caught.value.status == 401
    assert caught.value.code == "AuthenticationException"
    assert caught.value.detail == "Authentication failed."
    assert str(caught.value) == "POST /api/v2/transactions/create -> HTTP 401 AuthenticationException"


def test_503_is_retried_then_succeeds(avatax: AvaTaxSandbox) -> None:
    sleep = FakeSleep()
    control(avatax.url, "POST", "/_sandbox/faults", {"status": 503, "count": 2})

    result = quote(connector(avatax, sleep), BERLIN, [TaxLine("1", from_major("10", "EUR"))], "EUR")

    assert result.total_tax == Money.of(190, "EUR")
    assert len(sleep.waits) == 2


def test_429_that_persists_is_transient(avatax: AvaTaxSandbox) -> None:
    avatax.fail_next(429, count=3, retry_after=1)

    with pytest.raises(TransientError) as caught:
        quote(connector(avatax), BERLIN, [TaxLine("1", from_major("10", "EUR"))], "EUR")
    assert caught.value.code == "RateLimitExceeded" and caught.value.retry_after == 1


def test_lines_must_be_in_the_document_currency(avatax: AvaTaxSandbox) -> None:
    with pytest.raises(ValueError):
        quote(connector(avatax), BERLIN, [TaxLine("1", from_major("10", "USD"))], "EUR")
    assert avatax.requests == []


def test_sandbox_lists_transactions_over_http(avatax: AvaTaxSandbox) -> None:
    quote(connector(avatax), BERLIN, [TaxLine("1", from_major("10", "EUR"))], "EUR")

    assert control(avatax.url, "GET", "/_sandbox/transactions")["transactions"][0]["code"] == "hs-deal-1001"


# --- sales (an invoice recorded in AvaTax) ----------------------------------------------------------------


def sell(tax: AvaTax, *, vat: str = "190.00", code: str = "inv-hubspot-1001") -> RecordedSale:
    return tax.record_sale(
        document_code=code,
        customer_code="hs-company-77",
        date=date(2026, 11, 30),
        ship_to=BERLIN,
        lines=[SaleLine("1", from_major("1000.00", "EUR"), from_major(vat, "EUR"), 2, "PLT-1", "SW054000")],
        currency="EUR",
        reason="tax as invoiced on ERP invoice INV-42",
    )


def test_an_invoice_is_recorded_once_as_a_committed_sales_invoice(avatax: AvaTaxSandbox) -> None:
    # When the invoiced sale of 1000.00 + 190.00 VAT is recorded twice (a retried step)
    tax = connector(avatax)
    first = sell(tax)
    first_requests = list(avatax.requests)
    again = sell(tax)

    # Then AvaTax holds one committed SalesInvoice under the invoice's code, dated the invoice's date, with
    # the invoiced tax, which is also what AvaTax computes on its own
    vat = from_major("190.00", "EUR")
    assert (
        first
        == again
        == RecordedSale("inv-hubspot-1001", "Committed", from_major("1000.00", "EUR"), vat, vat)
    )
    [document] = avatax.documents
    assert (document["type"], document["code"], document["status"], document["date"]) == (
        "SalesInvoice",
        "inv-hubspot-1001",
        "Committed",
        "2026-11-30",
    )
    assert document["customerCode"] == "hs-company-77" and document["totalTax"] == Decimal("190.00")
    sent = avatax.transactions[0]
    assert sent["commit"] is True and sent["addresses"] == {
        "singleLocation": {
            "line1": "Hauptstrasse 1",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        }
    }
    assert sent["lines"][0]["taxOverride"] == {
        "type": "TaxAmount",
        "taxAmount": "190.00",
        "reason": "tax as invoiced on ERP invoice INV-42",
    }
    # recording costs one request; the repeat's create is refused (DocumentCodeConflict) and answered from
    # the document AvaTax holds
    assert first_requests == ["POST /api/v2/transactions/create"]
    assert avatax.requests[1:] == [
        "POST /api/v2/transactions/create",
        "GET /api/v2/companies/O2CGMBH/transactions/inv-hubspot-1001/types/SalesInvoice",
    ]


def test_a_sale_records_the_invoiced_tax_and_shows_what_avatax_would_charge(avatax: AvaTaxSandbox) -> None:
    # Given the ERP invoiced 160.00 VAT (quoted at another rate) where AvaTax computes 190.00 today
    recorded = sell(connector(avatax), vat="160.00")

    # Then the liability AvaTax reports is what the customer was charged; the difference stays visible
    assert recorded.total_tax == from_major("160.00", "EUR")
    assert recorded.tax_calculated == from_major("190.00", "EUR")
    [document] = avatax.documents
    assert (document["totalTax"], document["totalTaxCalculated"]) == (Decimal("160.00"), Decimal("190.00"))


def test_a_sale_committed_whose_reply_was_lost_is_found_not_recorded_again(avatax: AvaTaxSandbox) -> None:
    tax = connector(avatax)
    sell(tax)
    control(
        avatax.url, "POST", "/_sandbox/faults", {"status": 404, "count": 1, "code": "EntityNotFoundError"}
    )

    # the lookup misses, the create is refused (DocumentCodeConflict), the lookup finds the first one
    again = sell(tax)

    assert again.code == "inv-hubspot-1001" and again.status == "Committed" and len(avatax.documents) == 1


# --- returns (a refund recorded in AvaTax) ----------------------------------------------------------------


def give_back(tax: AvaTax, code: str = "rtn-re_1AbC") -> Any:
    return tax.record_return(
        document_code=code,
        reference_code="inv-hubspot-1001",
        customer_code="hs-company-77",
        date=date(2026, 12, 1),
        tax_date=date(2026, 11, 27),
        ship_to=BERLIN,
        lines=[
            ReturnLine("1", from_major("68.06", "EUR"), from_major("12.93", "EUR"), 1, "PLT-1"),
            ReturnLine("2", from_major("15.97", "EUR"), from_major("3.04", "EUR"), 1, "ONB-1"),
        ],
        currency="EUR",
        reason="Stripe refund re_1AbC",
    )


def test_a_refund_is_recorded_once_as_a_committed_return_invoice(avatax: AvaTaxSandbox) -> None:
    # When a refund of 84.03 + 15.97 VAT is recorded twice (a redelivered refund)
    tax = connector(avatax)
    first = give_back(tax)
    first_requests = list(avatax.requests)
    again = give_back(tax)

    # Then AvaTax holds one committed ReturnInvoice: negative amounts, the refund's tax as given, taxed as of
    # the original sale, referencing it
    assert (
        first
        == again
        == RecordedReturn(
            "rtn-re_1AbC", "Committed", from_major("-84.03", "EUR"), from_major("-15.97", "EUR")
        )
    )
    [document] = avatax.documents
    assert (document["type"], document["code"], document["referenceCode"]) == (
        "ReturnInvoice",
        "rtn-re_1AbC",
        "inv-hubspot-1001",
    )
    assert (document["date"], document["taxDate"]) == ("2026-12-01", "2026-11-27")
    assert [(line["lineAmount"], line["tax"]) for line in document["lines"]] == [
        (Decimal("-68.06"), Decimal("-12.93")),
        (Decimal("-15.97"), Decimal("-3.04")),
    ]
    sent = avatax.transactions[0]
    assert sent["taxOverride"] == {
        "type": "TaxDate",
        "taxDate": "2026-11-27",
        "reason": "Stripe refund re_1AbC",
    }
    # recording costs one request; the repeat's create is refused and answered from AvaTax's document
    assert first_requests == ["POST /api/v2/transactions/create"]
    assert [r.split(" ")[0] for r in avatax.requests[1:]] == ["POST", "GET"]


def test_a_return_committed_whose_reply_was_lost_is_found_not_recorded_again(avatax: AvaTaxSandbox) -> None:
    # Given the return was committed but the hub did not hear (it will look it up first, then retry)
    tax = connector(avatax)
    give_back(tax)
    control(
        avatax.url, "POST", "/_sandbox/faults", {"status": 404, "count": 1, "code": "EntityNotFoundError"}
    )

    # When it records the return again: the lookup misses, the create is refused as a conflict, the lookup finds it
    again = give_back(tax)

    assert again.code == "rtn-re_1AbC" and len(avatax.documents) == 1


def test_the_sandbox_refuses_a_member_avatax_does_not_have(avatax: AvaTaxSandbox) -> None:
    error = raw_error(
        avatax,
        {
            "type": "SalesOrder",
            "date": "2026-11-27",
            "customerCode": "c1",
            "addresses": {"singleLocation": {"country": "DE"}},
            "lines": [{"amount": "10.00", "taxability": "full"}],
        },
    )

    assert error["code"] == "JsonFormatError" and "'taxability'" in error["message"]
    assert avatax.transactions == []


def test_the_sandbox_refuses_a_value_outside_avatax_s_enums(avatax: AvaTaxSandbox) -> None:
    error = raw_error(
        avatax,
        {
            "type": "RefundInvoice",
            "date": "2026-11-27",
            "customerCode": "c1",
            "addresses": {"singleLocation": {"country": "DE"}},
            "lines": [{"amount": "10.00"}],
        },
    )

    assert error["code"] == "InvalidEnumValue" and error["target"] == "IncorrectData"
    assert avatax.transactions == []


def raw_error(avatax: AvaTaxSandbox, body: dict[str, Any]) -> dict[str, Any]:
    import base64
    import json
    import urllib.error
    import urllib.request

    token = base64.b64encode(f"{ACCOUNT_ID}:{LICENSE_KEY}".encode()).decode()
    request = urllib.request.Request(
        avatax.url + "/api/v2/transactions/create",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(request, timeout=10)
    return json.loads(caught.value.read())["error"]


def test_the_sandbox_s_errors_and_answers_are_avatax_s_models(avatax: AvaTaxSandbox) -> None:
    from localcloud.sandboxes.avatax import contract

    models, enums = contract()["models"], contract()["enums"]
    error = raw_error(
        avatax,
        {"date": "2026-11-27", "customerCode": "c1", "lines": [{"amount": "1", "invented": True}]},
    )
    assert error["code"] == "JsonFormatError" and "invented" in error["message"]
    assert set(error) <= set(models["ErrorInfo"]) and error["code"] in enums["ErrorCodeId"]
    assert error["target"] in enums["ErrorTargetCode"]
    assert all(set(d) <= set(models["ErrorDetail"]) for d in error["details"])

    give_back(connector(avatax))
    [document] = avatax.documents
    assert set(document) <= set(models["TransactionModel"])
    for line in document["lines"]:
        assert set(line) <= set(models["TransactionLineModel"])
        assert all(set(detail) <= set(models["TransactionLineDetailModel"]) for detail in line["details"])
    assert document["type"] in enums["DocumentType"] and document["status"] in enums["DocumentStatus"]
