"""After the sale: refunds booked in the ERP, refunds the hub initiates, payouts deposited to the cent.

Every ERP write carries an external id derived from the payment platform's id (``cm-re_...``,
``cr-re_...``, ``dep-po_...``), so redeliveries and retries after an ERP outage never book twice. A fact
that arrives before what it depends on (a refund before its invoice, a payout before its payments are
applied) raises ``NotYetKnown``: the consumer's queue retries it until the missing fact has arrived, and
parks it in the DLQ (visible, redrivable) if it never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.money import Money, from_stripe


class NotYetKnown(Exception):
    """A fact this one depends on has not reached the ERP yet; retry later."""


class PayoutNotTied(Exception):
    """The payout's balance transactions do not add up to the payout: an exception for a person."""

    def __init__(self, message: str, *, expected: Money, actual: Money) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


def deal_of(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(crm, opportunity id) from the metadata the hub writes on payment objects."""
    correlation = str(metadata.get("o2c_correlation_id") or "")
    crm, _, opportunity = correlation.partition(":")
    if crm in {"hubspot", "salesforce"} and opportunity:
        return crm, opportunity
    return None


def invoice_external_id(crm: str, opportunity_id: str) -> str:
    return f"inv-{crm}-{opportunity_id}"


def book_refund(erp: Any, payments: Any, refund: Mapping[str, Any]) -> dict[str, Any]:
    """A refund that succeeded at the payment platform → ERP credit memo against the deal's invoice and a
    customer refund applying it. Returns the RefundBooked data."""
    intent = payments.retrieve_payment_intent(refund["paymentIntentId"])
    deal = deal_of(intent.get("metadata") or {})
    if deal is None:
        raise NotYetKnown(f"payment {refund['paymentIntentId']} is not one of the hub's deals")
    invoice = erp.get_by_external_id("invoice", invoice_external_id(*deal))
    if invoice is None:
        raise NotYetKnown(f"no ERP invoice yet for {deal[0]} deal {deal[1]}")
    amount = Money.model_validate(refund["amount"])
    memo = f"Stripe refund {refund['refundId']} of {refund['paymentIntentId']}"
    credit = erp.credit_invoice(
        str(invoice["id"]), external_id=f"cm-{refund['refundId']}", amount=amount, memo=memo
    )
    customer = str((invoice.get("entity") or {}).get("id") or invoice.get("customerId") or "")
    booked = erp.refund_credit_memo(
        credit.id, external_id=f"cr-{refund['refundId']}", customer_id=customer, amount=amount, memo=memo
    )
    return {
        "refundId": refund["refundId"],
        "paymentIntentId": refund["paymentIntentId"],
        "erpInvoiceId": str(invoice["id"]),
        "erpCreditMemoId": credit.id,
        "erpRefundId": booked.id,
        "amount": amount.model_dump(),
        "opportunityId": deal[1],
    }


@dataclass(frozen=True)
class DepositPlan:
    payments: list[tuple[str, Money]]
    other: list[tuple[str, Money]]
    fees: Money
    total: Money


def plan_deposit(
    erp: Any, payments: Any, payout: Mapping[str, Any], transactions: Iterable[Mapping[str, Any]]
) -> DepositPlan:
    """Each captured payment in the payout at its gross amount (applied to its ERP customer payment),
    refunds and dispute adjustments as negative lines, the processing fees as one negative line; the
    deposit must equal the payout to the cent or nothing is booked."""
    currency = str(payout["currency"]).upper()
    expected = from_stripe(int(payout["amount"]), currency)
    paid: list[tuple[str, Money]] = []
    other: list[tuple[str, Money]] = []
    fees = 0
    for txn in transactions:
        kind = txn["type"]
        if kind == "payout":
            continue
        amount = from_stripe(int(txn["amount"]), currency)
        fees += int(txn.get("fee") or 0)
        if kind in {"charge", "payment"}:
            charge = payments.retrieve_charge(str(txn["source"]))
            intent = charge.get("payment_intent")
            payment = erp.get_by_external_id("customerPayment", f"pay-{intent}") if intent else None
            if payment is None:
                raise NotYetKnown(f"payment {intent or txn['source']} is not applied in the ERP yet")
            paid.append((str(payment["id"]), amount))
        elif kind in {"refund", "payment_refund"}:
            other.append((f"Stripe refund {txn['source']}", amount))
        else:  # adjustment (disputes), stripe_fee, ...
            other.append((f"Stripe {kind} {txn.get('source') or txn['id']}", amount))
    fee_total = from_stripe(fees, currency)
    if fees:
        other.append(("Stripe processing fees", Money.of(-fee_total.amount, currency)))
    total = sum((m.amount for _, m in paid + other), 0)
    if total != expected.amount:
        raise PayoutNotTied(
            f"payout {payout['id']}: balance transactions add up to {Money.of(total, currency).format()}, "
            f"the payout is {expected.format()}",
            expected=expected,
            actual=Money.of(total, currency),
        )
    return DepositPlan(payments=paid, other=other, fees=fee_total, total=expected)


def deposit_payout(erp: Any, payments: Any, payout_id: str, subsidiary_id: str) -> dict[str, Any]:
    payout = payments.retrieve_payout(payout_id)
    plan = plan_deposit(erp, payments, payout, payments.list_balance_transactions(payout_id=payout_id))
    ref = erp.upsert_deposit(
        f"dep-{payout_id}",
        subsidiary_id=subsidiary_id,
        currency=plan.total.currency,
        account_id=None,
        payments=plan.payments,
        other=plan.other,
        total=plan.total,
        memo=f"Stripe payout {payout_id}",
    )
    return {
        "payoutId": payout_id,
        "erpDepositId": ref.id,
        "amount": plan.total.model_dump(),
        "payments": len(plan.payments),
        "fees": plan.fees.model_dump(),
    }
