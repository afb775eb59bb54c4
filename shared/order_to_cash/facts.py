"""Publishing the hub's own facts from the domain: the one emit path, ``shared.publisher.emit``."""

from __future__ import annotations

from shared.events.envelope import EventData, SourceSystem
from shared.publisher import emit, stage_publisher

#: the stage's publisher (kept under its old name for the modules that publish whole events)
publisher = stage_publisher


def publish(
    data: EventData,
    *,
    correlation_id: str,
    causation_id: str | None,
    source_system: SourceSystem = "o2c",
    source_event_id: str | None = None,
) -> None:
    emit(
        data,
        correlation_id=correlation_id,
        causation_id=causation_id,
        source_system=source_system,
        source_event_id=source_event_id,
    )
