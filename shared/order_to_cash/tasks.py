"""Lambda plumbing for the state machine's task functions: one handler per connector, dispatching on the
``action`` the state names, with the deal's correlation id on every log line. Every connector call of a step
ends before the function's timeout (``shared.deadline``): a step that runs out of time fails with
``DeadlineExceeded`` (transient, retried by the state machine) instead of being killed as ``Sandbox.Timedout``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared import deadline
from shared.crm.models import CrmOpportunity
from shared.observability import lambda_entry, logger
from shared.order_to_cash.step_errors import classified

Action = Callable[[dict[str, Any]], dict[str, Any]]


def opportunity_of(event: Mapping[str, Any]) -> CrmOpportunity:
    """The CRM snapshot inside the execution's ``opportunity`` (an OpportunityClosedWon's data)."""
    return CrmOpportunity.parse(event["opportunity"]["opportunity"])


def task_handler(actions: Mapping[str, Action]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        action = event.get("action", "")
        if event.get("correlationId"):
            logger.set_correlation_id(event["correlationId"])
        logger.append_keys(action=action, execution=event.get("execution"))
        if action not in actions:
            raise ValueError(f"unknown action {action!r}; known: {sorted(actions)}")
        with deadline.from_context(context):
            result = classified(actions[action])(event)
        logger.info("step done")
        return result

    return lambda_handler
