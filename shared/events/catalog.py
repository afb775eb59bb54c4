"""Every canonical event type the hub publishes, by detail-type."""

from __future__ import annotations

from shared.events.envelope import EventData
from shared.events.payments import (
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    DisputeOpened,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PayoutPaid,
    RefundSettled,
    SubscriptionUpdated,
)

_MODELS: tuple[type[EventData], ...] = (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    RefundSettled,
    DisputeOpened,
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    SubscriptionUpdated,
    PayoutPaid,
)

EVENT_TYPES: dict[str, type[EventData]] = {m.detail_type: m for m in _MODELS}
