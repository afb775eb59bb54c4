"""``o2c replay``: put the events of a time window back on the hub's bus from its archive (EventBridge
``StartReplay``), to every consumer or to one.

EventBridge replays by time and by rule (``Destination.FilterArns``), never by event type: ``--type T`` limits
the replay to the rules of the consumers that take ``T``, and those consumers also receive the other events of
the window that they take. That is safe because every consumer is idempotent by business key (ERP external
ids, Stripe idempotency keys, the lineage's keys, the correlation table's conditional writes): an event they
already handled changes nothing. Replayed events carry ``replay-name``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from o2c_cli.targets import Target, TargetError

#: see AWS_ACTIONS in executions.py
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "replay": (("replay",), frozenset({"events:StartReplay", "events:DescribeReplay"})),
}
_DONE = {"COMPLETED", "CANCELLED", "FAILED"}


@dataclass(frozen=True)
class ReplayResult:
    name: str
    state: str
    reason: str
    start: datetime
    end: datetime
    consumers: tuple[str, ...]  # empty: every rule of the bus

    def line(self) -> str:
        to = ", ".join(self.consumers) if self.consumers else "every consumer"
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"replay {self.name}: {self.state}{why} — events from {self.start.isoformat()} to "
            f"{self.end.isoformat()}, to {to}"
        )


def parse_time(text: str) -> datetime:
    """ISO 8601 (a date, or a date and time); without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TargetError(f"{text!r} is not a date or time (ISO 8601, e.g. 2026-11-30T09:00)") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def consumers_for(detail_type: str | None, consumer: str | None) -> tuple[str, ...]:
    """The consumers of the hub's bus a replay goes to (empty: all of them)."""
    from infra.topology import CONSUMERS

    hub = {c.id: c for c in CONSUMERS if c.bus == "hub"}
    if consumer is not None and consumer not in hub:
        raise TargetError(f"no consumer {consumer!r} on the hub's bus (one of: {', '.join(sorted(hub))})")
    chosen = [consumer] if consumer else list(hub)
    if detail_type is not None:
        from shared.events.catalog import EVENT_TYPES

        if detail_type not in EVENT_TYPES:
            raise TargetError(
                f"{detail_type!r} is not an event type of the hub (one of: {', '.join(sorted(EVENT_TYPES))})"
            )
    if detail_type is None:
        return tuple(chosen) if consumer else ()
    taking = tuple(c for c in chosen if _takes(hub[c].pattern, detail_type))
    if not taking:
        raise TargetError(f"no consumer{' ' + consumer if consumer else ''} takes {detail_type!r} events")
    return taking


def _takes(pattern: dict[str, Any], detail_type: str) -> bool:
    wanted = pattern.get("detail-type")
    return wanted is None or detail_type in wanted


def replay(
    target: Target,
    start: datetime,
    end: datetime,
    *,
    detail_type: str | None = None,
    consumer: str | None = None,
    wait_s: float = 900,
) -> ReplayResult:
    if end <= start:
        raise TargetError("--to must be after --from")
    if not target.archive_arn or not target.event_bus_arn:
        raise TargetError("this target has no event archive on its bus")
    consumers = consumers_for(detail_type, consumer)
    destination: dict[str, Any] = {"Arn": target.event_bus_arn}
    if consumers:
        missing = [c for c in consumers if c not in target.rule_arns]
        if missing:
            raise TargetError(f"this target has no rule for {', '.join(missing)}")
        destination["FilterArns"] = [target.rule_arns[c] for c in consumers]
    # the operator policy allows replays named after the bus; [.-_A-Za-z0-9], 64 at most
    name = f"{target.event_bus_name}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"[-64:]
    events = target.client("events")
    events.start_replay(
        ReplayName=name,
        Description=f"o2c replay {start.isoformat()} .. {end.isoformat()}"[:512],
        EventSourceArn=target.archive_arn,
        EventStartTime=start,
        EventEndTime=end,
        Destination=destination,
    )
    deadline = time.monotonic() + wait_s
    while True:
        described = events.describe_replay(ReplayName=name)
        if described["State"] in _DONE or time.monotonic() > deadline:
            break
        time.sleep(1)
    return ReplayResult(
        name=name,
        state=str(described["State"]),
        reason=str(described.get("StateReason") or ""),
        start=start,
        end=end,
        consumers=consumers,
    )
