"""Every few minutes (EventBridge Scheduler): the state of the order-to-cash process as CloudWatch gauges.

Reads the open quote-to-cash executions (Step Functions), the facts waiting for another fact (the
``PendingTable``), the dead-letter queues and Stripe's recent disputes, computes the figures with ``shared.operations.figures`` (the
same functions an operations console uses) and publishes them as EMF metrics (``shared.operations.emit``).
It changes nothing. The invocation returns the figures, so ``aws lambda invoke`` shows them too."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

from shared.aws import client
from shared.observability import logger, metrics, tracer
from shared.operations import emit
from shared.operations.figures import read_figures, recent_disputes
from shared.order_to_cash.pending import PendingFacts


def disputes(now: float) -> list[dict[str, Any]] | None:
    """Stripe's recent disputes; None (no dispute gauges this time) if Stripe cannot be read: the other
    figures are still published."""
    from shared.errors import ConnectorError
    from shared.outbound.factories import stripe_payments

    try:
        return recent_disputes(stripe_payments(), now)
    except ConnectorError as exc:
        logger.warning("disputes not read from Stripe", extra={"error": str(exc)})
        return None


def sweep(now: float) -> dict[str, Any]:
    figures = read_figures(
        stepfunctions=client("stepfunctions"),
        state_machine_arn=os.environ["QUOTE_TO_CASH_STATE_MACHINE_ARN"],
        pending_items=PendingFacts(client("dynamodb"), os.environ["PENDING_TABLE_NAME"]).all(),
        sqs=client("sqs"),
        dead_letter_queue_urls=json.loads(os.environ.get("DEAD_LETTER_QUEUE_URLS") or "{}"),
        disputes=disputes(now),
        now=now,
    )
    points = emit.publish_figures(figures)
    logger.info(
        "operations figures published",
        extra={
            "points": points,
            "openOrders": figures.orders.open,
            "pendingFacts": figures.pending.waiting,
            "deadLetters": sum(d.messages for d in figures.dead_letters),
        },
    )
    return dataclasses.asdict(figures)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweep(time.time())
