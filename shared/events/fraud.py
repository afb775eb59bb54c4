"""Canonical facts of Stripe Radar (source ``o2c.payments``): reviews of a payment and early fraud
warnings from the card's issuer."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.events.payments import PaymentEventData


class PaymentReviewOpened(PaymentEventData):
    """Radar placed a payment in review (``review.opened``): its capture waits until the review is closed."""

    detail_type: ClassVar[str] = "PaymentReviewOpened"
    reviewId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    reason: str = Field(description="Why it is open: rule or manual (Stripe's opened_reason)")


class PaymentReviewClosed(PaymentEventData):
    """A review was closed (``review.closed``): ``approved`` lets the capture go on; ``refunded``,
    ``refunded_as_fraud``, ``disputed`` (and Stripe's other reasons) do not."""

    detail_type: ClassVar[str] = "PaymentReviewClosed"
    reviewId: str
    chargeId: str | None = None
    paymentIntentId: str | None = None
    closedReason: str | None = Field(default=None, description="Stripe's closed_reason, e.g. approved")


class EarlyFraudWarningCreated(PaymentEventData):
    """The card's issuer warned that a charge may be fraudulent (``radar.early_fraud_warning.created``)."""

    detail_type: ClassVar[str] = "EarlyFraudWarningCreated"
    earlyFraudWarningId: str
    chargeId: str
    paymentIntentId: str | None = None
    fraudType: str
    actionable: bool = Field(description="Stripe: not yet refunded in full nor disputed")
