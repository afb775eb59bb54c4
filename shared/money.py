"""Money: integer amounts in the currency's minor unit, with an ISO 4217 code. No float ever holds money."""

from __future__ import annotations

import re
from dataclasses import field
from decimal import Decimal
from typing import Annotated

from shared.record import Constraint, Record, doc, record

# ISO 4217 minor-unit exponents that differ from the usual 2.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
FOUR_DECIMAL = frozenset({"CLF", "UYW"})

CURRENCY_PATTERN = r"^[A-Z]{3}$"
_CURRENCY = re.compile(CURRENCY_PATTERN)
#: a currency code as a field of a record or of a pydantic model (both honour the constraint)
CurrencyCode = Annotated[str, Constraint(pattern=CURRENCY_PATTERN, description="ISO 4217 alphabetic code")]


def minor_unit_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return 2


@record
class Money(Record):
    """An amount in minor units (cents, yen, fils) and its currency."""

    amount: int = field(metadata=doc("Integer amount in the currency's minor unit", strict=True))
    # the pattern is checked after the code is upper-cased (``__post_init__``), as the schema states it
    currency: str = field(
        metadata=doc("ISO 4217 alphabetic code", json_schema_extra={"pattern": CURRENCY_PATTERN})
    )

    def __post_init__(self) -> None:
        if isinstance(self.currency, str) and not self.currency.isupper():
            object.__setattr__(self, "currency", self.currency.upper())
        super().__post_init__()
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code of three letters, got {self.currency!r}")

    @classmethod
    def of(cls, amount: int, currency: str) -> Money:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("money amounts are integers in minor units")
        return cls(amount=amount, currency=currency)

    def to_decimal(self) -> Decimal:
        """The major-unit value, exact (for display and ERP APIs that want decimals)."""
        return Decimal(self.amount).scaleb(-minor_unit_exponent(self.currency))

    def format(self) -> str:
        exp = minor_unit_exponent(self.currency)
        return f"{self.to_decimal():.{exp}f} {self.currency}"

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise ValueError("cannot add money in different currencies")
        return Money(amount=self.amount + other.amount, currency=self.currency)


def from_major(value: Decimal | str, currency: str) -> Money:
    """Parse a decimal major-unit amount ('12.34') exactly; refuses sub-minor-unit precision."""
    exp = minor_unit_exponent(currency)
    scaled = Decimal(value).scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more precision than {currency} allows ({exp} decimals)")
    return Money(amount=int(scaled), currency=currency)


# --- what each vendor takes (the hub's own knowledge; the vendors' sandboxes check it independently) ---------

# Stripe represents these ISO zero-decimal currencies as two-decimal amounts for backwards compatibility
# (the decimal part is always 00): 5 ISK arrives as 500. Stripe docs, "Special cases".
STRIPE_TWO_DECIMAL_FOR_ZERO_DECIMAL = frozenset({"ISK", "UGX"})
# Stripe treats these ISO two-decimal currencies as zero-decimal: 1,000 MGA is 1000, not 100000.
STRIPE_ZERO_DECIMAL_FOR_TWO_DECIMAL = frozenset({"MGA"})
# Stripe takes three-decimal amounts in these currencies only as multiples of 10 (the last digit 0).
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# A NetSuite currency has 0 or 2 decimals ("Currency Precision"): a three-decimal ISO currency is kept to 2.
NETSUITE_MAX_DECIMALS = 2


def stripe_step(currency: str) -> int:
    """The smallest step, in ISO minor units, of an amount Stripe accepts (KWD 10 fils, MGA 100, else 1)."""
    code = currency.upper()
    if code in STRIPE_THREE_DECIMAL:
        return 10
    if code in STRIPE_ZERO_DECIMAL_FOR_TWO_DECIMAL:
        return 100
    return 1


def erp_step(currency: str) -> int:
    """The smallest step, in ISO minor units, of an amount NetSuite holds (KWD 10 fils: 2 decimals)."""
    return int(10 ** max(minor_unit_exponent(currency) - NETSUITE_MAX_DECIMALS, 0))


def charge_step(currency: str) -> int:
    """The step every vendor accepts: what a deal's total is rounded to before it is booked and charged."""
    from math import lcm

    return lcm(stripe_step(currency), erp_step(currency))


def round_to_step(money: Money, step: int) -> Money:
    """``money`` rounded half away from zero to a multiple of ``step`` minor units."""
    if step <= 1:
        return money
    sign = -1 if money.amount < 0 else 1
    steps, rest = divmod(abs(money.amount), step)
    if rest * 2 >= step:
        steps += 1
    return Money.of(sign * steps * step, money.currency)


def from_stripe(amount: int, currency: str) -> Money:
    """Stripe amount (Stripe's smallest unit) → canonical ISO minor units."""
    code = currency.upper()
    if code in STRIPE_TWO_DECIMAL_FOR_ZERO_DECIMAL:
        if amount % 100:
            raise ValueError(f"Stripe {code} amounts must be whole units (x100), got {amount}")
        return Money.of(amount // 100, code)
    if code in STRIPE_ZERO_DECIMAL_FOR_TWO_DECIMAL:
        return Money.of(amount * 100, code)
    return Money.of(amount, code)


def to_stripe(money: Money) -> int:
    """Canonical ISO minor units → the amount Stripe's API expects. An amount Stripe would refuse (a KWD
    amount not ending in 0 fils, MGA with a fraction) is a ``ValueError``: round with ``charge_step`` first."""
    if money.currency in STRIPE_TWO_DECIMAL_FOR_ZERO_DECIMAL:
        return money.amount * 100
    step = stripe_step(money.currency)
    if money.amount % step:
        raise ValueError(
            f"Stripe takes {money.currency} only in steps of {step} minor units: {money.format()} "
            "must be rounded first (charge_step)"
        )
    if money.currency in STRIPE_ZERO_DECIMAL_FOR_TWO_DECIMAL:
        return money.amount // 100
    return money.amount


def convert(money: Money, rate: Decimal | str | float, currency: str) -> Money:
    """``money`` x ``rate`` in ``currency``, rounded half up to its minor unit — Stripe's and NetSuite's
    convention for an exchange rate quoted in major units (10.00 EUR x 1.234 = 12.34 USD; 1,000 JPY x
    0.0067 = 6.70 USD). A float rate (Stripe's JSON) is read through its shortest repr, never its binary
    value."""
    from decimal import ROUND_HALF_UP

    target = currency.upper()
    exact = Decimal(str(rate)) if isinstance(rate, float) else Decimal(rate)
    if not exact.is_finite() or exact <= 0:
        raise ValueError(f"an exchange rate is positive, got {rate}")
    major = money.to_decimal() * exact
    minor = major.scaleb(minor_unit_exponent(target)).to_integral_value(rounding=ROUND_HALF_UP)
    return Money.of(int(minor), target)
