"""Turning the vendors' loosely typed values (strings, JSON numbers parsed as Decimal) into the hub's
types, exactly. Every failure is an ``InvalidRecord`` naming the field, never a silent default."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from shared.errors import InvalidRecord
from shared.money import Money, from_major

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def text(value: object) -> str | None:
    """A non-empty stripped string, or None (vendors send "" and null for 'not set')."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def decimal(value: object, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):  # never produced by JsonHttp (parse_float=Decimal); refuse to guess
        raise InvalidRecord(f"{field}: float values are not accepted for money or quantities")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidRecord(f"{field}: {value!r} is not a number") from None
    if not result.is_finite():
        raise InvalidRecord(f"{field}: {value!r} is not a finite number")
    return result


def currency(value: object, field: str) -> str | None:
    code = text(value)
    if code is None:
        return None
    if not _CURRENCY.match(code):
        raise InvalidRecord(f"{field}: {code!r} is not an ISO 4217 code")
    return code.upper()


def money(value: Decimal, currency_code: str, field: str) -> Money:
    try:
        return from_major(value, currency_code)
    except ValueError as exc:
        raise InvalidRecord(f"{field}: {exc}") from None


def quantity(value: object, field: str) -> int:
    amount = decimal(value, field)
    if amount is None:
        raise InvalidRecord(f"{field}: missing")
    if amount != amount.to_integral_value() or amount < 0:
        raise InvalidRecord(f"{field}: {value!r} is not a whole, non-negative quantity")
    return int(amount)


def day(value: object, field: str) -> date | None:
    """A date from '2026-11-27', an ISO timestamp ('2026-11-27T10:15:00.000Z') or epoch milliseconds."""
    raw = text(value)
    if raw is None:
        return None
    try:
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, tz=UTC).date()
        if "T" in raw:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC).date()
        return date.fromisoformat(raw)
    except (ValueError, OverflowError):
        raise InvalidRecord(f"{field}: {raw!r} is not a date") from None


def priced_line(
    raw_quantity: object,
    raw_price: object,
    raw_amount: object,
    currency: str,
    *,
    fields: tuple[str, str, str],
) -> tuple[int, Money, Money]:
    """A CRM line's quantity, unit price and amount (``fields``: the vendor's names for the three, for the
    errors). The price is required; an amount the CRM left out is quantity times price."""
    quantity_field, price_field, amount_field = fields
    count = quantity(raw_quantity, quantity_field)
    price = decimal(raw_price, price_field)
    if price is None:
        raise InvalidRecord(f"{price_field}: missing")
    unit_price = money(price, currency, price_field)
    total = decimal(raw_amount, amount_field)
    if total is None:
        return count, unit_price, Money.of(unit_price.amount * count, currency)
    return count, unit_price, money(total, currency, amount_field)


def cadence(value: object, frequencies: Mapping[str, tuple[str, int]], field: str) -> tuple[str, int] | None:
    """A CRM billing frequency as Stripe's (interval, interval_count); None when the line has none (a one-time
    line). A frequency Stripe cannot bill (not in ``frequencies``) is refused."""
    frequency = text(value)
    if frequency is None:
        return None
    if frequency not in frequencies:
        raise InvalidRecord(f"{field}: {frequency!r} cannot be billed by Stripe")
    return frequencies[frequency]
