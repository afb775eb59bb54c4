"""The canonical event envelope (CONTRACT §3): ``detail = {"metadata": {...}, "data": {...}}``."""

from __future__ import annotations

import json
import uuid
from dataclasses import field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from shared.record import Record, doc, record

SourceSystem = Literal["stripe", "hubspot", "salesforce", "erp", "o2c"]
EventSource = Literal["o2c.crm", "o2c.erp", "o2c.payments", "o2c.orchestration", "o2c.reconciliation"]

# Deterministic event ids: the same source fact mapped twice gets the same canonical eventId, so any
# consumer can de-duplicate on it even if a publish is retried.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1c0b52-5a43-4c4f-9d2e-0b2a3c1d7e55")


@record
class EventMetadata(Record):
    eventId: str = field(metadata=doc("Unique id of this canonical event (UUID)"))
    correlationId: str = field(
        metadata=doc("Carried from the first webhook through every later event and log")
    )
    causationId: str | None = field(default=None, metadata=doc("Id of the message that caused this event"))
    occurredAt: datetime = field(metadata=doc("When the business fact happened (UTC)"))
    schemaVersion: str = field(metadata=doc("Version of this event type's schema"))
    sourceSystem: SourceSystem
    sourceEventId: str | None = field(
        default=None, metadata=doc("The provider's own event id (evt_..., eventId, ...)")
    )


@record
class EventData(Record):
    """Base of every event's ``data``. Subclasses declare their detail-type, source and schema version."""

    detail_type: ClassVar[str]
    source: ClassVar[EventSource]
    schema_version: ClassVar[str] = "1"


@record
class CanonicalEvent(Record):
    metadata: EventMetadata
    data: EventData

    @property
    def detail_type(self) -> str:
        return type(self.data).detail_type

    @property
    def source(self) -> str:
        return type(self.data).source

    def detail_json(self) -> str:
        return json.dumps(self.dump(), separators=(",", ":"))

    def lineage_ids(self) -> set[str]:
        """The ids this event is traced by: ``ids_of`` its detail, as the lineage indexes it."""
        return ids_of(self.dump())


def new_event(
    data: EventData,
    *,
    source_system: SourceSystem,
    correlation_id: str,
    occurred_at: datetime | None = None,
    source_event_id: str | None = None,
    causation_id: str | None = None,
) -> CanonicalEvent:
    seed = f"{source_system}:{source_event_id}:{type(data).detail_type}" if source_event_id else None
    event_id = str(uuid.uuid5(_EVENT_ID_NAMESPACE, seed)) if seed else str(uuid.uuid4())
    return CanonicalEvent(
        metadata=EventMetadata(
            eventId=event_id,
            correlationId=correlation_id,
            causationId=causation_id if causation_id is not None else source_event_id,
            occurredAt=occurred_at or datetime.now(UTC),
            schemaVersion=type(data).schema_version,
            sourceSystem=source_system,
            sourceEventId=source_event_id,
        ),
        data=data,
    )


def state_machine_entry(
    *, source: str, detail_type: str, data: dict[str, Any], bus_name: str
) -> dict[str, Any]:
    """The PutEvents entry a Step Functions task state publishes: ``new_event``'s envelope in the state
    machine's terms, its values JSONPath that Step Functions resolves (a fresh id, the execution's correlation
    id, the execution as the cause, the state's entry time). ``infra/statemachine.py`` builds every publishing
    state with it; ``tests/unit/test_envelope.py`` proves the resolved entry is a valid ``CanonicalEvent``."""
    return {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": detail_type,
        "Detail": {
            "metadata": {
                "eventId.$": "States.UUID()",
                "correlationId.$": "$.correlationId",
                "causationId.$": "$$.Execution.Id",
                "occurredAt.$": "$$.State.EnteredTime",
                "schemaVersion": EventData.schema_version,
                "sourceSystem": "o2c",
                "sourceEventId": None,
            },
            "data": data,
        },
    }


def republished(
    *,
    data: EventData,
    event_id: str,
    correlation_id: str,
    occurred_at: datetime,
    source_system: SourceSystem,
    source_event_id: str | None,
) -> CanonicalEvent:
    """An event already in the lineage, put back on the bus as it was (same id: consumers keyed on it skip
    what they booked), e.g. by ``o2c resync``."""
    return CanonicalEvent(
        metadata=EventMetadata(
            eventId=event_id,
            correlationId=correlation_id,
            causationId=None,
            occurredAt=occurred_at,
            schemaVersion=type(data).schema_version,
            sourceSystem=source_system,
            sourceEventId=source_event_id,
        ),
        data=data,
    )


#: Fields named like ids that identify nothing the hub traces.
NOT_IDS = frozenset({"taxId", "subsidiaryId"})


def ids_of(detail: dict[str, Any]) -> set[str]:
    """The ids a canonical event's detail carries: data fields named ``...Id``/``...Ids`` (at any depth)
    plus the correlation id and the provider's event id."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in NOT_IDS:
                    continue
                if key.endswith("Id") and isinstance(value, str) and value:
                    found.add(value)
                elif key.endswith("Ids") and isinstance(value, list):
                    found.update(v for v in value if isinstance(v, str) and v)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(detail.get("data") or {})
    metadata = detail.get("metadata") or {}
    for key in ("correlationId", "sourceEventId"):
        if isinstance(metadata.get(key), str) and metadata[key]:
            found.add(metadata[key])
    return found
