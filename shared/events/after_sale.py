"""Facts of what happens after the sale: refunds asked for and booked, disputes recorded, renewals
invoiced, payouts deposited, and what reconciliation found."""

from __future__ import annotations

from dataclasses import field
from datetime import date
from typing import ClassVar

from shared.events.envelope import EventData, EventSource
from shared.money import Money
from shared.record import doc, record


@record
class RefundRequested(EventData):
    """Someone asked the hub to refund (part of) a payment (``o2c refund``)."""

    detail_type: ClassVar[str] = "RefundRequested"
    source: ClassVar[EventSource] = "o2c.orchestration"
    requestId: str
    paymentIntentId: str
    amount: Money | None = field(default=None, metadata=doc("None: the whole remaining amount"))
    reason: str = "requested_by_customer"
    requestedBy: str


@record
class RefundBooked(EventData):
    """A refund was booked in the ERP: a credit memo against the invoice and a customer refund."""

    detail_type: ClassVar[str] = "RefundBooked"
    source: ClassVar[EventSource] = "o2c.erp"
    refundId: str
    paymentIntentId: str | None = None
    erpInvoiceId: str
    erpCreditMemoId: str
    erpRefundId: str
    amount: Money
    opportunityId: str | None = None
    taxRefunded: Money | None = field(
        default=None,
        metadata=doc("The tax in the refund: reversed by the credit memo, returned in the tax engine"),
    )
    taxReturnCode: str | None = field(default=None, metadata=doc("The tax engine's return document"))


@record
class DepositRecorded(EventData):
    """A payout was booked as one ERP deposit that equals it to the cent."""

    detail_type: ClassVar[str] = "DepositRecorded"
    source: ClassVar[EventSource] = "o2c.erp"
    payoutId: str
    erpDepositId: str
    amount: Money
    payments: int
    fees: Money = field(metadata=doc("All of Stripe's fees in the payout, currency conversion fees included"))
    conversionFees: Money | None = field(
        default=None, metadata=doc("Stripe's currency conversion fees, for payments it converted")
    )
    exchangeDifference: Money | None = field(
        default=None,
        metadata=doc("What Stripe settled for converted payments beyond their amount in the ERP's books"),
    )


@record
class ReconciliationException(EventData):
    """Something does not agree between the CRM, the ERP and the payment platform."""

    detail_type: ClassVar[str] = "ReconciliationException"
    source: ClassVar[EventSource] = "o2c.reconciliation"
    kind: str = field(
        metadata=doc(
            "missing_in_erp, missing_in_payments, amount_differs, currency_differs, "
            "status_differs, paid_not_applied, deposited_not_paid, payout_not_tied, manual_payout"
        )
    )
    detail: str
    day: date | None = None
    opportunityId: str | None = None
    erpOrderId: str | None = None
    erpInvoiceId: str | None = None
    paymentIntentId: str | None = None
    payoutId: str | None = None
    expected: Money | None = None
    actual: Money | None = None


@record
class DisputeRecorded(EventData):
    """A chargeback was recorded in the ERP (a pending return authorization) and the deal's owner was
    given a task in the CRM with the evidence due date."""

    detail_type: ClassVar[str] = "DisputeRecorded"
    source: ClassVar[EventSource] = "o2c.erp"
    disputeId: str
    paymentIntentId: str | None = None
    erpInvoiceId: str
    erpDisputeHoldId: str
    crmTaskId: str | None = None
    amount: Money
    evidenceDueBy: date | None = None
    opportunityId: str | None = None


@record
class DisputeSettled(EventData):
    """The ERP side of a closed dispute: won → the hold is cancelled; lost → credit memo and refund."""

    detail_type: ClassVar[str] = "DisputeSettled"
    source: ClassVar[EventSource] = "o2c.erp"
    disputeId: str
    outcome: str
    erpCreditMemoId: str | None = None
    paymentIntentId: str | None = None
    taxRefunded: Money | None = field(
        default=None,
        metadata=doc("Lost: the tax the chargeback took back, reversed and returned in the tax engine"),
    )
    taxReturnCode: str | None = field(default=None, metadata=doc("Lost: the tax engine's return document"))


@record
class RenewalInvoiced(EventData):
    """A subscription cycle paid at the payment platform became an ERP invoice with its payment applied."""

    detail_type: ClassVar[str] = "RenewalInvoiced"
    source: ClassVar[EventSource] = "o2c.erp"
    billingInvoiceId: str
    subscriptionId: str | None = None
    erpInvoiceId: str
    erpPaymentId: str
    erpCustomerId: str
    amount: Money
    paymentIntentId: str | None = field(
        default=None, metadata=doc("The cycle's payment, as the ERP payment's external id")
    )
    periodStart: date | None = None
    periodEnd: date | None = None
    opportunityId: str | None = None


@record
class DunningChanged(EventData):
    """A customer entered or left dunning (a renewal payment failed / was paid); visible in ERP and CRM."""

    detail_type: ClassVar[str] = "DunningChanged"
    source: ClassVar[EventSource] = "o2c.erp"
    erpCustomerId: str
    state: str | None = field(metadata=doc("past_due, or None when the customer is current again"))
    billingInvoiceId: str
    subscriptionId: str | None = None
    opportunityId: str | None = None
