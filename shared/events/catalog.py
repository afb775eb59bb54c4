"""Every canonical event type the hub publishes, by detail-type."""

from __future__ import annotations

from shared.events.after_sale import (
    DepositRecorded,
    DisputeRecorded,
    DisputeSettled,
    DunningChanged,
    ReconciliationException,
    RefundBooked,
    RefundRequested,
    RenewalInvoiced,
)
from shared.events.crm import OpportunityClosedWon
from shared.events.envelope import EventData
from shared.events.erp import (
    CreditMemoRecorded,
    CustomerPaymentApplied,
    DepositCreated,
    InvoicePosted,
    RefundRecorded,
    SalesOrderStatusChanged,
)
from shared.events.fraud import EarlyFraudWarningCreated, PaymentReviewClosed, PaymentReviewOpened
from shared.events.orchestration import (
    CustomerSynced,
    InvoicePaid,
    OrderActivated,
    OrderCancelled,
    OrderCreated,
    OrderOnHold,
    SubscriptionCreated,
)
from shared.events.payments import (
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    DisputeClosed,
    DisputeOpened,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentMethodSaved,
    PaymentVoided,
    PayoutPaid,
    PayoutReconciled,
    RefundFailed,
    RefundSettled,
    RefundSucceeded,
    SubscriptionUpdated,
)

_MODELS: tuple[type[EventData], ...] = (
    OpportunityClosedWon,
    InvoicePosted,
    CustomerPaymentApplied,
    CreditMemoRecorded,
    RefundRecorded,
    SalesOrderStatusChanged,
    DepositCreated,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundSettled,
    DisputeOpened,
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    SubscriptionUpdated,
    PayoutPaid,
    PayoutReconciled,
    PaymentMethodSaved,
    PaymentVoided,
    CustomerSynced,
    OrderCreated,
    OrderOnHold,
    InvoicePaid,
    OrderActivated,
    OrderCancelled,
    SubscriptionCreated,
    RefundSucceeded,
    RefundFailed,
    DisputeClosed,
    RefundRequested,
    RefundBooked,
    DepositRecorded,
    ReconciliationException,
    DisputeRecorded,
    DisputeSettled,
    RenewalInvoiced,
    DunningChanged,
    PaymentReviewOpened,
    PaymentReviewClosed,
    EarlyFraudWarningCreated,
)

EVENT_TYPES: dict[str, type[EventData]] = {m.detail_type: m for m in _MODELS}
