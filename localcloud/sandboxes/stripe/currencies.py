"""Stripe's currencies: amounts in Stripe's smallest unit, conversion between currencies, display.

Stripe's own lists (https://docs.stripe.com/currencies: "Zero-decimal currencies", "Three-decimal
currencies", "Special cases"), not ISO 4217's: every other currency is two-decimal; MGA is zero-decimal at
Stripe; ISK and UGX are zero-decimal, but Stripe's API amounts for them are in hundredths, whole units only
(5 ISK is ``500``). Kept here rather than imported from the hub: the sandbox witnesses Stripe on its own.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "isk",  # a "special case": zero-decimal, amounts in hundredths (see _HUNDREDTHS_ONLY)
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Stripe's minimum charge amounts ("Minimum and maximum charge amounts", in the smallest unit), for the
# currencies Stripe lists; a charge in another currency must come to at least 0.50 USD after conversion,
# which the sandbox does not check (it has no rates for it).
MINIMUM_CHARGE = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
# Stripe's amounts for these zero-decimal currencies are in hundredths (whole units only).
_HUNDREDTHS_ONLY = frozenset({"isk", "ugx"})


def decimals(currency: str) -> int:
    """Decimal places of the currency's smallest real unit at Stripe (JPY 0, USD 2, KWD 3)."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def major(amount: int, currency: str) -> Decimal:
    """An API ``amount`` (Stripe's smallest unit) in major units, exact. ``ValueError`` for an ISK or UGX
    amount that is not whole units."""
    units = amount
    if currency.lower() in _HUNDREDTHS_ONLY:
        if amount % 100:
            raise ValueError(f"Stripe {currency.upper()} amounts must be whole units (x100), got {amount}")
        units = amount // 100
    return Decimal(units).scaleb(-decimals(currency))


def amount_error(amount: int, currency: str) -> str | None:
    """Why Stripe refuses ``amount`` in ``currency`` for a payment, a capture or a refund, or None.
    Three-decimal currencies: "these API calls require the least-significant (last) digit to be 0. Your
    integration must round amounts to the nearest ten" (5.124 KWD is 5120 or 5130); ISK and UGX: whole
    units, in hundredths."""
    code = currency.lower()
    if code in THREE_DECIMAL and amount % 10:
        return (
            f"Invalid amount: {amount}. {code.upper()} is a three-decimal currency, and Stripe requires the last "
            f"digit of its amounts to be 0: round to the nearest ten ({amount - amount % 10} or "
            f"{amount - amount % 10 + 10})."
        )
    if code in _HUNDREDTHS_ONLY and amount % 100:
        return f"Amounts in {code.upper()} must be whole units: a multiple of 100."
    return None


def _converted(amount: int, currency: str, rate: Decimal, into: str) -> int:
    """``amount`` (Stripe's smallest unit of ``currency``) times ``rate`` in Stripe's smallest unit of
    ``into``, rounded half up (away from zero: a refund converts to exactly minus its charge at one rate)."""
    value = major(abs(amount), currency) * rate
    units = int(value.scaleb(decimals(into)).to_integral_value(rounding=ROUND_HALF_UP))
    magnitude = units * 100 if into.lower() in _HUNDREDTHS_ONLY else units
    return -magnitude if amount < 0 else magnitude


def _format(amount: int, currency: str) -> str:
    """``amount`` for an error message: ``12.34 USD``, ``5 ISK`` (``500``)."""
    code = currency.upper()
    try:
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(code)
        return f"{major(amount, currency):.{decimals(currency)}f} {code}"
    except ValueError:
        return f"{amount} {code}"
