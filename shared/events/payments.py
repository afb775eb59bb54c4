"""Canonical facts from the payment platform (source ``o2c.payments``).

Only processor ids and tokens appear here: never card numbers, CVC or anything from a card's details.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import ClassVar, Literal

from shared.events.envelope import EventData, EventSource
from shared.money import Money
from shared.record import doc, record


@record
class PaymentEventData(EventData):
    source: ClassVar[EventSource] = "o2c.payments"

    # Links the hub writes into the payment platform's metadata when it creates an object; they tie a
    # payment to its deal and ERP records in the lineage.
    opportunityId: str | None = field(default=None, metadata=doc("CRM opportunity/deal id (metadata)"))
    erpCustomerId: str | None = field(default=None, metadata=doc("ERP customer id (metadata)"))
    erpOrderId: str | None = field(default=None, metadata=doc("ERP sales order id (metadata)"))
    erpInvoiceId: str | None = field(default=None, metadata=doc("ERP invoice id (metadata)"))


@record
class PaymentAuthorized(PaymentEventData):
    """Funds are held on the customer's payment method and can be captured."""

    detail_type: ClassVar[str] = "PaymentAuthorized"
    paymentIntentId: str
    paymentCustomerId: str | None = None
    amountCapturable: Money
    amount: Money


@record
class PaymentCaptured(PaymentEventData):
    """A payment succeeded: money was captured (PaymentIntent succeeded)."""

    detail_type: ClassVar[str] = "PaymentCaptured"
    paymentIntentId: str
    chargeId: str | None = None
    paymentCustomerId: str | None = None
    amount: Money
    amountReceived: Money


@record
class PaymentFailed(PaymentEventData):
    """A payment attempt failed (declined, authentication required, processing error)."""

    detail_type: ClassVar[str] = "PaymentFailed"
    paymentIntentId: str
    paymentCustomerId: str | None = None
    amount: Money
    failureCode: str | None = None
    declineCode: str | None = None
    failureMessage: str | None = None
    paymentMethodType: str | None = field(
        default=None,
        metadata=doc(
            "How the payment was attempted (Stripe's PaymentMethod type: card, sepa_debit, "
            "us_bank_account): a bank debit fails days after it was submitted, not at once"
        ),
    )


@record
class RefundSettled(PaymentEventData):
    """A charge was refunded, in part or in full; ``amountRefunded`` is the cumulative total."""

    detail_type: ClassVar[str] = "RefundSettled"
    chargeId: str
    paymentIntentId: str | None = None
    paymentCustomerId: str | None = None
    chargeAmount: Money
    amountRefunded: Money
    fullyRefunded: bool


@record
class DisputeOpened(PaymentEventData):
    """The cardholder's bank opened a dispute (chargeback) on a charge."""

    detail_type: ClassVar[str] = "DisputeOpened"
    disputeId: str
    chargeId: str
    paymentIntentId: str | None = None
    amount: Money
    reason: str
    status: str
    evidenceDueBy: datetime | None = None


@record
class BillingInvoicePaid(PaymentEventData):
    """A payment-platform invoice (e.g. a subscription cycle) was paid."""

    detail_type: ClassVar[str] = "BillingInvoicePaid"
    billingInvoiceId: str
    subscriptionId: str | None = None
    paymentCustomerId: str | None = None
    paymentIntentId: str | None = None
    amountPaid: Money
    billingReason: str | None = None
    periodStart: datetime | None = None
    periodEnd: datetime | None = None


@record
class BillingInvoicePaymentFailed(PaymentEventData):
    """A payment-platform invoice's payment attempt failed (dunning)."""

    detail_type: ClassVar[str] = "BillingInvoicePaymentFailed"
    billingInvoiceId: str
    subscriptionId: str | None = None
    paymentCustomerId: str | None = None
    amountDue: Money
    attemptCount: int
    nextPaymentAttempt: datetime | None = None
    billingReason: str | None = None


@record
class SubscriptionUpdated(PaymentEventData):
    """A subscription changed (status, plan, renewal settings)."""

    detail_type: ClassVar[str] = "SubscriptionUpdated"
    subscriptionId: str
    paymentCustomerId: str | None = None
    status: str
    previousStatus: str | None = None
    cancelAtPeriodEnd: bool = False
    currentPeriodEnd: datetime | None = None


@record
class PayoutPaid(PaymentEventData):
    """The payment platform paid funds out to the bank account."""

    detail_type: ClassVar[str] = "PayoutPaid"
    payoutId: str
    amount: Money
    arrivalDate: datetime
    method: Literal["standard", "instant"] | str = "standard"
    balanceTransactionId: str | None = None
    automatic: bool | None = field(
        default=None, metadata=doc("Made by the payout schedule (True) or requested by hand (False)")
    )
    reconciliationStatus: str | None = field(
        default=None,
        metadata=doc(
            "Stripe's: in_progress (its balance-transaction list is not complete yet), completed, "
            "not_applicable (a manual payout)"
        ),
    )


@record
class PayoutReconciled(PaymentEventData):
    """The payment platform has tied every balance transaction to the payout: its list is complete
    (Stripe's ``payout.reconciliation_completed``, ``reconciliation_status`` ``completed``)."""

    detail_type: ClassVar[str] = "PayoutReconciled"
    payoutId: str
    amount: Money
    arrivalDate: datetime
    balanceTransactionId: str | None = None


@record
class PaymentMethodSaved(PaymentEventData):
    """The customer saved a payment method for later, off-session charges (SetupIntent succeeded)."""

    detail_type: ClassVar[str] = "PaymentMethodSaved"
    setupIntentId: str
    paymentMethodId: str
    paymentCustomerId: str | None = None


@record
class PaymentVoided(PaymentEventData):
    """An authorization was released without capture (PaymentIntent canceled)."""

    detail_type: ClassVar[str] = "PaymentVoided"
    paymentIntentId: str
    paymentCustomerId: str | None = None
    amount: Money
    cancellationReason: str | None = None


@record
class RefundSucceeded(PaymentEventData):
    """One refund (``re_...``) reached the customer's card; several may follow for one charge."""

    detail_type: ClassVar[str] = "RefundSucceeded"
    refundId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    amount: Money
    reason: str | None = None
    requestId: str | None = field(
        default=None, metadata=doc("The hub's RefundRequested id, if the hub asked for it")
    )


@record
class RefundFailed(PaymentEventData):
    """A refund failed at the payment platform: reported, never booked."""

    detail_type: ClassVar[str] = "RefundFailed"
    refundId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    amount: Money | None = field(default=None, metadata=doc("None: the whole remaining amount was asked for"))
    failureReason: str | None = None
    requestId: str | None = None


@record
class DisputeClosed(PaymentEventData):
    """A dispute ended: ``won`` (the money stays) or ``lost`` (it went back to the cardholder)."""

    detail_type: ClassVar[str] = "DisputeClosed"
    disputeId: str
    chargeId: str
    paymentIntentId: str | None = None
    amount: Money
    outcome: str
