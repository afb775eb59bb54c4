from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.money import Money, from_major, from_stripe, minor_unit_exponent, to_stripe


@pytest.mark.parametrize(
    ("currency", "exponent"), [("USD", 2), ("eur", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3)]
)
def test_minor_unit_exponent_follows_iso_4217(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


def test_money_formats_zero_and_three_decimal_currencies() -> None:
    assert Money.of(50000, "JPY").format() == "50000 JPY"
    assert Money.of(12340, "KWD").format() == "12.340 KWD"
    assert Money.of(125000, "usd").format() == "1250.00 USD"


def test_a_float_never_holds_money() -> None:
    with pytest.raises(ValidationError):
        Money(amount=12.5, currency="USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of(12.0, "USD")  # type: ignore[arg-type]


def test_from_major_refuses_precision_the_currency_does_not_have() -> None:
    assert from_major("12.34", "USD") == Money.of(1234, "USD")
    assert from_major("1.234", "KWD") == Money.of(1234, "KWD")
    with pytest.raises(ValueError, match="precision"):
        from_major("12.5", "JPY")


def test_stripe_two_decimal_representation_of_isk_is_converted() -> None:
    assert from_stripe(500, "isk") == Money.of(5, "ISK")
    assert to_stripe(Money.of(5, "ISK")) == 500
    with pytest.raises(ValueError):
        from_stripe(550, "isk")


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "KWD", "CLF", "EUR"]),
)
def test_major_minor_round_trip_never_loses_a_minor_unit(amount: int, currency: str) -> None:
    money = Money.of(amount, currency)
    assert from_major(money.to_decimal(), currency) == money
    assert isinstance(money.to_decimal(), Decimal)


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    currency=st.sampled_from(["usd", "jpy", "kwd", "isk", "ugx"]),
)
def test_stripe_round_trip(amount: int, currency: str) -> None:
    money = Money.of(amount, currency)
    assert from_stripe(to_stripe(money), currency) == money
