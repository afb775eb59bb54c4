"""EventBridge replays on the embedded cloud as AWS runs them. moto 5.2.5 has StartReplay, but it resends
*every* archived event to *every* rule of the bus: it ignores the time window and ``Destination.FilterArns``.
Installed by ``moto_patches.install()``.

What AWS documents (EventBridge API reference: StartReplay, ReplayDestination, Replay; user guide
"Archiving and replaying events"), and what this makes moto do:

- Only the archived events whose own ``time`` lies between ``EventStartTime`` and ``EventEndTime`` are
  replayed ("A replay processes events to replay based on the time in the event"), oldest first.
- ``Destination.FilterArns`` given: only those rules receive them; otherwise every rule of the bus. Rules
  that are disabled, and the rules EventBridge manages for its archives (whose pattern refuses replayed
  events, so a replay is never archived again), receive nothing.
- A replayed event carries ``replay-name``: consumers can tell it from a live one.
- ``DescribeReplay`` reports ``EventLastReplayedTime``.
- At most 10 replays may be active at once per account and region (``LimitExceededException``).

Local difference: AWS runs a replay in the background (the answer of StartReplay is ``STARTING``, then
``RUNNING`` until ``COMPLETED``); moto delivers every event before StartReplay answers, so DescribeReplay
already says ``COMPLETED``. A caller polls DescribeReplay either way.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

MAX_ACTIVE_REPLAYS = 10


def _epoch(value: Any) -> float | None:
    """A time from a request or an archived event (epoch seconds, or ISO 8601) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()
    text = str(value)
    try:
        return float(text)
    except ValueError:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).timestamp()


def _in_window(event: dict[str, Any], start: float | None, end: float | None) -> bool:
    when = _epoch(event.get("time"))
    if when is None:
        return False
    return (start is None or when >= start) and (end is None or when <= end)


def install() -> None:
    from moto.core.utils import unix_time
    from moto.events.models import EventsBackend, Replay, ReplayState, events_backends
    from moto.moto_api._internal import mock_random as random

    def replay_events(self: Any, archive: Any) -> None:
        backend = events_backends[self.account_id][self.region]
        bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
        only = set(self.destination.get("FilterArns") or [])
        rules = [
            rule
            for rule in bus.rules.values()
            if rule.state == "ENABLED" and not rule.managed_by and (not only or rule.arn in only)
        ]
        start, end = _epoch(self.event_start_time), _epoch(self.event_end_time)
        chosen = [e for e in list(archive.events) if _in_window(e, start, end)]
        chosen.sort(key=lambda e: _epoch(e.get("time")) or 0.0)
        self.state = ReplayState.RUNNING
        for archived in chosen:
            for rule in rules:
                event = copy.deepcopy(archived)
                event.pop("ingestion-time", None)
                event["id"] = str(random.uuid4())
                event["replay-name"] = self.name
                rule.send_to_targets(event, transform_input=False)
            self.event_last_replayed_time = _epoch(archived.get("time"))
        self.state = ReplayState.COMPLETED
        self.end_time = unix_time()

    original_describe_short = Replay.describe_short

    def describe_short(self: Any) -> dict[str, Any]:
        out = original_describe_short(self)
        last = getattr(self, "event_last_replayed_time", None)
        if last is not None:
            out["EventLastReplayedTime"] = last
        return out

    original_start = EventsBackend.start_replay

    def start_replay(
        self: Any,
        name: str,
        description: str,
        source_arn: str,
        start_time: str,
        end_time: str,
        destination: dict[str, Any],
    ) -> dict[str, Any]:
        from moto.events.exceptions import ValidationException

        active = [r for r in self.replays.values() if r.state in (ReplayState.STARTING, ReplayState.RUNNING)]
        if len(active) >= MAX_ACTIVE_REPLAYS:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError(
                "LimitExceededException",
                f"The requested resource exceeds the maximum number allowed ({MAX_ACTIVE_REPLAYS}).",
            )
        bus_arn = destination.get("Arn", "")
        for rule_arn in destination.get("FilterArns") or []:
            bus_name = bus_arn.split("/")[-1]
            prefix = bus_arn.replace(":event-bus/", ":rule/") + "/"
            if bus_name == "default":
                prefix = bus_arn.replace(":event-bus/default", ":rule/")
            if not rule_arn.startswith(prefix):
                raise ValidationException(
                    f"Parameter Destination.FilterArns is not valid. Reason: Rule {rule_arn} is not on "
                    f"the event bus {bus_arn}."
                )
        return dict(original_start(self, name, description, source_arn, start_time, end_time, destination))

    Replay.replay_events = replay_events  # type: ignore[method-assign]
    Replay.describe_short = describe_short  # type: ignore[method-assign]
    EventsBackend.start_replay = start_replay  # type: ignore[method-assign]
