"""A refund's tax share: proportional to the invoice's tax, cumulative, never more than the invoice's tax, and the
whole tax when the invoice is refunded in full (the rounding residue on the refund that completes it)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.tax_share import allocate, refund_tax_share, split_refund


def _refund_all(gross: int, tax: int, amounts: list[int]) -> list[int]:
    credited = tax_credited = 0
    shares = []
    for amount in amounts:
        share = refund_tax_share(
            gross=gross, tax=tax, credited_before=credited, tax_credited_before=tax_credited, amount=amount
        )
        shares.append(share)
        credited += amount
        tax_credited += share
    return shares


@st.composite
def invoices_and_refunds(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    net = draw(st.integers(min_value=1, max_value=10_000_000))
    tax = draw(st.integers(min_value=0, max_value=net))
    gross = net + tax
    cuts: list[int] = []
    if gross > 1:
        inner = st.integers(min_value=1, max_value=gross - 1)
        cuts = sorted(draw(st.lists(inner, max_size=8, unique=True)))
    full = draw(st.booleans())
    bounds = [0, *cuts, gross]
    amounts = [b - a for a, b in itertools.pairwise(bounds)]
    if not full:
        amounts = amounts[: draw(st.integers(min_value=1, max_value=len(amounts)))]
        if sum(amounts) == gross:
            amounts = amounts[:-1] or [gross]
    return gross, tax, amounts


def test_a_partial_refund_of_a_taxed_invoice_carries_its_share_of_the_tax() -> None:
    # 1000.00 EUR + 190.00 VAT; 119.00 back is a tenth: 19.00 of it is VAT
    assert (
        refund_tax_share(gross=119000, tax=19000, credited_before=0, tax_credited_before=0, amount=11900)
        == 1900
    )


def test_three_thirds_reverse_exactly_the_invoice_s_tax_with_the_residue_on_the_last() -> None:
    # 100.00 + 8.25 tax refunded as 36.08 + 36.08 + 36.09
    assert _refund_all(10825, 825, [3608, 3608, 3609]) == [275, 275, 275]
    # 10.00 + 0.01 tax: a cent cannot be split; it goes with the refund that passes half of the invoice
    assert _refund_all(1001, 1, [333, 334, 334]) == [0, 1, 0]


@given(invoices_and_refunds())
def test_refunds_never_reverse_more_than_the_invoice_s_tax_and_a_full_refund_reverses_all_of_it(
    case: tuple[int, int, list[int]],
) -> None:
    gross, tax, amounts = case
    shares = _refund_all(gross, tax, amounts)
    assert sum(shares) <= tax
    assert all(0 <= share <= amount for share, amount in zip(shares, amounts, strict=True))
    if sum(amounts) == gross:
        assert sum(shares) == tax
    # each refund's tax is its proportion of the invoice's tax to within one minor unit
    for share, amount in zip(shares, amounts, strict=True):
        assert abs(share * gross - amount * tax) < gross


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**7), st.integers(min_value=0, max_value=10**6)),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=10**7),
    st.data(),
)
def test_a_refund_spreads_over_the_invoice_s_lines_to_the_minor_unit(
    lines: list[tuple[int, int]], amount: int, data: st.DataObject
) -> None:
    tax_share = data.draw(st.integers(min_value=0, max_value=amount))
    parts = split_refund(lines, amount, tax_share)
    assert sum(net for net, _ in parts) == amount - tax_share
    assert sum(tax for _, tax in parts) == tax_share
    assert all(net >= 0 and tax >= 0 for net, tax in parts)


def test_allocate_puts_the_residue_on_the_last_weighted_line() -> None:
    assert allocate(100, [1, 1, 1]) == [33, 33, 34]
    assert allocate(100, [1, 1, 0]) == [50, 50, 0]
    assert allocate(7, [0, 0]) == [0, 7]


def test_credit_beyond_the_invoice_s_total_reverses_no_more_tax() -> None:
    # 600.00 (with 60.00 tax) refunded, then the bank takes back the whole 1000.00 in a chargeback: only the
    # 40.00 of tax left is reversed
    share = refund_tax_share(gross=1000, tax=100, credited_before=600, tax_credited_before=60, amount=1000)
    assert share == 40
    assert refund_tax_share(gross=1000, tax=100, credited_before=1000, tax_credited_before=100, amount=5) == 0


def test_a_refund_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        refund_tax_share(gross=1000, tax=100, credited_before=0, tax_credited_before=0, amount=0)
