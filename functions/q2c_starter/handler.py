"""Consumer: every ``OpportunityClosedWon`` starts the deal's quote-to-cash execution, exactly once.

The execution name is derived from the CRM and the opportunity id (``hubspot-18780747262``), so five
deliveries of the same win — or the same win via webhook and Event Relay — start one execution: Step
Functions refuses a second execution with the same name for 90 days."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.consumers import Consumer, Delivered, consumer
from shared.events.crm import OpportunityClosedWon
from shared.observability import MetricUnit, logger, metrics
from shared.order_to_cash.executions import execution_input, start_input
from shared.order_to_cash.naming import execution_name
from shared.settings import Env, EnvSettings

__all__ = ["execution_input", "lambda_handler"]


@dataclass(frozen=True)
class Settings(EnvSettings):
    state_machine_arn: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(state_machine_arn=env.required("QUOTE_TO_CASH_STATE_MACHINE_ARN"))


@cache
def stepfunctions() -> Any:
    from shared.aws import client

    return client("stepfunctions")


def start(event: Delivered[OpportunityClosedWon]) -> None:
    won = event.data
    name = execution_name(won.crmSystem, won.opportunityId)
    sfn = stepfunctions()
    try:
        sfn.start_execution(
            stateMachineArn=Settings.from_env().state_machine_arn,
            name=name,
            input=json.dumps(start_input(event.fields(), correlation_id=event.correlation_id)),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("execution already started for this deal", extra={"execution": name})
        metrics.add_metric(name="DuplicateWins", unit=MetricUnit.Count, value=1)
        return
    logger.info("quote-to-cash started", extra={"execution": name})
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=1)


WINS = Consumer("QuoteToCashStarter", handles={"OpportunityClosedWon": start})

lambda_handler = consumer(WINS)
