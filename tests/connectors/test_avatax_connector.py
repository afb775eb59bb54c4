"""AvaTax over HTTP against the AvaTax sandbox: the transactions/create request, tax per line and in total
exactly in the currency's minor units, Basic auth, errors and retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from shared.connectors import AuthError, InvalidRecord, TransientError
from shared.connectors.avatax import AvaTax, LineTax, TaxLine, TaxResult, basic
from shared.connectors.http import JsonHttp
from shared.crm.models import Address
from shared.money import Money, from_major
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
    from shared.connectors.avatax import _result

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
