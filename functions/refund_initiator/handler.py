"""Consumer: ``RefundRequested`` (``o2c refund``) → a Stripe refund with an idempotency key per request.
The ERP is booked when Stripe's webhook confirms it (refund_booker); a refund Stripe refuses is reported
as ``RefundFailed``, never booked."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.errors import PermanentError
from shared.events.payments import RefundFailed
from shared.money import Money
from shared.observability import logger
from shared.order_to_cash.facts import publish
from shared.outbound.factories import stripe_payments


def initiate(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    amount = Money.model_validate(data["amount"]) if data.get("amount") else None
    try:
        result = stripe_payments().create_refund(
            payment_intent_id=data["paymentIntentId"],
            amount=amount,
            metadata={
                "o2c_refund_request_id": data["requestId"],
                "o2c_correlation_id": metadata["correlationId"],
            },
            idempotency_key=f"refund:{data['requestId']}",
            reason=data.get("reason"),
        )
    except PermanentError as exc:  # e.g. more than remains refundable: reported, not retried
        publish(
            RefundFailed(
                refundId=f"not-created:{data['requestId']}",
                paymentIntentId=data["paymentIntentId"],
                amount=amount,
                failureReason=exc.code or str(exc),
                requestId=data["requestId"],
            ),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"refund-refused:{data['requestId']}",
        )
        logger.warning("refund refused by Stripe", extra={"request": data["requestId"], "code": exc.code})
        return
    logger.info(
        "refund created", extra={"request": data["requestId"], "refund": result.id, "status": result.status}
    )


lambda_handler = sqs_consumer(initiate)
