"""Canonical facts of Stripe Radar (source ``o2c.payments``): reviews of a payment and early fraud
warnings from the card's issuer."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from shared.events.payments import PaymentEventData
from shared.record import doc, record


@record
class PaymentReviewOpened(PaymentEventData):
    """Radar placed a payment in review (``review.opened``): its capture waits until the review is closed."""

    detail_type: ClassVar[str] = "PaymentReviewOpened"
    reviewId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    reason: str = field(metadata=doc("Why it is open: rule or manual (Stripe's opened_reason)"))


@record
class PaymentReviewClosed(PaymentEventData):
    """A review was closed (``review.closed``): ``approved`` lets the capture go on; ``refunded``,
    ``refunded_as_fraud``, ``disputed`` (and Stripe's other reasons) do not."""

    detail_type: ClassVar[str] = "PaymentReviewClosed"
    reviewId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    closedReason: str | None = field(default=None, metadata=doc("Stripe's closed_reason, e.g. approved"))


@record
class EarlyFraudWarningCreated(PaymentEventData):
    """The card's issuer warned that a charge may be fraudulent (``radar.early_fraud_warning.created``)."""

    detail_type: ClassVar[str] = "EarlyFraudWarningCreated"
    earlyFraudWarningId: str
    chargeId: str
    paymentIntentId: str | None = None
    fraudType: str
    actionable: bool = field(metadata=doc("Stripe: not yet refunded in full nor disputed"))
