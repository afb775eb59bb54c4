"""Target of the state machine's ``waitForTaskToken`` states: stores the task token under the wait's key
and resumes at once if the awaited fact (e.g. an early webhook) is already there."""

from __future__ import annotations

from functools import cache
from typing import Any

from shared.observability import logger, metrics, tracer
from shared.order_to_cash.correlation import Correlator


@cache
def correlator() -> Correlator:
    import os

    from shared.aws import client

    return Correlator(client("dynamodb"), os.environ["CORRELATION_TABLE_NAME"], client("stepfunctions"))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("correlationId"):
        logger.set_correlation_id(event["correlationId"])
    resumed = correlator().register_wait(
        event["key"], event["token"], execution=event["execution"], state=event["state"]
    )
    logger.info("waiting", extra={"wait_key": event["key"], "state": event["state"], "resumed_now": resumed})
    return {"registered": True, "resumedNow": resumed}
