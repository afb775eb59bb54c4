"""Consumer: records every canonical event in the lineage table (SQS batch, partial batch responses)."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.aws import client
from shared.lineage import LineageStore, entry_from_eventbridge
from shared.observability import MetricUnit, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
_store: list[LineageStore] = []


def store() -> LineageStore:
    if not _store:
        _store.append(LineageStore(client("dynamodb"), os.environ["LINEAGE_TABLE_NAME"]))
    return _store[0]


def record_event(record: SQSRecord) -> None:
    entry = entry_from_eventbridge(json.loads(record.body))
    logger.append_keys(correlation_id=entry.correlation_id)
    written = store().record(entry)
    logger.info(
        "event recorded", extra={"detail_type": entry.detail_type, "event_id": entry.event_id, "ids": written}
    )
    metrics.add_metric(name="EventsRecorded", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_event, processor=processor, context=context
        )
    )
