"""A payout's deposit never loses or invents a minor unit: whatever mix of payments, refunds, dispute
adjustments and fees, the deposit lines add up to the payout exactly — or nothing is booked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.money import Money, convert
from shared.order_to_cash.bookings import NotOurs, NotYetKnown, PayoutNotTied, plan_deposit


@dataclass(frozen=True)
class Payment:
    id: str
    amount: Money
    exchange_rate: Decimal = Decimal(1)


class FakeErp:
    """Customer payments by external id: a set of ids (payments in ``currency``, the payout's), or a map to
    (amount in the payment's currency, the rate the ERP recorded)."""

    def __init__(self, applied: set[str] | dict[str, tuple[Money, Decimal]], currency: str = "USD") -> None:
        self.applied = applied
        self.currency = currency.upper()

    def customer_payment(self, external_id: str) -> Payment | None:
        if external_id not in self.applied:
            return None
        if isinstance(self.applied, dict):
            amount, rate = self.applied[external_id]
            return Payment(external_id.removeprefix("pay-"), amount, rate)
        return Payment(external_id.removeprefix("pay-"), Money.of(1, self.currency))


class FakePayments:
    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return {"id": charge_id, "payment_intent": charge_id.replace("ch_", "pi_")}


txn = st.tuples(
    st.sampled_from(["charge", "refund", "adjustment"]),
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=0, max_value=10**5),
)


def transactions(spec: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    out = []
    for n, (kind, amount, fee) in enumerate(spec):
        signed = amount if kind == "charge" else -amount
        out.append(
            {
                "id": f"txn_{n}",
                "type": kind,
                "amount": signed,
                "fee": fee if kind != "refund" else 0,
                "source": f"ch_{n}" if kind == "charge" else f"re_{n}",
            }
        )
    return out


@settings(max_examples=200, deadline=None)
@given(spec=st.lists(txn, min_size=1, max_size=25), currency=st.sampled_from(["usd", "eur", "jpy", "kwd"]))
def test_deposit_lines_add_up_to_the_payout_to_the_minor_unit(
    spec: list[tuple[str, int, int]], currency: str
) -> None:
    txns = transactions(spec)
    payout_amount = sum(t["amount"] - t["fee"] for t in txns)
    erp = FakeErp({f"pay-pi_{n}" for n, (kind, _, _) in enumerate(spec) if kind == "charge"}, currency)

    plan = plan_deposit(
        erp, FakePayments(), {"id": "po_1", "amount": payout_amount, "currency": currency}, txns
    )

    lines = [m for _, m in plan.payments] + [m for _, m in plan.other]
    assert sum(m.amount for m in lines) == payout_amount == plan.total.amount
    assert {m.currency for m in lines} <= {currency.upper()}
    assert plan.fees.amount == sum(t["fee"] for t in txns)
    # each payment is deposited at what it captured; nothing is converted within one currency
    assert [m.amount for _, m in plan.payments] == [t["amount"] for t in txns if t["type"] == "charge"]
    assert plan.exchange_difference is None and plan.conversion_fees is None


rate = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("500"), places=6)


@settings(max_examples=200, deadline=None)
@given(
    charges=st.lists(
        st.tuples(st.integers(min_value=1, max_value=10**9), rate, st.booleans()), min_size=1, max_size=20
    ),
    charge_currency=st.sampled_from(["JPY", "EUR", "KWD", "GBP"]),
    payout_currency=st.sampled_from(["USD", "BHD", "JPY"]),
)
def test_converted_payments_deposit_at_their_booked_amount_and_the_rest_is_exchange_difference(
    charges: list[tuple[int, Decimal, bool]], charge_currency: str, payout_currency: str
) -> None:
    """Stripe converted each charge at its rate; the ERP recorded the payment at Stripe's rate or at its
    own. Whatever the rates, exponents and rounding, the deposit is the payout to the minor unit."""
    if charge_currency == payout_currency:
        return
    txns, applied = [], {}
    for n, (amount, stripe_rate, same_rate) in enumerate(charges):
        charged = Money.of(amount, charge_currency)
        settled = convert(charged, stripe_rate, payout_currency)
        fee = settled.amount // 30
        conversion_fee = settled.amount // 100
        txns.append(
            {
                "id": f"txn_{n}",
                "type": "charge",
                "amount": settled.amount,
                "currency": payout_currency.lower(),
                "exchange_rate": float(stripe_rate),
                "fee": fee + conversion_fee,
                "fee_details": [
                    {"amount": fee, "description": "Stripe processing fees", "type": "stripe_fee"},
                    {
                        "amount": conversion_fee,
                        "description": "Currency conversion fee",
                        "type": "stripe_fee",
                    },
                ],
                "source": f"ch_{n}",
            }
        )
        applied[f"pay-pi_{n}"] = (charged, stripe_rate if same_rate else stripe_rate * Decimal("1.01"))
    payout = sum(t["amount"] - t["fee"] for t in txns)

    plan = plan_deposit(
        FakeErp(applied), FakePayments(), {"id": "po_1", "amount": payout, "currency": payout_currency}, txns
    )

    lines = [m for _, m in plan.payments] + [m for _, m in plan.other]
    assert sum(m.amount for m in lines) == payout == plan.total.amount
    assert {m.currency for m in lines} == {payout_currency}
    for payment_id, booked in plan.payments:
        charged, erp_rate = applied[f"pay-{payment_id}"]
        assert booked == convert(charged, erp_rate, payout_currency)  # what the ERP's books say it is
    settled_total = sum(t["amount"] for t in txns)
    assert (
        sum(m.amount for _, m in plan.payments)
        + (plan.exchange_difference or Money.of(0, payout_currency)).amount
        == settled_total
    )
    assert plan.conversion_fees == (
        Money.of(sum(t["fee_details"][1]["amount"] for t in txns), payout_currency)
        if any(t["fee_details"][1]["amount"] for t in txns)
        else None
    )
    assert plan.fees.amount == sum(t["fee"] for t in txns)


def test_a_payment_booked_at_stripes_rate_needs_no_exchange_difference() -> None:
    charged = Money.of(123_456, "JPY")
    settled = convert(charged, Decimal("0.0067"), "USD")
    txns = [
        {
            "id": "txn_0",
            "type": "charge",
            "amount": settled.amount,
            "fee": 0,
            "exchange_rate": 0.0067,
            "source": "ch_0",
        }
    ]
    plan = plan_deposit(
        FakeErp({"pay-pi_0": (charged, Decimal("0.0067"))}),
        FakePayments(),
        {"id": "po_1", "amount": settled.amount, "currency": "usd"},
        txns,
    )
    assert plan.payments == [("pi_0", Money.of(82_716, "USD"))] and plan.other == []
    assert plan.exchange_difference is None and plan.conversion_fees is None


def test_a_payout_that_does_not_tie_out_is_refused() -> None:
    txns = transactions([("charge", 10_000, 320)])
    with pytest.raises(PayoutNotTied) as caught:
        plan_deposit(
            FakeErp({"pay-pi_0"}, "usd"),
            FakePayments(),
            {"id": "po_1", "amount": 9_681, "currency": "usd"},
            txns,
        )
    assert (caught.value.expected, caught.value.actual) == (Money.of(9_681, "USD"), Money.of(9_680, "USD"))


def test_a_payout_before_its_payments_are_applied_waits() -> None:
    txns = transactions([("charge", 10_000, 320)])
    with pytest.raises(NotYetKnown) as caught:
        plan_deposit(FakeErp(set()), FakePayments(), {"id": "po_1", "amount": 9_680, "currency": "usd"}, txns)
    assert caught.value.awaiting == "payment:pi_0"  # released when that payment is applied


def test_an_object_the_payment_platform_does_not_know_is_not_ours() -> None:
    from shared.errors import NotFound
    from shared.order_to_cash.bookings import known

    def missing(_id: str) -> dict[str, Any]:
        raise NotFound("no such payout", status=404)

    with pytest.raises(NotOurs):
        known(missing, "po_missing")
