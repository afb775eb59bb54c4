"""Consumer: every ``OpportunityClosedWon`` starts the deal's quote-to-cash execution, exactly once.

The execution name is derived from the CRM and the opportunity id (``hubspot-18780747262``), so five
deliveries of the same win — or the same win via webhook and Event Relay — start one execution: Step
Functions refuses a second execution with the same name for 90 days."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.order_to_cash.executions import execution_input
from shared.order_to_cash.naming import execution_name

__all__ = ["execution_input", "lambda_handler"]
from shared.observability import MetricUnit, logger, metrics


@cache
def stepfunctions() -> Any:
    from shared.aws import client

    return client("stepfunctions")


def start(record: SQSRecord) -> None:
    event = json.loads(record.body)
    detail = event["detail"]
    data = detail["data"]
    name = execution_name(data["crmSystem"], data["opportunityId"])
    logger.set_correlation_id(detail["metadata"]["correlationId"])
    sfn = stepfunctions()
    try:
        sfn.start_execution(
            stateMachineArn=os.environ["QUOTE_TO_CASH_STATE_MACHINE_ARN"],
            name=name,
            input=json.dumps(execution_input(detail)),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("execution already started for this deal", extra={"execution": name})
        metrics.add_metric(name="DuplicateWins", unit=MetricUnit.Count, value=1)
        return
    logger.info("quote-to-cash started", extra={"execution": name})
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=1)


lambda_handler = sqs_consumer(start)
