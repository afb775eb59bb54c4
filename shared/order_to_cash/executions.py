"""Where a quote-to-cash execution stands: its status, the step it is in, what it waits for and the steps
it went through. One computation for ``o2c status`` (``o2c_cli.executions``) and ``GET /v1/orders/{id}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExecutionState:
    name: str
    arn: str
    status: str
    current_state: str | None
    error: str | None
    cause: str | None
    waiting_on: str | None
    #: (ISO timestamp, state entered), oldest first
    timeline: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def line(self) -> str:
        where = f" at {self.current_state}" if self.current_state else ""
        waiting = f" (waiting on {self.waiting_on})" if self.waiting_on else ""
        failed = f" {self.error}: {self.cause}" if self.error else ""
        return f"execution {self.name}: {self.status}{where}{waiting}{failed}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def execution_state(
    sfn: Any, state_machine_arn: str, name: str, correlator: Any | None
) -> ExecutionState | None:
    """The execution ``name`` of the state machine, or None when there is none; ``correlator``
    (``shared.order_to_cash.correlation.Correlator``) says what a waiting execution waits for."""
    arn = execution_arn(state_machine_arn, name)
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    current = None
    timeline: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            if "stateEnteredEventDetails" in event:
                current = event["stateEnteredEventDetails"]["name"]
                stamp = event.get("timestamp")
                timeline.append((stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp), current))
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    wait = correlator.waiting_on(name) if correlator is not None else None
    return ExecutionState(
        name=name,
        arn=arn,
        status=described["status"],
        current_state=current,
        error=described.get("error"),
        cause=described.get("cause"),
        waiting_on=wait.key if wait else None,
        timeline=tuple(timeline),
    )


def execution_input(detail: dict[str, Any]) -> dict[str, Any]:
    """The input of a quote-to-cash execution from an ``OpportunityClosedWon``'s detail (a CRM win, or an
    order submitted through ``POST /v1/orders``), with the waits' timeouts from the stage settings."""
    return start_input(detail["data"], correlation_id=detail["metadata"]["correlationId"])


def start_input(opportunity: Mapping[str, Any], *, correlation_id: str) -> dict[str, Any]:
    """The input of a quote-to-cash execution from an ``OpportunityClosedWon``'s data (as JSON) and its
    correlation id, with the waits' timeouts from the stage settings."""
    import os

    return {
        "correlationId": correlation_id,
        "opportunity": opportunity,
        "config": {
            "holdTimeoutSeconds": int(os.environ.get("HOLD_TIMEOUT_SECONDS", "604800")),
            "paymentMethodTimeoutSeconds": int(os.environ.get("PAYMENT_METHOD_TIMEOUT_SECONDS", "1209600")),
            "declineHoldTimeoutSeconds": int(os.environ.get("DECLINE_HOLD_TIMEOUT_SECONDS", "604800")),
            "approvalTimeoutSeconds": int(os.environ.get("APPROVAL_TIMEOUT_SECONDS", "1209600")),
            "captureConfirmationTimeoutSeconds": int(
                os.environ.get("CAPTURE_CONFIRMATION_TIMEOUT_SECONDS", "86400")
            ),
            # a bank debit's outcome: SEPA up to 14 business days, ACH 4 (Stripe); three weeks, then a person
            "debitOutcomeTimeoutSeconds": int(os.environ.get("DEBIT_OUTCOME_TIMEOUT_SECONDS", "1814400")),
        },
    }
