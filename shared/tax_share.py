"""A refund's tax share: how much of a tax-inclusive refund is tax, and how it spreads over the invoice's lines.

Stripe refunds an amount of what it charged, and it charged the invoice's total, tax included. The tax in a
refund is the invoice's tax in proportion to what has been refunded, counted cumulatively so that rounding never
accumulates: after refunds totalling ``C`` of an invoice of ``G`` with tax ``T``, the tax reversed so far is
``T x C / G`` rounded half up to the minor unit, and each refund takes what that adds to the tax already
reversed. So a full refund (or the refund that completes a series) reverses exactly the invoice's tax — the
rounding residue lands on it — and refunds together never reverse more than the invoice's tax. All amounts are
in minor units of the invoice's currency.
"""

from __future__ import annotations

from collections.abc import Sequence


def _half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for ``numerator >= 0 < denominator``."""
    return (2 * numerator + denominator) // (2 * denominator)


def refund_tax_share(
    *, gross: int, tax: int, credited_before: int, tax_credited_before: int, amount: int
) -> int:
    """The tax in a refund of ``amount`` (tax included) of an invoice of ``gross`` (tax included) whose tax is
    ``tax``, when ``credited_before`` (with ``tax_credited_before`` of tax) was credited already."""
    if gross <= 0 or tax < 0 or tax > gross:
        raise ValueError("an invoice has a positive total and a tax between 0 and that total")
    if amount <= 0:
        raise ValueError("a refund is positive")
    if credited_before < 0 or tax_credited_before < 0:
        raise ValueError("what was credited before is not negative")
    # credit beyond the invoice's total (a chargeback of the whole charge after a partial refund) has no tax
    # left to reverse: the cumulative proportion stops at the whole invoice
    target = _half_up(tax * min(credited_before + amount, gross), gross)
    return max(0, min(target - tax_credited_before, tax - tax_credited_before, amount))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` in proportion to non-negative ``weights``: each part rounded down, the residue on the last
    line that has a weight (on the last line when none has)."""
    if not weights:
        raise ValueError("nothing to allocate to")
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate a non-negative total by non-negative weights")
    whole = sum(weights)
    if whole == 0:
        return [0] * (len(weights) - 1) + [total]
    parts = [total * w // whole for w in weights]
    last = max(n for n, w in enumerate(weights) if w)
    parts[last] += total - sum(parts)
    return parts


def split_refund(lines: Sequence[tuple[int, int]], amount: int, tax_share: int) -> list[tuple[int, int]]:
    """(net, tax) of the refund per invoice line, for invoice lines of (net, tax): the net part of the refund
    in proportion to the lines' net amounts, its tax share in proportion to the lines' tax."""
    if not 0 <= tax_share <= amount:
        raise ValueError("the tax share is part of the refund")
    nets = allocate(amount - tax_share, [max(net, 0) for net, _ in lines])
    taxes = allocate(tax_share, [max(tax, 0) for _, tax in lines])
    return list(zip(nets, taxes, strict=True))
