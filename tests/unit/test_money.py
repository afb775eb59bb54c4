from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import (
    Money,
    charge_step,
    erp_step,
    from_major,
    from_stripe,
    minor_unit_exponent,
    round_to_step,
    stripe_step,
    to_stripe,
)


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
    with pytest.raises(ValueError, match="amount"):
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
    currency=st.sampled_from(["usd", "jpy", "kwd", "isk", "ugx", "mga"]),
)
def test_stripe_round_trip(amount: int, currency: str) -> None:
    # every amount the hub can send (rounded to Stripe's step) comes back as it went
    money = round_to_step(Money.of(amount, currency), stripe_step(currency))
    assert from_stripe(to_stripe(money), currency) == money


# --- what each vendor takes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "stripe", "erp", "charge"),
    [("USD", 1, 1, 1), ("JPY", 1, 1, 1), ("KWD", 10, 10, 10), ("BHD", 10, 10, 10), ("MGA", 100, 1, 100)],
)
def test_each_vendor_s_step_and_the_step_a_charge_is_rounded_to(
    currency: str, stripe: int, erp: int, charge: int
) -> None:
    assert (stripe_step(currency), erp_step(currency), charge_step(currency)) == (stripe, erp, charge)


def test_rounding_to_a_step_is_half_away_from_zero() -> None:
    kwd = lambda fils: Money.of(fils, "KWD")  # noqa: E731
    assert [round_to_step(kwd(f), 10).amount for f in (123454, 123455, 123456, 123460, -5, -4)] == [
        123450,
        123460,
        123460,
        123460,
        -10,
        0,
    ]


def test_the_hub_never_sends_stripe_an_amount_it_refuses() -> None:
    # a three-decimal amount not ending in 0 is refused before Stripe sees it; one ending in 0 passes
    with pytest.raises(ValueError, match="steps of 10"):
        to_stripe(Money.of(123456, "KWD"))
    assert to_stripe(Money.of(123460, "KWD")) == 123460
    # Stripe takes MGA as zero-decimal: 1,000.00 MGA is 1000, and a fraction of an ariary cannot be sent
    assert to_stripe(Money.of(100000, "MGA")) == 1000
    assert from_stripe(1000, "MGA") == Money.of(100000, "MGA")
    with pytest.raises(ValueError):
        to_stripe(Money.of(100050, "MGA"))
