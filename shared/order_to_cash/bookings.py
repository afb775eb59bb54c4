"""After the sale: refunds booked in the ERP, refunds the hub initiates, payouts deposited to the cent.

Every ERP write carries an external id derived from the payment platform's id (``cm-re_...``,
``cr-re_...``, ``dep-po_...``), so redeliveries and retries after an ERP outage never book twice. A refund
(and a lost dispute) reverses its share of the invoice's tax in the ERP's credit memo and is recorded in the
tax engine as a return of that tax (document code ``rtn-re_...`` / ``rtn-dp_...``, recorded once). A fact
that arrives before what it depends on (a refund before its invoice, a payout before its payments are
applied, a dispute's outcome before the dispute) raises ``NotYetKnown`` naming the fact it awaits: the
consumer parks it until that fact is published (``shared.order_to_cash.pending``), then books it as if it had
arrived in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from shared.money import Money, convert, from_stripe
from shared.order_to_cash import erp_ids
from shared.order_to_cash.ports import Crm, Erp, OrderLine, Payments, Record, ReturnLine, Tax

if TYPE_CHECKING:
    from shared.events.payments import (
        BillingInvoicePaid,
        BillingInvoicePaymentFailed,
        DisputeClosed,
        DisputeOpened,
        RefundSucceeded,
    )
    from shared.order_to_cash.steps import Subsidiary

#: the CRM of a system (``hubspot``, ``salesforce``): ``shared.outbound.factories.crm_for``
CrmFor = Callable[[str], Crm]

SUBSCRIPTION_ITEM = "o2c-subscription"

R = TypeVar("R")
T = TypeVar("T")


class NotOurs(Exception):
    """The payment platform does not know the object (a test-mode event, a deleted object): there is
    nothing to book. The fact itself stays recorded in the lineage."""


def known(fetch: Callable[[str], Record], object_id: str) -> dict[str, Any]:
    """``fetch(object_id)`` from the payment platform; ``NotOurs`` when it has no such object."""
    from shared.errors import NotFound

    try:
        return dict(fetch(object_id))
    except NotFound as exc:
        raise NotOurs(f"the payment platform has no {object_id}") from exc


def skipping_unknown(handle: Callable[[R], T]) -> Callable[[R], T | None]:
    """Wrap a record handler: a fact about an object the payment platform does not know is acknowledged
    with a warning, not retried into the DLQ."""
    from functools import wraps

    from shared.observability import logger

    @wraps(handle)
    def run(record: R) -> T | None:
        try:
            return handle(record)
        except NotOurs as exc:
            logger.warning("nothing to book", extra={"reason": str(exc)})
            return None

    return run


class NotYetKnown(Exception):
    """A fact this one depends on has not reached the ERP yet. ``awaiting`` names it (``payment:pi_...``,
    ``dispute:dp_...``) when a later event will announce it: the consumer parks the event until then
    (``shared.order_to_cash.pending``); without it the queue retries."""

    def __init__(self, message: str, *, awaiting: str | None = None) -> None:
        super().__init__(message)
        self.awaiting = awaiting


class PayoutNotReconciled(Exception):
    """Stripe has not finished tying balance transactions to the payout (``reconciliation_status``
    ``in_progress``): its list is not complete yet. The deposit is made on
    ``payout.reconciliation_completed``."""


class ManualPayout(Exception):
    """A payout requested by hand (``automatic`` false): Stripe cannot tell which balance transactions it
    paid out (``reconciliation_status`` ``not_applicable``; ``?payout=`` is refused), so the hub cannot
    build its deposit. A person reconciles it against the balance history."""


class PayoutNotTied(Exception):
    """The payout's balance transactions do not add up to the payout: an exception for a person."""

    def __init__(self, message: str, *, expected: Money, actual: Money) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


def subsidiary_of_currency(currency: str) -> Subsidiary:
    """The ERP subsidiary (``steps.Subsidiary``) that books in ``currency`` (ERP_SUBSIDIARIES), else the
    default one (which then books the foreign-currency transaction at an exchange rate)."""
    from shared.order_to_cash.steps import subsidiaries_from_env

    table = subsidiaries_from_env()
    matching = [s for region, s in table.items() if region != "*" and s.currency == currency.upper()]
    return matching[0] if matching else table["*"]


#: the metadata key naming the order a payment object belongs to (``steps.links``): ``<source>:<order id>``
ORDER_METADATA_KEY = "o2c_order"


