"""A paid subscription cycle is booked as an ERP invoice for its service period; a cycle whose Stripe invoice
names no period is refused before anything is written (the ERP port takes a period's dates, never None)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import InvalidRecord
from shared.events.payments import BillingInvoicePaid
from shared.money import Money
from shared.order_to_cash.bookings import book_renewal


class Payments:
    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return {"id": customer_id, "metadata": {"o2c_erp_customer_id": "77"}}


class Erp:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append(name)

        return record


def paid(**period: str) -> BillingInvoicePaid:
    return BillingInvoicePaid.parse(
        {
            "billingReason": "subscription_cycle",
            "billingInvoiceId": "in_1",
            "paymentIntentId": "pi_1",
            "paymentCustomerId": "cus_1",
            "subscriptionId": "sub_1",
            "amountPaid": Money.of(5000, "EUR"),
            **period,
        }
    )


@pytest.mark.parametrize(
    "period", [{}, {"periodStart": "2026-11-01T00:00:00+00:00"}, {"periodEnd": "2026-12-01T00:00:00+00:00"}]
)
def test_a_cycle_without_its_service_period_is_refused_and_nothing_is_booked(period: dict[str, str]) -> None:
    erp = Erp()
    with pytest.raises(InvalidRecord, match="in_1 names no service period"):
        book_renewal(erp, Payments(), lambda system: None, paid(**period), "1")
    assert erp.calls == []
