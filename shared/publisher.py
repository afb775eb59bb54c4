"""Publishes canonical events to the stage's EventBridge bus.

PutEvents takes at most 10 entries a call and reports failures per entry (``FailedEntryCount``): the
caller must re-send the failed entries. If some still fail after the retries, ``PublishError`` is
raised so the caller can refuse the delivery (5xx → the provider retries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from shared.events.envelope import CanonicalEvent

MAX_ENTRIES_PER_CALL = 10


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
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep

    def entry(self, event: CanonicalEvent) -> dict[str, Any]:
        return {
            "Source": event.source,
            "DetailType": event.detail_type,
            "Detail": event.detail_json(),
            "EventBusName": self._bus_name,
            "Time": event.metadata.occurredAt,
        }

    def publish(self, events: Sequence[CanonicalEvent]) -> int:
        """Publish all events; returns how many PutEvents calls it took."""
        entries = [self.entry(e) for e in events]
        calls = 0
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            pending = entries[start : start + MAX_ENTRIES_PER_CALL]
            for attempt in range(self._max_attempts):
                if attempt:
                    # Full jitter backoff before re-sending only the entries that failed.
                    self._sleep(random.uniform(0, self._base_delay_s * 2**attempt))
                try:
                    response = self._client.put_events(Entries=pending)
                except Exception as exc:  # botocore already retried throttling/5xx in standard mode
                    raise PublishError(f"PutEvents failed: {type(exc).__name__}") from exc
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
