"""Converting money between currencies (Stripe's exchange_rate, the ERP's exchangeRate) never loses or
invents a minor unit beyond the one rounding it must do, whatever the exponents on either side."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import Money, convert, minor_unit_exponent

CURRENCIES = ["USD", "EUR", "JPY", "KRW", "KWD", "BHD", "CLF"]
rates = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6)


def test_stripes_documented_example_and_zero_decimal_currencies() -> None:
    assert convert(Money.of(1000, "EUR"), "1.234", "USD") == Money.of(1234, "USD")  # 10.00 EUR → 12.34 USD
    assert convert(Money.of(1000, "JPY"), 0.0067, "USD") == Money.of(670, "USD")  # ¥1,000 → 6.70 USD
    assert convert(Money.of(1000, "USD"), "149.5", "JPY") == Money.of(1495, "JPY")  # 10.00 USD → ¥1,495
    assert convert(Money.of(1, "KWD"), "3.25", "USD") == Money.of(0, "USD")  # 0.001 KWD is 0.00325 USD


def test_a_float_rate_is_read_as_written_not_as_its_binary_value() -> None:
    # 1.005 is 1.00499999... in binary: 1.00 USD at that rate would round down to 1.00 EUR
    assert convert(Money.of(100, "USD"), 1.005, "EUR") == Money.of(101, "EUR")


@pytest.mark.parametrize("rate", ["0", "-1.2", "NaN", "Infinity"])
def test_a_rate_that_is_not_positive_and_finite_is_refused(rate: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        convert(Money.of(100, "EUR"), rate, "USD")


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    rate=rates,
    source=st.sampled_from(CURRENCIES),
    target=st.sampled_from(CURRENCIES),
)
def test_conversion_is_the_exact_product_rounded_half_up_and_mirrors_for_refunds(
    amount: int, rate: Decimal, source: str, target: str
) -> None:
    converted = convert(Money.of(amount, source), rate, target)
    exact = Decimal(amount).scaleb(-minor_unit_exponent(source)) * rate
    # never more than half a minor unit of the target away from the exact value
    assert abs(Decimal(converted.amount).scaleb(-minor_unit_exponent(target)) - exact) <= Decimal(
        "0.5"
    ).scaleb(-minor_unit_exponent(target))
    # a refund converts to exactly minus its charge at the same rate: nothing appears from rounding
    assert convert(Money.of(-amount, source), rate, target).amount == -converted.amount
    assert converted.currency == target


@given(amount=st.integers(min_value=-(10**12), max_value=10**12), currency=st.sampled_from(CURRENCIES))
def test_a_rate_of_one_within_a_currency_changes_nothing(amount: int, currency: str) -> None:
    assert convert(Money.of(amount, currency), Decimal(1), currency) == Money.of(amount, currency)
