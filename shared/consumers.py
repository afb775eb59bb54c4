"""Lambda plumbing for the SQS consumers: Powertools wiring and partial batch responses, so a record that
fails is retried (and ends in the queue's DLQ) without retrying the rest of its batch. A claim-checked event
(``shared.claimcheck``) has its data loaded back before the record handler sees it.

Time budget: the invocation's deadline (``shared.outbound.deadline``, the Lambda's remaining time less a
safety margin) bounds every connector call the records make. A record that finds too little time left is not
started: it is reported as a batch item failure, as is one whose call ran out of time, so the batch ends
within the function's timeout and only the unprocessed records come back (each with one more receive)
instead of the whole batch timing out. "Too little" is less than the slowest record of the batch so far took
(at least one call's minimum): AWS SDK calls are not cut to the deadline as the vendor calls are, so a batch
whose records turn slow (DynamoDB retrying, a cold connection) stops before its timeout instead of in it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.claimcheck import resolve_record
from shared.observability import logger, metrics, tracer
from shared.outbound import deadline

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def sqs_consumer(
    record_handler: Callable[[SQSRecord], Any], *, on_invocation: Callable[[Any], None] | None = None
) -> LambdaHandler:
    """A handler that runs ``record_handler`` per record; ``on_invocation(context)`` runs first."""
    processor = BatchProcessor(event_type=EventType.SQS)
    slowest_s = [0.0]  # the longest record of the current invocation

    def handle(record: SQSRecord) -> Any:
        # not started (reported as a batch item failure) unless the slowest record so far would still fit
        deadline.ensure(f"SQS message {record.message_id}", max(deadline.MIN_ATTEMPT_S, slowest_s[0]))
        started = time.monotonic()
        try:
            return record_handler(resolve_record(record))
        finally:
            slowest_s[0] = max(slowest_s[0], time.monotonic() - started)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if on_invocation is not None:
            on_invocation(context)
        slowest_s[0] = 0.0
        with deadline.from_context(context):
            return dict(
                process_partial_response(
                    event=event, record_handler=handle, processor=processor, context=context
                )
            )

    return lambda_handler