def order_of(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(source, order id) from the metadata the hub writes on payment objects: a CRM deal's
    (``hubspot:<deal>``, ``salesforce:<opportunity>``) or an order submitted through ``POST /v1/orders``
    (``api:<orderId>``); its ERP invoice is ``inv-<source>-<id>`` either way. Read from ``o2c_order``; an
    object written before that key existed names its order by its correlation id (then always the order's
    flow id; an API caller's own ``X-Correlation-Id`` may now be anything, so it is never read for this)."""
    link = str(metadata.get(ORDER_METADATA_KEY) or "") or (
        "" if ORDER_METADATA_KEY in metadata else str(metadata.get("o2c_correlation_id") or "")
    )
    source, _, order = link.partition(":")
    if source in {"hubspot", "salesforce", "api"} and order:
        return source, order
    return None


def deal_of(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(crm, opportunity id) from the metadata the hub writes on payment objects; None for an API order (no
    CRM deal to write to)."""
    order = order_of(metadata)
    return order if order is not None and order[0] != "api" else None


def invoice_paid_by(
    erp: Erp, payments: Payments, payment_intent_id: str
) -> tuple[tuple[str, str] | None, Mapping[str, Any]]:
    """The ERP invoice a payment paid, and its deal if it was one: a deal's payment carries the deal in its
    metadata (``inv-<crm>-<deal>``); a subscription cycle's is found through Stripe's invoice payments
    (``ren-<in_...>``; its deal from the subscription's metadata). ``NotYetKnown`` (awaiting the payment)
    while the ERP has no such invoice yet; ``NotOurs`` for a payment that is neither."""
    intent = known(payments.retrieve_payment_intent, payment_intent_id)
    order = order_of(intent.get("metadata") or {})
    deal = deal_of(intent.get("metadata") or {})
    if order is not None:
        external_id, what = erp_ids.invoice(*order), f"{order[0]} deal {order[1]}"
    else:
        billing_invoice = payments.invoice_of_payment(payment_intent_id)
        if billing_invoice is None:
            raise NotOurs(f"payment {payment_intent_id} was made neither for a deal nor for a subscription")
        # the subscription's metadata, as the invoice snapshots it, links the deal it renews
        parent = known(payments.retrieve_invoice, billing_invoice).get("parent") or {}
        deal = deal_of((parent.get("subscription_details") or {}).get("metadata") or {})
        external_id, what = (
            erp_ids.renewal_invoice(billing_invoice),
            f"subscription invoice {billing_invoice}",
        )
    # with its lines: a refund's credit memo is made from them (one read, not two)
    invoice: Mapping[str, Any] | None = erp.get_by_external_id("invoice", external_id, expand=True)
    if invoice is None:
        raise NotYetKnown(f"no ERP invoice yet for {what}", awaiting=f"payment:{payment_intent_id}")
    return deal, invoice


def record_tax_return(
    erp: Erp, tax: Tax, *, document_code: str, invoice: Mapping[str, Any], credit_memo_id: str, reason: str
) -> dict[str, Any]:
    """The tax engine records the credit memo as a return: its lines (net and tax, as the ERP reversed them),
    dated today and taxed as of the invoice's date, for the invoice's customer and address. Once per
    ``document_code``. Returns ``{"taxReturnCode", "taxRefunded"}`` for the booked fact."""
    from datetime import UTC, date, datetime

    from shared.errors import InvalidRecord

    lines = erp.credit_memo_lines(credit_memo_id)
    if not lines:
        raise InvalidRecord(f"credit memo {credit_memo_id} has no lines to return")
    customer_id = str((invoice.get("entity") or {}).get("id") or invoice.get("customerId") or "")
    customer_code, address = erp.tax_customer(customer_id)
    if address is None or not address.country:
        raise InvalidRecord(f"ERP customer {customer_id} has no address with a country to tax the return at")
    today = datetime.now(UTC).date()
    invoiced_on = date.fromisoformat(str(invoice["tranDate"])[:10]) if invoice.get("tranDate") else today
    recorded = tax.record_return(
        document_code=document_code,
        reference_code=str(invoice.get("externalId") or invoice.get("tranId") or invoice.get("id")),
        customer_code=customer_code or customer_id,
        date=today,
        tax_date=invoiced_on,
        ship_to=address,
        lines=[
            ReturnLine(str(n), line.amount, line.tax, line.quantity, line.item_external_id)
            for n, line in enumerate(lines, 1)
        ],
        currency=lines[0].amount.currency,
        reason=reason,
    )
    refunded = Money.of(-recorded.total_tax.amount, recorded.total_tax.currency)
    return {"taxReturnCode": recorded.code, "taxRefunded": refunded.dump()}


def book_refund(erp: Erp, payments: Payments, refund: RefundSucceeded, *, tax: Tax) -> dict[str, Any]:
    """A refund that succeeded at the payment platform → ERP credit memo against the invoice the payment
    paid (a deal's, or a subscription cycle's), carrying the refund's share of the invoice's tax, and a
    customer refund applying it; the tax engine records the return of that tax. Returns the RefundBooked
    data."""
    deal, invoice = invoice_paid_by(erp, payments, refund.paymentIntentId)  # type: ignore[arg-type]
    amount = refund.amount
    memo = f"Stripe refund {refund.refundId} of {refund.paymentIntentId}"
    credit = erp.credit_invoice(
        str(invoice["id"]),
        external_id=erp_ids.credit_memo(refund.refundId),
        amount=amount,
        memo=memo,
        invoice=invoice,
    )
    customer = str((invoice.get("entity") or {}).get("id") or invoice.get("customerId") or "")
    booked = erp.refund_credit_memo(
        credit.id,
        external_id=erp_ids.customer_refund(refund.refundId),
        customer_id=customer,
        amount=amount,
        memo=memo,
    )
    returned = record_tax_return(
        erp,
        tax,
        document_code=erp_ids.tax_return(refund.refundId),
        invoice=invoice,
        credit_memo_id=credit.id,
        reason=memo,
    )
    return {
        "refundId": refund.refundId,
        "paymentIntentId": refund.paymentIntentId,
        "erpInvoiceId": str(invoice["id"]),
        "erpCreditMemoId": credit.id,
        "erpRefundId": booked.id,
        "amount": amount.dump(),
        "opportunityId": deal[1] if deal else None,
        **returned,
    }


@dataclass(frozen=True)
class DepositPlan:
    payments: list[tuple[str, Money]]
    other: list[tuple[str, Money]]
    fees: Money
    total: Money
    #: Stripe's currency conversion fees (part of ``fees``) and the differences between what Stripe
    #: settled for a converted payment and its amount in the ERP's books (zero when the ERP payment
    #: carries Stripe's rate)
    conversion_fees: Money | None = None
    exchange_difference: Money | None = None


def _is_conversion_fee(detail: Mapping[str, Any]) -> bool:
    text = str(detail.get("description") or "").lower()
    return "conversion" in text or "currency" in text


def plan_deposit(
    erp: Erp, payments: Payments, payout: Mapping[str, Any], transactions: Iterable[Mapping[str, Any]]
) -> DepositPlan:
    """Each captured payment in the payout applied to its ERP customer payment, refunds and dispute
    adjustments as negative lines, Stripe's fees as negative lines by kind (processing, currency
    conversion), and for a payment Stripe converted (``exchange_rate`` on its balance transaction: a JPY
    charge paid out in USD) its amount in the ERP's books at the payment's recorded rate plus an exchange
    difference line for whatever Stripe settled beyond it. The deposit must equal the payout to the cent or
    nothing is booked."""
    currency = str(payout["currency"]).upper()
    expected = from_stripe(int(payout["amount"]), currency)
    paid: list[tuple[str, Money]] = []
    other: list[tuple[str, Money]] = []
    differences: list[tuple[str, Money]] = []
    processing = conversion = 0
    for txn in transactions:
        kind = txn["type"]
        if kind == "payout":
            continue
        amount = from_stripe(int(txn["amount"]), currency)
        details = txn.get("fee_details") or []
        fee = int(txn.get("fee") or 0)
        converted_fee = sum(int(d["amount"]) for d in details if _is_conversion_fee(d))
        conversion += converted_fee
        processing += fee - converted_fee
        source = txn.get("source")
        if isinstance(source, Mapping):  # listed with its source (expand[]=data.source): no read per charge
            txn = {**txn, "source": source.get("id")}
        if kind in {"charge", "payment"}:
            charge = source if isinstance(source, Mapping) else known(payments.retrieve_charge, str(source))
            intent = charge.get("payment_intent")
            if isinstance(intent, Mapping):
                intent = intent.get("id")
            payment = erp.customer_payment(erp_ids.payment(str(intent))) if intent else None
            if payment is None:
                raise NotYetKnown(
                    f"payment {intent or txn['source']} is not applied in the ERP yet",
                    awaiting=f"payment:{intent}" if intent else None,
                )
            if payment.amount.currency == currency:
                paid.append((payment.id, amount))
                continue
            # converted by Stripe: deposited at its amount in the ERP's books, the rest is exchange
            booked = convert(payment.amount, payment.exchange_rate, currency)
            paid.append((payment.id, booked))
            if booked != amount:
                differences.append(
                    (
                        f"Exchange difference on {intent}: {payment.amount.format()} settled at "
                        f"{txn.get('exchange_rate')}, booked at {payment.exchange_rate}",
                        Money.of(amount.amount - booked.amount, currency),
                    )
                )
        elif kind in {"refund", "payment_refund"}:
            other.append((f"Stripe refund {txn['source']}", amount))
        else:  # adjustment (disputes), stripe_fee, ...
            other.append((f"Stripe {kind} {txn.get('source') or txn['id']}", amount))
    other.extend(differences)
    if processing:
        other.append(("Stripe processing fees", from_stripe(-processing, currency)))
    if conversion:
        other.append(("Stripe currency conversion fees", from_stripe(-conversion, currency)))
    total = sum((m.amount for _, m in paid + other), 0)
    if total != expected.amount:
        raise PayoutNotTied(
            f"payout {payout['id']}: balance transactions add up to {Money.of(total, currency).format()}, "
            f"the payout is {expected.format()}",
            expected=expected,
            actual=Money.of(total, currency),
        )
    difference = sum((m.amount for _, m in differences), 0)
    return DepositPlan(
        payments=paid,
        other=other,
        fees=from_stripe(processing + conversion, currency),
        total=expected,
        conversion_fees=from_stripe(conversion, currency) if conversion else None,
        exchange_difference=Money.of(difference, currency) if differences else None,
    )


def deposit_payout(erp: Erp, payments: Payments, payout_id: str, subsidiary_id: str) -> dict[str, Any]:
    """The payout (re-read: its state now, not the event's) as one ERP deposit. ``ManualPayout`` for a
    payout made by hand; ``PayoutNotReconciled`` while Stripe's list of its balance transactions is not
    complete (``reconciliation_status`` not ``completed``): depositing then could find it not tied."""
    payout = known(payments.retrieve_payout, payout_id)
    if payout.get("automatic") is False:
        raise ManualPayout(
            f"payout {payout_id} was made by hand: Stripe does not list which balance transactions it paid "
            "out, so no deposit is booked; reconcile it against the Stripe balance history"
        )
    status = payout.get("reconciliation_status")
    if status != "completed":
        raise PayoutNotReconciled(f"payout {payout_id} is not reconciled by Stripe yet ({status})")
    transactions = payments.list_balance_transactions(payout_id=payout_id, expand_sources=True)
    plan = plan_deposit(erp, payments, payout, transactions)
    ref = erp.upsert_deposit(
        erp_ids.deposit(payout_id),
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
        "amount": plan.total.dump(),
        "payments": len(plan.payments),
        "fees": plan.fees.dump(),
        "conversionFees": plan.conversion_fees.dump() if plan.conversion_fees else None,
        "exchangeDifference": plan.exchange_difference.dump() if plan.exchange_difference else None,
    }


def record_dispute(
    erp: Erp,
    payments: Payments,
    crm_for: CrmFor,
    dispute: DisputeOpened,
    once: Callable[[str, Callable[[], str]], str],
) -> dict[str, Any]:
    """A chargeback → a pending dispute hold in the ERP against the invoice the payment paid (a deal's or a
    subscription cycle's) and a task for the deal's owner with the evidence due date (none when the
    payment links no deal). The hold's external id makes a redelivery find the same hold; ``once(key, create)`` runs the
    task's creation at most once per dispute (and again if it failed)."""
    from datetime import UTC, datetime, timedelta

    if not dispute.paymentIntentId:
        raise NotOurs(f"dispute {dispute.disputeId} is not on a payment intent")
    deal, invoice = invoice_paid_by(erp, payments, dispute.paymentIntentId)
    external_id = erp_ids.dispute_hold(dispute.disputeId)
    amount = dispute.amount
    hold = erp.open_dispute_hold(
        str(invoice["id"]),
        external_id=external_id,
        amount=amount,
        memo=f"Stripe dispute {dispute.disputeId} ({dispute.reason})",
    )
    due = dispute.evidenceDueBy or datetime.now(UTC) + timedelta(days=7)
    # a bank debit's dispute (a SEPA chargeback, an ACH return after success) is final when it opens: no
    # evidence to submit; the customer must be asked to pay again (and give a new mandate)
    final = dispute.status == "lost"
    subject = (
        f"Payment of {amount.format()} returned by the bank ({dispute.reason}): final"
        if final
        else f"Chargeback of {amount.format()}: evidence due {due.date().isoformat()}"
    )
    body = (
        f"The customer's bank returned payment {dispute.paymentIntentId} (dispute {dispute.disputeId}, "
        f"{dispute.reason}). A returned bank debit cannot be contested: contact the customer for another "
        "payment and a new mandate."
        if final
        else f"The customer's bank opened dispute {dispute.disputeId} ({dispute.reason}) on payment "
        f"{dispute.paymentIntentId}. Submit evidence in Stripe before {due.isoformat()}."
    )
    task_id = (
        None
        if deal is None
        else once(
            f"dispute-task:{dispute.disputeId}",
            lambda: crm_for(deal[0]).create_task(
                deal[1],
                subject=subject,
                body=body,
                due=due,
                owner_id=None,
                idempotency_key=f"o2c-dispute-{dispute.disputeId}",
            ),
        )
    )
    return {
        "disputeId": dispute.disputeId,
        "paymentIntentId": dispute.paymentIntentId,
        "erpInvoiceId": str(invoice["id"]),
        "erpDisputeHoldId": hold.id,
        "crmTaskId": task_id,
        "amount": amount.dump(),
        "evidenceDueBy": due.date().isoformat(),
        "opportunityId": deal[1] if deal else None,
    }


def settle_dispute(erp: Erp, closed: DisputeClosed, *, tax: Tax) -> dict[str, Any]:
    """A closed dispute: won → the hold is cancelled; lost → its credit memo (carrying the dispute's share of
    the invoice's tax) and refund, and the tax engine records the return of that tax."""
    if closed.outcome not in ("won", "lost"):
        from shared.errors import InvalidRecord

        raise InvalidRecord(f"dispute {closed.disputeId} closed {closed.outcome!r}: a dispute is won or lost")
    outcome: Literal["won", "lost"] = "won" if closed.outcome == "won" else "lost"
    external_id = erp_ids.dispute_hold(closed.disputeId)
    hold: Mapping[str, Any] | None = erp.get_by_external_id("returnAuthorization", external_id)
    if hold is None:
        raise NotYetKnown(
            f"dispute {closed.disputeId} was not recorded in the ERP yet",
            awaiting=f"dispute:{closed.disputeId}",
        )
    credit = erp.settle_dispute(external_id, outcome=outcome)
    returned: dict[str, Any] = {}
    invoice_id = (hold.get("createdFrom") or {}).get("id")
    if credit is not None and invoice_id:
        returned = record_tax_return(
            erp,
            tax,
            document_code=erp_ids.tax_return(closed.disputeId),
            invoice=erp.get("invoice", str(invoice_id)),
            credit_memo_id=credit.id,
            reason=f"Stripe dispute {closed.disputeId} lost",
        )
    return {
        "disputeId": closed.disputeId,
        "outcome": closed.outcome,
        "erpCreditMemoId": credit.id if credit else None,
        "paymentIntentId": closed.paymentIntentId,
        **returned,
    }


def _erp_customer(payments: Payments, payment_customer_id: str | None) -> str:
    customer = known(payments.retrieve_customer, payment_customer_id) if payment_customer_id else {}
    erp_customer = (customer.get("metadata") or {}).get("o2c_erp_customer_id")
    if not erp_customer:
        raise NotYetKnown(f"payment customer {payment_customer_id} is not linked to an ERP customer")
    return str(erp_customer)


def _payment_of_invoice(payments: Payments, invoice_id: str) -> str | None:
    from shared.errors import NotFound

    try:
        return payments.payment_of_invoice(invoice_id)
    except NotFound as exc:
        raise NotOurs(f"the payment platform has no {invoice_id}") from exc


def book_renewal(
    erp: Erp,
    payments: Payments,
    crm_for: CrmFor,
    paid: BillingInvoicePaid,
    subsidiary_id: str,
    subsidiary_currency: str | None = None,
    *,
    correlation_id: str = "",
) -> dict[str, Any] | None:
    """A paid subscription cycle → one ERP invoice for its service period (the invoice lines' ``period``,
    as the Stripe normaliser reads it; external id = the Stripe invoice) with the payment applied under
    ``pay-<PaymentIntent>`` (the PaymentIntent found through the invoice's InvoicePayment), at Stripe's
    exchange rate if Stripe converted it into the subsidiary's currency; the customer leaves dunning, and
    the deal ``correlation_id`` names (``<crm>-<deal>``), if any, shows it paid. Other billing reasons are
    not renewals: None."""
    from shared.order_to_cash.steps import exchange_rate_for

    if paid.billingReason != "subscription_cycle":
        return None
    customer_id = _erp_customer(payments, paid.paymentCustomerId)
    # since API 2025-03-31.basil an Invoice names no PaymentIntent: its paid InvoicePayment does
    intent_id = paid.paymentIntentId or _payment_of_invoice(payments, paid.billingInvoiceId)
    amount = paid.amountPaid
    start = paid.periodStart.date() if paid.periodStart else None
    end = paid.periodEnd.date() if paid.periodEnd else None
    if start is None or end is None:
        from shared.errors import InvalidRecord

        raise InvalidRecord(
            f"Stripe invoice {paid.billingInvoiceId} names no service period: its ERP invoice has no dates"
        )
    invoice = erp.upsert_renewal_invoice(
        erp_ids.renewal_invoice(paid.billingInvoiceId),
        customer_id=customer_id,
        subsidiary_id=subsidiary_id,
        currency=amount.currency,
        # the ERP item that stands for the subscription (its external id, set up once in the account)
        lines=[
            OrderLine(
                quantity=1,
                rate=amount,
                amount=amount,
                tax=Money.of(0, amount.currency),
                item_external_id=SUBSCRIPTION_ITEM,
                name=f"Subscription {paid.subscriptionId} {start} to {end}",
            )
        ],
        period_start=start,
        period_end=end,
        memo=f"Stripe invoice {paid.billingInvoiceId}",
    )
    rate = None
    if intent_id and subsidiary_currency and subsidiary_currency != amount.currency:
        rate = exchange_rate_for(amount.currency, subsidiary_currency, payments.settlement_of(intent_id))
    # the same external id as a deal's payment (pay-<PaymentIntent>), so the payout's deposit finds it
    # (an invoice paid without a PaymentIntent, out of band, is booked under the invoice)
    payment = erp.apply_customer_payment(
        erp_ids.payment(intent_id or paid.billingInvoiceId),
        customer_id=customer_id,
        invoice_id=invoice.id,
        amount=amount,
        currency=amount.currency,
        memo=f"Stripe invoice {paid.billingInvoiceId}",
        exchange_rate=rate,
    )
    erp.mark_dunning(customer_id, state=None)
    _crm_payment_status(crm_for, correlation_id, "paid")
    return {
        "billingInvoiceId": paid.billingInvoiceId,
        "subscriptionId": paid.subscriptionId,
        "erpInvoiceId": invoice.id,
        "erpPaymentId": payment.id,
        "erpCustomerId": customer_id,
        "amount": amount.dump(),
        "paymentIntentId": intent_id,
        "periodStart": start.isoformat() if start else None,
        "periodEnd": end.isoformat() if end else None,
        "opportunityId": paid.opportunityId,
    }


def start_dunning(
    erp: Erp,
    payments: Payments,
    crm_for: CrmFor,
    failed: BillingInvoicePaymentFailed,
    *,
    correlation_id: str = "",
) -> dict[str, Any] | None:
    """A failed renewal payment → dunning visible in the ERP (customer) and the CRM (the payment status of
    the deal ``correlation_id`` names) — unless the invoice was paid since (a late webhook must not undo a
    later fact): None."""
    current = known(payments.retrieve_invoice, failed.billingInvoiceId)
    if current.get("status") == "paid":
        return None
    customer_id = _erp_customer(payments, failed.paymentCustomerId)
    erp.mark_dunning(customer_id, state="past_due")
    deal = _crm_payment_status(crm_for, correlation_id, "past_due")
    return {
        "erpCustomerId": customer_id,
        "state": "past_due",
        "billingInvoiceId": failed.billingInvoiceId,
        "subscriptionId": failed.subscriptionId,
        "opportunityId": deal[1] if deal else None,
    }


def _crm_payment_status(crm_for: CrmFor, correlation_id: str, status: str) -> tuple[str, str] | None:
    """Write the subscription's payment status onto its deal (linked through the subscription's metadata,
    which the fact's correlation id carries)."""
    crm_and_deal = str(correlation_id or "")
    deal = deal_of({"o2c_correlation_id": crm_and_deal}) if crm_and_deal else None
    if deal is None:
        return None
    crm_for(deal[0]).write_payment_status(deal[1], status)
    return deal
