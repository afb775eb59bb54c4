"""``o2c pending``: the facts that wait for another fact (``shared.order_to_cash.pending``), and releasing them by hand
(what the hourly sweep does) once the cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime

from o2c_cli.targets import Target, TargetError
from shared.order_to_cash.pending import Parked, PendingFacts

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "pending list": (
        ("waiting",),
        frozenset({"dynamodb:Scan"}),
    ),
    "pending release": (
        ("release_all",),
        frozenset({"dynamodb:Scan", "dynamodb:UpdateItem", "events:PutEvents"}),
    ),
}


def _store(target: Target) -> PendingFacts:
    if not target.pending_table:
        raise TargetError(f"{target.name} has no pending table (deployed before it existed?)")
    return PendingFacts(
        target.client("dynamodb"),
        target.pending_table,
        events=target.client("events"),
        bus_name=target.event_bus_name,
    )


def waiting(target: Target) -> list[Parked]:
    return sorted((p for p in _store(target).all() if p.waiting), key=lambda p: p.first_parked_at)


def release_all(target: Target) -> int:
    store = _store(target)
    return store.release([p for p in store.all() if p.waiting])


def line(item: Parked) -> str:
    since = datetime.fromtimestamp(item.first_parked_at, UTC).isoformat(timespec="seconds")
    return (
        f"{item.consumer:<16} {item.detail_type:<16} event {item.event_id}  awaits {item.awaiting}"
        f"  since {since} ({item.releases} release(s)): {item.reason}"
    )
