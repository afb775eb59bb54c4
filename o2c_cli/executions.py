"""Quote-to-cash executions as an operator sees them: find a deal's execution by any id, where it stands,
and the person's actions on it (approve, release a hold, redrive)."""

from __future__ import annotations

from typing import Any

from o2c_cli.targets import Target, TargetError
from shared.order_to_cash.executions import ExecutionState, execution_state
from shared.order_to_cash.executions import execution_arn as shared_execution_arn
from shared.order_to_cash.naming import execution_name

__all__ = ["ExecutionState", "execution_name", "state_of"]

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "status": (
        ("resolve_execution", "state_of"),
        frozenset(
            {"dynamodb:GetItem", "dynamodb:Query", "states:DescribeExecution", "states:GetExecutionHistory"}
        ),
    ),
    "approve": (
        ("approve",),
        frozenset(
            {
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:SendTaskSuccess",
            }
        ),
    ),
    "hold release": (
        ("release_hold",),
        frozenset(
            {
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:UpdateItem",
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:SendTaskSuccess",
            }
        ),
    ),
    "redrive": (
        ("redrive",),
        frozenset(
            {
                "dynamodb:GetItem",
                "dynamodb:Query",
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:RedriveExecution",
            }
        ),
    ),
}


def execution_arn(target: Target, name: str) -> str:
    if not target.state_machine_arn:
        raise TargetError("this target has no quote-to-cash state machine")
    return shared_execution_arn(target.state_machine_arn, name)


def correlator(target: Target) -> Any:
    from shared.order_to_cash.correlation import Correlator

    return Correlator(target.client("dynamodb"), target.correlation_table, target.client("stepfunctions"))


def state_of(target: Target, name: str) -> ExecutionState | None:
    execution_arn(target, name)  # a target without a state machine: TargetError
    return execution_state(
        target.client("stepfunctions"),
        target.state_machine_arn,
        name,
        correlator(target) if target.correlation_table else None,
    )


def resolve_execution(target: Target, any_id: str) -> str:
    """An execution name from itself, an opportunity id, a correlation id, or any id in the deal's lineage."""
    if target.state_machine_arn and state_of(target, any_id) is not None:
        return any_id
    # the lineage store itself, not o2c_cli.trace (which reads executions: the two modules would import each other)
    from shared.lineage import LineageStore

    for entry in LineageStore(target.client("dynamodb"), target.lineage_table).trace(any_id):
        if entry.detail_type == "OpportunityClosedWon":
            return execution_name(entry.data["crmSystem"], entry.data["opportunityId"])
        if entry.correlation_id.count(":") == 1:
            crm, opportunity = entry.correlation_id.split(":")
            if crm in {"hubspot", "salesforce", "api"}:
                return execution_name(crm, opportunity)
    raise TargetError(f"no quote-to-cash execution found for {any_id!r}")


def approve(target: Target, any_id: str, *, approved: bool, by: str) -> tuple[str, bool]:
    name = resolve_execution(target, any_id)
    resumed = correlator(target).deliver_fact(f"approval:{name}", {"approved": approved, "by": by})
    return name, resumed


def release_hold(target: Target, any_id: str, *, by: str) -> tuple[str, bool]:
    name = resolve_execution(target, any_id)
    wait = correlator(target).waiting_on(name)
    if wait is None or not wait.key.startswith("hold:"):
        raise TargetError(f"execution {name} is not on hold for sales operations")
    return name, correlator(target).deliver_fact(wait.key, {"releasedBy": by})


def redrive(target: Target, any_id: str) -> str:
    name = resolve_execution(target, any_id)
    target.client("stepfunctions").redrive_execution(executionArn=execution_arn(target, name))
    return name
