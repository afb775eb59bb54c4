"""Publishes canonical events to the stage's EventBridge bus.

PutEvents takes at most 10 entries and 256 KB a call (entry sizes counted as AWS documents them, see
``entry_size``) and reports failures per entry (``FailedEntryCount``): the caller must re-send the failed
entries. If some still fail after the retries, ``PublishError`` is raised so the caller can refuse the delivery
(5xx → the provider retries). An event too large to go in a call on its own would fail the same way on every
retry: its ``data`` is stored as a claim check (``shared.claimcheck``) and the event published with the check.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from shared.claimcheck import ClaimChecks
from shared.events.envelope import CanonicalEvent, EventData, SourceSystem, new_event

#: AWS EventBridge quotas, "PutEvents": up to 10 entries per request.
MAX_ENTRIES_PER_CALL = 10
#: AWS EventBridge quotas: "The total size of a PutEvents request ... 256 KB"; sizes computed as in "Calculating
#: PutEvents event entry size" (EventBridge User Guide). The 1 MB event size of Jan 2026 is not relied upon:
#: the 256 KB request rule holds everywhere, and SQS targets and Step Functions inputs stop at 256 KB too.
MAX_REQUEST_BYTES = 256 * 1024
#: An entry above this is claim-checked: the room left keeps the event deliverable once EventBridge wraps it in
#: its envelope (id, account, region, time, resources) for an SQS target.
MAX_INLINE_ENTRY_BYTES = MAX_REQUEST_BYTES - 1024
#: "Time": 14 bytes when present, whatever its format.
_TIME_BYTES = 14


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as AWS computes it ("Calculating PutEvents event entry size")."""
    size = _TIME_BYTES if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail", "EventBusName"):
        if entry.get(field):
            size += len(str(entry[field]).encode("utf-8"))
    for resource in entry.get("Resources") or ():
        size += len(resource.encode("utf-8"))
    return size


def bus_entry(
    *, source: str, detail_type: str, detail: str, bus_name: str, time: datetime | None = None
) -> dict[str, Any]:
    """The PutEvents entry of one canonical event (``detail`` = the envelope's JSON), the only place one is
    built: the publisher's events and the pending store's released ones go on the bus through it."""
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": bus_name,
    }
    if time is not None:
        entry["Time"] = time
    return entry


def batches(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive entries grouped into calls of at most 10 entries and ``MAX_REQUEST_BYTES``, in order."""
    calls: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_bytes = 0
    for entry in entries:
        size = entry_size(entry)
        if current and (len(current) == MAX_ENTRIES_PER_CALL or current_bytes + size > MAX_REQUEST_BYTES):
            calls.append(current)
            current, current_bytes = [], 0
        current.append(entry)
        current_bytes += size
    if current:
        calls.append(current)
    return calls


class PublishError(Exception):
    """Some events could not be published after retries."""


class EventPublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        max_attempts: int = 4,
        base_delay_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        claim_checks: ClaimChecks | None = None,
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep
        self._claim_checks = claim_checks

    def entry(self, event: CanonicalEvent) -> dict[str, Any]:
        entry = bus_entry(
            source=event.source,
            detail_type=event.detail_type,
            detail=event.detail_json(),
            bus_name=self._bus_name,
            time=event.metadata.occurredAt,
        )
        if entry_size(entry) <= MAX_INLINE_ENTRY_BYTES:
            return entry
        if self._claim_checks is None:
            raise PublishError(
                f"event {event.metadata.eventId} ({entry_size(entry)} bytes) exceeds the PutEvents limit "
                "and no claim-check bucket is configured"
            )
        detail = event.dump()
        detail["data"] = self._claim_checks.store(
            event.metadata.eventId, json.dumps(detail["data"], separators=(",", ":"))
        )
        return {**entry, "Detail": json.dumps(detail, separators=(",", ":"))}

    def publish(self, events: Sequence[CanonicalEvent]) -> int:
        """Publish all events; returns how many PutEvents calls it took."""
        entries = [self.entry(e) for e in events]
        calls = 0
        for pending in batches(entries):
            for attempt in range(self._max_attempts):
                if attempt:
                    # Full jitter backoff before re-sending only the entries that failed.
                    self._sleep(random.uniform(0, self._base_delay_s * 2**attempt))
                try:
                    response = self._client.put_events(Entries=pending)
                except Exception as exc:  # botocore already retried throttling/5xx in standard mode
                    # AWS's own message (e.g. an AccessDenied names the principal, action and bus), never the
                    # events' contents
                    reason = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
                    raise PublishError(
                        f"PutEvents failed: {type(exc).__name__}" + (f": {reason}" if reason else "")
                    ) from exc
                calls += 1
                if not response.get("FailedEntryCount"):
                    pending = []
                    break
                pending = [
                    entry
                    for entry, result in zip(pending, response["Entries"], strict=True)
                    if result.get("ErrorCode")
                ]
            if pending:
                raise PublishError(f"{len(pending)} event(s) not accepted by EventBridge after retries")
        return calls


@cache
def stage_publisher() -> EventPublisher:
    """The publisher of the stage's bus (``EVENT_BUS_NAME``), claim-checking into its bucket if it has one."""
    from shared.aws import client

    return EventPublisher(client("events"), os.environ["EVENT_BUS_NAME"], claim_checks=ClaimChecks.from_env())


def emit(
    data: EventData,
    *,
    correlation_id: str,
    causation_id: str | None,
    source_event_id: str | None = None,
    source_system: SourceSystem = "o2c",
) -> CanonicalEvent:
    """The hub's one emit path for its own facts: ``data`` in the canonical envelope (deterministic event id
    from ``source_event_id``; correlation and causation carried from the event that caused it), published
    on the stage's bus. Consumers (``shared.consumers``), the reconciler and the refund path use it."""
    event = new_event(
        data,
        source_system=source_system,
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_event_id=source_event_id,
    )
    stage_publisher().publish([event])
    return event
