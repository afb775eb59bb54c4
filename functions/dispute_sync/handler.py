"""Consumer: chargebacks. ``DisputeOpened`` → a pending dispute hold in the ERP and a task for the deal's
owner with the evidence due date; ``DisputeClosed`` → won: the hold is cancelled; lost: credit memo and
refund in the ERP. ``EarlyFraudWarningCreated`` (before a chargeback) → a task for the deal's owner and, by
stage setting, one full refund (``shared.order_to_cash.fraud``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.events.after_sale import DisputeRecorded, DisputeSettled
from shared.observability import logger
from shared.order_to_cash.bookings import record_dispute, settle_dispute, skipping_unknown
from shared.order_to_cash.facts import publish
from shared.order_to_cash.pending import parking
from shared.outbound.factories import avatax, crm_for, netsuite_erp, stripe_payments


@cache
def _tasks_once() -> Any:
    from shared.aws import client
    from shared.idempotency import OnceOnly

    return OnceOnly("crm-task", client=client("dynamodb")).wrap(
        lambda delivery, create: {"status": "accepted", "taskId": create()}
    )


def once(key: str, create: Callable[[], str]) -> str:
    """Create the CRM task at most once per dispute (the idempotency record is removed if it fails)."""
    return str(_tasks_once()(delivery={"id": key, "type": "crm-task"}, create=create)["taskId"])


def early_fraud_warning(metadata: dict[str, Any], data: dict[str, Any]) -> None:
    """A CRM task for the deal's owner and, by stage setting, one full refund through the refund path."""
    from shared.events.after_sale import RefundRequested
    from shared.order_to_cash.early_fraud import record_early_fraud_warning, refund_on_early_fraud_warning

    def request_refund(request_id: str, payment_intent_id: str, correlation_id: str) -> None:
        publish(
            RefundRequested(
                requestId=request_id,
                paymentIntentId=payment_intent_id,
                reason="fraudulent",
                requestedBy="radar-early-fraud-warning",
            ),
            correlation_id=correlation_id or metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=request_id,
        )

    recorded = record_early_fraud_warning(
        stripe_payments(),
        crm_for,
        data,
        once,
        refund=refund_on_early_fraud_warning(),
        request_refund=request_refund,
    )
    logger.info("early fraud warning recorded", extra=recorded)


def sync(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    if event["detail-type"] == "EarlyFraudWarningCreated":
        early_fraud_warning(metadata, data)
    elif event["detail-type"] == "DisputeOpened":
        recorded = record_dispute(netsuite_erp(), stripe_payments(), crm_for, data, once)
        publish(
            DisputeRecorded.model_validate(recorded),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"dispute-recorded:{data['disputeId']}",
        )
    else:
        settled = settle_dispute(netsuite_erp(), data, tax=avatax())
        publish(
            DisputeSettled.model_validate(settled),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"dispute-settled:{data['disputeId']}",
        )
    logger.info("dispute synced", extra={"dispute": data["disputeId"], "fact": event["detail-type"]})


lambda_handler = sqs_consumer(skipping_unknown(parking("DisputeSync")(sync)))
