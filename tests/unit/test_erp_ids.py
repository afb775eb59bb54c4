"""The ERP external ids (``shared.order_to_cash.erp_ids``): what the writers book is what reconciliation looks
up, for every kind of record it checks. A deal is booked through the real steps and bookings into an ERP that
keeps records by the external id they were written under; reconciliation of that day then finds every one of
them (a slip in one id would show as ``missing_in_erp`` or ``paid_not_applied``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.crm.models import Address
from shared.events.payments import RefundSucceeded
from shared.money import Money
from shared.order_to_cash import erp_ids
from shared.order_to_cash.bookings import ORDER_METADATA_KEY, book_refund, deposit_payout
from shared.order_to_cash.reconciliation import reconcile
from shared.order_to_cash.steps import apply_payment, create_invoice, create_sales_order
from shared.outbound.netsuite import OrderLine
from tests.unit.crm_fixtures import opportunity
from tests.unit.test_after_sale_waits import Tax

DAY = date(2026, 11, 27)
EUR = "EUR"


@dataclass
class Ref:
    id: str
    external_id: str
    document_number: str | None = None


@dataclass
class Payment:
    id: str
    amount: Money
    exchange_rate: Decimal | None = None


class BookingErp:
    """Keeps each record under the (type, external id) it was written with, its total in major units."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}

    def _write(self, record_type: str, external_id: str, total: Money, **fields: Any) -> Ref:
        record_id = str(len(self.records) + 1)
        major = Decimal(total.amount) / 100
        self.records[(record_type, external_id)] = {
            "id": record_id,
            "externalId": external_id,
            "total": str(major),
            **fields,
        }
        return Ref(record_id, external_id)

    def _by_id(self, record_id: str) -> dict[str, Any]:
        return next(r for r in self.records.values() if r["id"] == record_id)

    def get_by_external_id(self, record_type: str, external_id: str, *, expand: bool = False) -> Any:
        return self.records.get((record_type, external_id))

    def get(self, record_type: str, record_id: str) -> dict[str, Any]:
        return self._by_id(record_id)

    # quote to cash
    def upsert_sales_order(self, external_id: str, *, lines: list[OrderLine], currency: str, **_: Any) -> Ref:
        total = sum(line.amount.amount + line.tax.amount for line in lines)
        return self._write("salesOrder", external_id, Money.of(total, currency))

    def activate_sales_order(self, order_id: str) -> None:
        pass

    def invoice_sales_order(self, order_id: str, *, external_id: str, **_: Any) -> Ref:
        order = self._by_id(order_id)
        total = Money.of(int(Decimal(order["total"]) * 100), EUR)
        return self._write("invoice", external_id, total, status={"id": "A"}, tranDate=DAY.isoformat())

    def invoice_with_lines(self, invoice_id: str) -> tuple[dict[str, Any], list[OrderLine]]:
        return self._by_id(invoice_id), []

    def apply_customer_payment(self, external_id: str, *, amount: Money, **_: Any) -> Ref:
        return self._write("customerPayment", external_id, amount)

    def customer_payment(self, external_id: str) -> Payment | None:
        record = self.records.get(("customerPayment", external_id))
        if record is None:
            return None
        return Payment(record["id"], Money.of(int(Decimal(record["total"]) * 100), EUR))

    # after sale
    def credit_invoice(self, invoice_id: str, *, external_id: str, amount: Money, **_: Any) -> Ref:
        return self._write("creditMemo", external_id, amount)

    def refund_credit_memo(self, credit_id: str, *, external_id: str, amount: Money, **_: Any) -> Ref:
        return self._write("customerRefund", external_id, amount)

    def credit_memo_lines(self, credit_id: str) -> list[OrderLine]:
        credit = self._by_id(credit_id)
        amount = Money.of(int(Decimal(credit["total"]) * 100), EUR)
        return [OrderLine(quantity=1, rate=amount, amount=amount, tax=Money.of(0, EUR))]

    def tax_customer(self, customer_id: str) -> tuple[str, Address]:
        return "cust", Address(country="DE")

    def upsert_deposit(self, external_id: str, *, total: Money, **_: Any) -> Ref:
        return self._write("deposit", external_id, total)


