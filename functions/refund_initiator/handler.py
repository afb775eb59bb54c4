"""Consumer: ``RefundRequested`` (``o2c refund``) → a Stripe refund with an idempotency key per request.
The ERP is booked when Stripe's webhook confirms it (refund_booker); a refund Stripe refuses is reported
as ``RefundFailed``, never booked."""

from __future__ import annotations

from shared.consumers import Consumer, Delivered, Emit, consumer
from shared.errors import PermanentError
from shared.events.after_sale import RefundRequested
from shared.events.payments import RefundFailed
from shared.observability import logger
from shared.outbound.factories import stripe_payments


def initiate(event: Delivered[RefundRequested]) -> Emit | None:
    request = event.data
    try:
        result = stripe_payments().create_refund(
            payment_intent_id=request.paymentIntentId,
            amount=request.amount,
            metadata={
                "o2c_refund_request_id": request.requestId,
                "o2c_correlation_id": event.correlation_id,
            },
            idempotency_key=f"refund:{request.requestId}",
            reason=request.reason,
        )
    except PermanentError as exc:  # e.g. more than remains refundable: reported, not retried
        logger.warning("refund refused by Stripe", extra={"request": request.requestId, "code": exc.code})
        return Emit(
            RefundFailed(
                refundId=f"not-created:{request.requestId}",
                paymentIntentId=request.paymentIntentId,
                amount=request.amount,
                failureReason=exc.code or str(exc),
                requestId=request.requestId,
            ),
            source_event_id=f"refund-refused:{request.requestId}",
        )
    logger.info(
        "refund created", extra={"request": request.requestId, "refund": result.id, "status": result.status}
    )
    return None


REFUND_REQUESTS = Consumer("RefundInitiator", handles={"RefundRequested": initiate})

lambda_handler = consumer(REFUND_REQUESTS)
