"""A payout's deposit never loses or invents a minor unit: whatever mix of payments, refunds, dispute
adjustments and fees, the deposit lines add up to the payout exactly — or nothing is booked."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.money import Money
from shared.o2c.after_sale import NotOurs, NotYetKnown, PayoutNotTied, plan_deposit


class FakeErp:
    def __init__(self, applied: set[str]) -> None:
        self.applied = applied

    def get_by_external_id(self, record_type: str, external_id: str) -> dict[str, Any] | None:
        assert record_type == "customerPayment"
        return {"id": external_id.removeprefix("pay-")} if external_id in self.applied else None


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
    erp = FakeErp({f"pay-pi_{n}" for n, (kind, _, _) in enumerate(spec) if kind == "charge"})

    plan = plan_deposit(
        erp, FakePayments(), {"id": "po_1", "amount": payout_amount, "currency": currency}, txns
    )

    lines = [m for _, m in plan.payments] + [m for _, m in plan.other]
    assert sum(m.amount for m in lines) == payout_amount == plan.total.amount
    assert {m.currency for m in lines} <= {currency.upper()}
    assert plan.fees.amount == sum(t["fee"] for t in txns)


def test_a_payout_that_does_not_tie_out_is_refused() -> None:
    txns = transactions([("charge", 10_000, 320)])
    with pytest.raises(PayoutNotTied) as caught:
        plan_deposit(
            FakeErp({"pay-pi_0"}), FakePayments(), {"id": "po_1", "amount": 9_681, "currency": "usd"}, txns
        )
    assert (caught.value.expected, caught.value.actual) == (Money.of(9_681, "USD"), Money.of(9_680, "USD"))


def test_a_payout_before_its_payments_are_applied_waits() -> None:
    txns = transactions([("charge", 10_000, 320)])
    with pytest.raises(NotYetKnown):
        plan_deposit(FakeErp(set()), FakePayments(), {"id": "po_1", "amount": 9_680, "currency": "usd"}, txns)


def test_an_object_the_payment_platform_does_not_know_is_not_ours() -> None:
    from shared.connectors.errors import NotFound
    from shared.o2c.after_sale import known

    def missing(_id: str) -> dict[str, Any]:
        raise NotFound("no such payout", status=404)

    with pytest.raises(NotOurs):
        known(missing, "po_missing")
