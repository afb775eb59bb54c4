"""Consumer: chargebacks. ``DisputeOpened`` → a pending dispute hold in the ERP and a task for the deal's
owner with the evidence due date; ``DisputeClosed`` → won: the hold is cancelled; lost: credit memo and
refund in the ERP."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.connectors.factories import avatax, crm_for, netsuite_erp, stripe_payments
from shared.consumers import sqs_consumer
from shared.events.after_sale import DisputeRecorded, DisputeSettled
from shared.o2c.after_sale import record_dispute, settle_dispute, skipping_unknown
from shared.o2c.facts import publish
from shared.o2c.pending import parking
from shared.observability import logger


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


def sync(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    if event["detail-type"] == "DisputeOpened":
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
