"""Stripe's currencies: amounts in Stripe's smallest unit, conversion between currencies, display."""

from __future__ import annotations

from decimal import Decimal

from shared.money import convert, from_stripe, to_stripe

# Stripe's amounts for these ISO zero-decimal currencies are in hundredths (whole units only).
_HUNDREDTHS_ONLY = frozenset({"isk", "ugx"})


def _converted(amount: int, currency: str, rate: Decimal, into: str) -> int:
    """``amount`` (Stripe's smallest unit of ``currency``) times ``rate`` in Stripe's smallest unit of
    ``into``, rounded half up (away from zero: a refund converts to exactly minus its charge at one rate)."""
    magnitude = to_stripe(convert(from_stripe(abs(amount), currency), rate, into))
    return -magnitude if amount < 0 else magnitude


def _format(amount: int, currency: str) -> str:
    try:
        return from_stripe(amount, currency).format()
    except ValueError:
        return f"{amount} {currency.upper()}"