class Stripe:
    def __init__(self, source: str, order_id: str, captured: int) -> None:
        self.intent = {
            "id": "pi_1",
            "status": "succeeded",
            "amount_received": captured,
            "currency": "eur",
            "metadata": {ORDER_METADATA_KEY: f"{source}:{order_id}"},
        }
        self.payout = {
            "id": "po_1",
            "amount": captured - 50000,
            "currency": "eur",
            "status": "paid",
            "automatic": True,
            "reconciliation_status": "completed",
        }

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return self.intent

    def retrieve_payout(self, payout_id: str) -> dict[str, Any]:
        return self.payout

    def list_balance_transactions(self, **_: Any) -> list[dict[str, Any]]:
        charge = {"id": "ch_1", "payment_intent": "pi_1"}
        return [
            {"id": "txn_1", "type": "charge", "amount": self.intent["amount_received"], "source": charge},
            {"id": "txn_2", "type": "refund", "amount": -50000, "source": "re_1"},
        ]


@pytest.mark.parametrize("source", ["hubspot", "salesforce", "api"])
def test_reconciliation_finds_every_record_the_writers_booked(source: str) -> None:
    # Given a deal booked end to end: order, invoice, payment, a refund and the payout that paid it out
    deal = opportunity(source, "0065g00000C5URp")
    erp, tax = BookingErp(), {"lines": [], "totalTax": {"amount": 0, "currency": EUR}}
    customer = {"erpCustomerId": "7", "subsidiaryId": "2", "externalId": erp_ids.customer(source, "1234567")}
    order = create_sales_order(erp, deal, customer, tax)
    invoice = create_invoice(erp, order)
    stripe = Stripe(source, deal.opportunityId, deal.amount.amount)
    apply_payment(erp, customer, invoice, order, "pi_1")
    refund = RefundSucceeded(
        refundId="re_1", paymentIntentId="pi_1", amount=Money(amount=50000, currency=EUR)
    )
    book_refund(erp, stripe, refund, tax=Tax())
    deposit_payout(erp, stripe, "po_1", "2")
    at = f"{DAY.isoformat()}T10:00:00Z"
    facts = [
        {
            "detailType": "OpportunityClosedWon",
            "occurredAt": at,
            "data": {
                "crmSystem": source,
                "opportunityId": deal.opportunityId,
                "opportunity": deal.dump(),
                "complete": True,
            },
        },
        {
            "detailType": "PaymentCaptured",
            "occurredAt": at,
            "data": {"opportunityId": deal.opportunityId, "paymentIntentId": "pi_1"},
        },
        {"detailType": "RefundSucceeded", "occurredAt": at, "data": refund.dump()},
        {
            "detailType": "PayoutPaid",
            "occurredAt": at,
            "data": {"payoutId": "po_1", "amount": {"amount": stripe.payout["amount"], "currency": EUR}},
        },
    ]

    # When reconciliation checks that day against the ERP and Stripe
    report = reconcile(DAY, facts, erp=erp, payments=stripe)

    # Then it found each record under the id it was written with, and nothing differs
    assert (report.deals, report.payments, report.refunds, report.payouts) == (1, 1, 1, 1)
    assert report.mismatches == []
    # and those are the scheme's ids
    written = {external_id for _, external_id in erp.records}
    assert written == {
        f"{source}-{deal.opportunityId}",
        f"inv-{source}-{deal.opportunityId}",
        "pay-pi_1",
        "cm-re_1",
        "cr-re_1",
        "dep-po_1",
    }


def test_a_customers_external_id_reads_back_as_its_source_and_account() -> None:
    assert erp_ids.customer_of(erp_ids.customer("hubspot", "123-45")) == ("hubspot", "123-45")
    assert erp_ids.customer_of(erp_ids.customer("api", "acme")) == ("api", "acme")
    assert erp_ids.customer_of("legacy") == ("", "")
