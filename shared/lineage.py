"""Lineage: every canonical event recorded once, findable by ANY id it carries (``o2c trace``).

Table layout (``LineageTable``, ``pk``/``sk``), two kinds of item:

- the event: ``pk`` = ``flow#<correlationId>`` (the event id when it has none), ``sk`` =
  ``<occurredAt>#<eventId>``, with ``eventId``, ``detailType``, ``recordedAt`` and the ``entry`` (JSON).
  One item per event, so a flow's events are one Query.
- the id index: ``pk`` = an id the event carries, ``sk`` = ``flow#<correlationId>``, nothing else. One item
  per (id, flow), written the first time an event of that flow carries the id (the recorder reads which
  exist first: a read costs half a write unit, and a flow's later events repeat its ids). The flow's own
  correlation id needs none: its events are under it.

Finding an id: its index items name the flows; the events of those flows that carry the id are its events.
Recording an event twice writes the same items: recording is naturally idempotent. Two recorders racing on
one flow may both write an index item: the same item, once more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.events.envelope import NOT_IDS, ids_of
from shared.sensitive import mask_card_numbers

ID_SUFFIXES = ("Id", "Ids")
MAX_TRACE_IDS = 200
#: Ids of parties that take part in many flows; tracing does not hop through them.
PARTY_ID_FIELDS = frozenset(
    {"paymentCustomerId", "erpCustomerId", "accountId", "crmAccountId", "contactId", "customerId"}
)


#: DynamoDB allows 2,048 bytes for a partition key and 1,024 for a sort key; ids are kept well under.
MAX_KEY_BYTES = 1024
_KEEP_CHARS = 200


def lineage_key(value: str) -> str:
    """The key an id is stored (and looked up) under: the id itself when it is short, valid Unicode and
    holds no card number. A card-like number is masked to its last four digits; an oversized (or not
    encodable) id becomes its first characters plus the SHA-256 of the whole, so it is still unique and
    findable by the same id, and the recorder never fails forever on a key DynamoDB refuses."""
    masked = mask_card_numbers(value)
    try:
        raw = masked.encode("utf-8")
        if len(raw) <= MAX_KEY_BYTES:
            return masked
    except UnicodeEncodeError:
        raw = masked.encode("utf-8", "surrogatepass")
    prefix = masked[:_KEEP_CHARS].encode("ascii", "backslashreplace").decode("ascii")[:_KEEP_CHARS]
    return f"{prefix}#sha256:{hashlib.sha256(raw).hexdigest()}"


class MalformedEvent(ValueError):
    """The message is not a canonical event (no metadata/eventId): it belongs in the DLQ."""


@dataclass(frozen=True)
class LineageEntry:
    event_id: str
    detail_type: str
    source: str
    occurred_at: str
    correlation_id: str
    source_system: str
    source_event_id: str | None
    ids: tuple[str, ...]
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "detailType": self.detail_type,
            "source": self.source,
            "occurredAt": self.occurred_at,
            "correlationId": self.correlation_id,
            "sourceSystem": self.source_system,
            "sourceEventId": self.source_event_id,
            "ids": list(self.ids),
            "data": self.data,
        }


def entry_from_eventbridge(event: dict[str, Any]) -> LineageEntry:
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("metadata"), dict):
        raise MalformedEvent("not a canonical event: detail.metadata missing")
    metadata = detail["metadata"]
    if not metadata.get("eventId") or not event.get("detail-type"):
        raise MalformedEvent("not a canonical event: eventId or detail-type missing")
    return LineageEntry(
        event_id=str(metadata["eventId"]),
        detail_type=str(event["detail-type"]),
        source=str(event.get("source", "")),
        occurred_at=str(metadata.get("occurredAt") or event.get("time") or ""),
        correlation_id=str(metadata.get("correlationId", "")),
        source_system=str(metadata.get("sourceSystem", "")),
        source_event_id=metadata.get("sourceEventId"),
        ids=tuple(sorted(ids_of(detail))),
        data=detail.get("data") or {},
    )


FLOW_PREFIX = "flow#"


def flow_key(entry: LineageEntry) -> str:
    """The partition an entry's event item is stored under."""
    return FLOW_PREFIX + lineage_key(entry.correlation_id or entry.event_id)


def is_event_item(item: dict[str, Any]) -> bool:
    """An event item (not an id-index item) of the lineage table, as a scan returns it."""
    return "entry" in item


class LineageStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(self, entry: LineageEntry) -> int:
        """Write the entry's event item and the id-index items its flow does not have yet (BatchGetItem,
        then BatchWriteItem; unprocessed items re-sent). Returns how many ids the entry is findable by."""
        recorded_at = datetime.now(UTC).isoformat()
        # ensure_ascii: a lone surrogate in a value is escaped, never a write that fails forever
        body = mask_card_numbers(json.dumps(entry.as_dict(), separators=(",", ":")))
        flow = flow_key(entry)
        own = lineage_key(entry.correlation_id) if entry.correlation_id else None
        keys = sorted({lineage_key(the_id) for the_id in entry.ids} - {own})
        missing = [k for k in keys if k not in self._indexed(keys, flow)]
        requests: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": flow},
                        "sk": {"S": lineage_key(f"{entry.occurred_at}#{entry.event_id}")},
                        "eventId": {"S": entry.event_id},
                        "detailType": {"S": entry.detail_type},
                        "recordedAt": {"S": recorded_at},
                        "entry": {"S": body},
                    }
                }
            }
        ]
        requests += [{"PutRequest": {"Item": {"pk": {"S": k}, "sk": {"S": flow}}}} for k in missing]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start : start + 25]}
            for _ in range(5):
                response = self._client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
            if pending:
                raise RuntimeError("lineage write left unprocessed items after retries")
        return len(keys) + (1 if own else 0)

    def _indexed(self, keys: list[str], flow: str) -> set[str]:
        """Which of ``keys`` already have an index item for ``flow`` (BatchGetItem, 100 keys a call)."""
        found: set[str] = set()
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": k}, "sk": {"S": flow}} for k in keys[start : start + 100]],
                    "ProjectionExpression": "pk",
                }
            }
            for _ in range(5):
                response = self._client.batch_get_item(RequestItems=pending)
                found.update(i["pk"]["S"] for i in response.get("Responses", {}).get(self._table, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
        return found  # keys still unprocessed count as missing: writing them again is harmless

    def _query(self, pk: str, cache: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        if cache is not None and pk in cache:
            return cache[pk]
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        items = [item for page in pages for item in page.get("Items", [])]
        if cache is not None:
            cache[pk] = items
        return items

    def entries_for(
        self, the_id: str, *, cache: dict[str, list[dict[str, Any]]] | None = None
    ) -> list[LineageEntry]:
        """Every event that carries ``the_id``, oldest first (``cache``: flows already read, by key)."""
        key = lineage_key(the_id)
        flows = {FLOW_PREFIX + key}
        flows.update(i["sk"]["S"] for i in self._query(key) if not is_event_item(i))
        found: dict[str, LineageEntry] = {}
        for flow in sorted(flows):
            for item in self._query(flow, cache):
                if not is_event_item(item):
                    continue
                entry = self._entry(item)
                if key in {lineage_key(i) for i in entry.ids}:
                    found[entry.event_id] = entry
        return sorted(found.values(), key=lambda e: (e.occurred_at, e.event_id))

    def entries_on(self, day: str, detail_types: set[str]) -> list[LineageEntry]:
        """Events of the given types that occurred on ``day`` (YYYY-MM-DD), once each (a scan: for the
        daily reconciliation, not for a request path)."""
        found: dict[str, LineageEntry] = {}
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(sk, :day)",
            ExpressionAttributeValues={":day": {"S": day}},
        )
        for page in pages:
            for item in page.get("Items", []):
                if not is_event_item(item):
                    continue
                if item["detailType"]["S"] in detail_types and item["eventId"]["S"] not in found:
                    found[item["eventId"]["S"]] = self._entry(item)
        return sorted(found.values(), key=lambda e: (e.occurred_at, e.event_id))

    @staticmethod
    def _entry(item: dict[str, Any]) -> LineageEntry:
        raw = json.loads(item["entry"]["S"])
        return LineageEntry(
            event_id=raw["eventId"],
            detail_type=raw["detailType"],
            source=raw["source"],
            occurred_at=raw["occurredAt"],
            correlation_id=raw["correlationId"],
            source_system=raw["sourceSystem"],
            source_event_id=raw.get("sourceEventId"),
            ids=tuple(raw["ids"]),
            data=raw["data"],
        )

    def trace(self, the_id: str, *, max_ids: int = MAX_TRACE_IDS) -> list[LineageEntry]:
        """The history ``the_id`` belongs to, oldest first: every event that carries it, then, hop by hop,
        every event sharing a flow id with those (correlation, opportunity, order, payment, charge ...).
        Party ids (customers, accounts) are not followed: a customer's other deals are not part of one
        payment's history, though tracing the customer id itself lists every event that names it."""
        events: dict[str, LineageEntry] = {}
        seen: set[str] = set()
        frontier = [the_id]
        flows: dict[str, list[dict[str, Any]]] = {}
        while frontier and len(seen) < max_ids:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.add(current)
            for entry in self.entries_for(current, cache=flows):
                if entry.event_id not in events:
                    events[entry.event_id] = entry
                    frontier.extend(sorted(flow_ids(entry) - seen))
        return sorted(events.values(), key=lambda e: (e.occurred_at, e.event_id))


def flow_ids(entry: LineageEntry) -> set[str]:
    """The ids of an entry that identify a flow rather than a party."""
    ids = {entry.correlation_id} if entry.correlation_id else set()
    for key, value in entry.data.items():
        if (
            key.endswith("Id")
            and key not in PARTY_ID_FIELDS
            and key not in NOT_IDS
            and isinstance(value, str)
            and value
        ):
            ids.add(value)
    return ids
