"""``o2c console``: the operations console, a web page on loopback over a target (the local cloud or a
deployed stack, ``--stack``) — the business figures and plots, the deals by state with their timeline and
what each waits for, the DLQs, the pending facts, the last reconciliation — and the operator's actions
(approve, release a hold, redrive, replay a DLQ), each the ``o2c`` command of the same name."""

from __future__ import annotations

from typing import Any

from o2c_cli.targets import Target

#: The AWS actions the console calls on a deployed stack (after resolving it: targets.py), from these entry
#: functions. The operator policies grant them; tests/infra/test_operator_policy.py reads the boto3 calls to
#: keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "console": (
        ("read", "act"),
        frozenset(
            {
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "events:PutEvents",
                "lambda:InvokeFunction",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
                "sqs:StartMessageMoveTask",
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:ListExecutions",
                "states:RedriveExecution",
                "states:SendTaskSuccess",
            }
        ),
    ),
}


def read(target: Target, deal: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """What the page shows: the whole snapshot, or one deal's timeline."""
    from o2c_cli.console import data

    if deal:
        return data.deal_timeline(target, deal)
    return data.snapshot(target, **kwargs)


def act(target: Target, action: str, params: dict[str, Any], *, by: str) -> dict[str, Any]:
    """One operator action (``actions.ACTIONS``)."""
    from o2c_cli.console import actions

    return actions.perform(target, action, params, by=by)
