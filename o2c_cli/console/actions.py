"""The operator's actions from the console: each is the ``o2c`` command of the same name (the same
function), so the console can do nothing the CLI cannot, and does it the same way."""

from __future__ import annotations

import re
from typing import Any

from o2c_cli import after_sale_commands as after_sale
from o2c_cli import dlq, executions, pending
from o2c_cli.targets import Target, TargetError

#: action → (what it does, as the confirmation asks it; the CLI command it is)
ACTIONS: dict[str, tuple[str, str]] = {
    "approve": ("Approve the order of {name}", "o2c approve {name}"),
    "reject": (
        "Reject the order of {name} (it is cancelled and its authorization voided)",
        "o2c approve {name} --reject",
    ),
    "release": (
        "Release the hold of {name}: the account is re-checked in the CRM",
        "o2c hold release {name}",
    ),
    "redrive": ("Redrive {name} from the step that failed", "o2c redrive {name}"),
    "dlq-redrive": ("Move every dead letter of {queue} back to its queue", "o2c dlq redrive {queue}"),
    "pending-release": ("Put every waiting fact back on the bus now", "o2c pending release"),
    "reconcile": (
        "Reconcile {day} (report only: nothing is published)",
        "o2c reconcile --date {day} --no-publish",
    ),
}

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ActionError(ValueError):
    """A request the console refuses before calling anything (unknown action, malformed parameter)."""


def _param(params: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise ActionError(f"{key}: missing or malformed")
    return value


def perform(target: Target, action: str, params: dict[str, Any], *, by: str) -> dict[str, Any]:
    """Run one action; returns ``{"message": one line, ...}``. Raises ActionError for a malformed request
    and TargetError (or the AWS/vendor error) when the target refuses it."""
    if action in {"approve", "reject"}:
        name = _param(params, "name", _NAME)
        name, resumed = executions.approve(target, name, approved=action == "approve", by=by)
        verdict = "approved" if action == "approve" else "rejected"
        suffix = "" if resumed else " (recorded; the execution is not waiting yet)"
        return {"message": f"{verdict} {name}{suffix}", "resumed": resumed}
    if action == "release":
        name, resumed = executions.release_hold(target, _param(params, "name", _NAME), by=by)
        suffix = "" if resumed else " (already released)"
        return {"message": f"released {name}: the deal is re-checked in the CRM{suffix}", "resumed": resumed}
    if action == "redrive":
        name = executions.redrive(target, _param(params, "name", _NAME))
        return {"message": f"redriving {name} from its failed step"}
    if action == "dlq-redrive":
        queue = _param(params, "queue", _NAME)
        if queue not in target.consumers:
            raise ActionError(f"unknown queue {queue}")
        moved = dlq.redrive(target, queue)
        return {"message": f"redrove {moved} message(s) from {queue}", "moved": moved}
    if action == "pending-release":
        released = pending.release_all(target)
        return {"message": f"released {released} waiting fact(s)", "released": released}
    if action == "reconcile":
        from datetime import date

        day = date.fromisoformat(_param(params, "day", _DAY))
        report = after_sale.reconcile(target, day, publish=False)
        count = len(report["exceptions"])
        return {"message": f"reconciled {day}: {count} exception(s)", "report": report}
    raise ActionError(f"unknown action {action!r}")


def one_line(exc: BaseException) -> str:
    """An AWS or vendor error as the one line an operator reads (never a traceback), as ``o2c`` says it."""
    from o2c_cli.errors import error_line

    if isinstance(exc, TargetError | ActionError):
        return str(exc)
    return " ".join(error_line(exc).split())
