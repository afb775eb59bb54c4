"""``o2c trace ID``: the lineage of a deal or a payment, found by any id it carries."""

from __future__ import annotations

import json
from typing import Any

from o2c_cli.targets import Target
from shared.lineage import LineageEntry, LineageStore
from shared.money import Money

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "trace": (
        ("trace", "executions_of"),
        frozenset(
            {"dynamodb:GetItem", "dynamodb:Query", "states:DescribeExecution", "states:GetExecutionHistory"}
        ),
    ),
}


def trace(target: Target, the_id: str) -> list[LineageEntry]:
    return LineageStore(target.client("dynamodb"), target.lineage_table).trace(the_id)


def _money_fields(data: dict[str, Any]) -> str:
    parts = []
    if isinstance(data.get("opportunity"), dict):  # OpportunityClosedWon: the deal's amount and completeness
        parts.append(_money_fields({"amount": data["opportunity"].get("amount")}))
        parts.append(
            "complete" if data.get("complete") else f"incomplete({len(data.get('missingFields', []))})"
        )
    for key, value in data.items():
        if isinstance(value, dict) and set(value) == {"amount", "currency"}:
            parts.append(f"{key}={Money.parse(value).format()}")
    return " ".join(parts)


def _ids(entry: LineageEntry) -> str:
    return " ".join(f"{k}={v}" for k, v in entry.data.items() if k.endswith("Id") and isinstance(v, str))


def as_json(the_id: str, entries: list[LineageEntry], executions: list[Any] | None = None) -> str:
    ids = sorted({i for e in entries for i in e.ids})
    return json.dumps(
        {
            "id": the_id,
            "ids": ids,
            "events": [e.as_dict() for e in entries],
            "executions": [vars(s) for s in executions or []],
        },
        indent=2,
    )


def executions_of(target: Target, entries: list[LineageEntry]) -> list[Any]:
    """The quote-to-cash executions of the deals in a lineage, with their current step."""
    if not target.state_machine_arn:
        return []
    from o2c_cli.executions import execution_name, state_of

    names = {
        execution_name(e.data["crmSystem"], e.data["opportunityId"])
        for e in entries
        if e.detail_type == "OpportunityClosedWon"
    }
    return [s for s in (state_of(target, n) for n in sorted(names)) if s is not None]


def as_text(the_id: str, entries: list[LineageEntry], executions: list[Any] | None = None) -> str:
    if not entries:
        return f"no events carry {the_id}"
    lines = [f"lineage of {the_id}: {len(entries)} event(s)"]
    for e in entries:
        lines.append(
            f"  {e.occurred_at[:19]}  {e.source:<18} {e.detail_type:<28} {_ids(e)}  {_money_fields(e.data)}".rstrip()
        )
    ids = sorted({i for e in entries for i in e.ids})
    lines.append(f"  ids: {', '.join(ids)}")
    lines.extend(f"  {state.line()}" for state in executions or [])
    return "\n".join(lines)
