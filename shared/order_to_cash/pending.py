"""Facts that arrived before what they depend on wait here until it arrives (CONTRACT: nothing is lost).

A consumer that meets a fact it cannot book yet (a refund or a dispute before the deal's invoice is in the
ERP, a payout before its payments are applied, a dispute's outcome before the dispute) raises
``NotYetKnown(awaiting="payment:pi_...")``. ``parking`` stores the event as it was delivered in the
``PendingTable`` under the key it waits for and acknowledges the message, instead of burning the queue's
retries into the DLQ while the missing fact is hours away. When the awaited fact is published
(``InvoicePaid``, ``RenewalInvoiced``, ``DisputeRecorded``) the ``FactReleaser`` puts every event waiting
for it back on the bus, where its consumer books it as if it had arrived in order (every ERP write has an
external id, so a replay never books twice). An hourly sweep replays whatever still waits (a release that
raced with the park, a fact that came by another road) and reports how many wait and for how long.

The race between "not there yet" and "park" is closed by re-running the handler once after the park is
written: either the fact is there now (the parked item is removed), or it was written after the park and
its release event will find the item.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.events.envelope import EventData
from shared.order_to_cash.bookings import NotYetKnown
from shared.publisher import bus_entry


@dataclass(frozen=True)
class Parked:
    awaiting: str
    consumer: str
    event_id: str
    detail_type: str
    reason: str
    parked_at: float
    event: dict[str, Any]
    #: when the event first waited (kept across releases that found the fact still missing)
    first_parked_at: float = 0.0
    released_at: float | None = None
    releases: int = 0

    @property
    def waiting(self) -> bool:
        """Not released since it was (last) parked."""
        return self.released_at is None or self.parked_at > self.released_at

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - (self.first_parked_at or self.parked_at))


#: A released event that has not come back within this long was booked (or is in its queue's retries).
RELEASE_SETTLED_S = 900


class PendingFacts:
    """The ``PendingTable``: pk = the awaited fact (``payment:pi_...``), sk = ``<consumer>#<event id>``."""

    def __init__(self, dynamodb: Any, table_name: str, *, events: Any = None, bus_name: str | None = None):
        self._ddb = dynamodb
        self._table = table_name
        self._events = events
        self._bus = bus_name

    @classmethod
    def from_env(cls) -> PendingFacts:
        from shared.aws import client

        return cls(
            client("dynamodb"),
            os.environ["PENDING_TABLE_NAME"],
            events=client("events") if os.environ.get("EVENT_BUS_NAME") else None,
            bus_name=os.environ.get("EVENT_BUS_NAME"),
        )

    def park(self, awaiting: str, consumer: str, event: dict[str, Any], reason: str) -> Parked:
        event_id = str(event["detail"]["metadata"]["eventId"])
        now = time.time()
        reply = self._ddb.update_item(
            TableName=self._table,
            Key=_key(awaiting, consumer, event_id),
            UpdateExpression=(
                "SET consumer = :c, eventId = :i, detailType = :t, reason = :r, parkedAt = :now, "
                "event = :e, firstParkedAt = if_not_exists(firstParkedAt, :now)"
            ),
            ExpressionAttributeValues={
                ":c": {"S": consumer},
                ":i": {"S": event_id},
                ":t": {"S": str(event.get("detail-type", ""))},
                ":r": {"S": reason[:500]},
                ":now": {"N": repr(now)},
                ":e": {"S": json.dumps(event, separators=(",", ":"))},
            },
            ReturnValues="ALL_NEW",
        )
        return _parked(reply["Attributes"])

    def unpark(self, parked: Parked) -> None:
        """Remove the item if it is still the one parked (a newer park of the same event stays)."""
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.delete_item(
                TableName=self._table,
                Key=_key(parked.awaiting, parked.consumer, parked.event_id),
                ConditionExpression="parkedAt = :at",
                ExpressionAttributeValues={":at": {"N": repr(parked.parked_at)}},
            )

    def waiting_for(self, awaiting: str) -> list[Parked]:
        pages = self._ddb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": awaiting}},
            ConsistentRead=True,
        )
        return [p for page in pages for p in map(_parked, page.get("Items", [])) if p.waiting]

    def all(self) -> Iterator[Parked]:
        """Every item: waiting, and released but not yet settled."""
        for page in self._ddb.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            yield from map(_parked, page.get("Items", []))

    def release(self, parked: Iterable[Parked]) -> int:
        """Put each parked event back on the bus as it was delivered, then mark it released (its consumer
        parks it again if the fact is still missing; an item left released is removed by ``settle``). A
        failed put leaves the item waiting."""
        if self._events is None or not self._bus:
            raise RuntimeError("releasing needs the bus (EVENT_BUS_NAME)")
        released = 0
        for item in parked:
            reply = self._events.put_events(
                Entries=[
                    bus_entry(
                        source=item.event["source"],
                        detail_type=item.event["detail-type"],
                        detail=json.dumps(item.event["detail"], separators=(",", ":")),
                        bus_name=self._bus,
                    )
                ]
            )
            if reply.get("FailedEntryCount"):
                raise RuntimeError(f"the bus refused event {item.event_id}: {reply['Entries'][0]}")
            # parked again meanwhile (the condition fails): it waits anew
            with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
                self._ddb.update_item(
                    TableName=self._table,
                    Key=_key(item.awaiting, item.consumer, item.event_id),
                    UpdateExpression="SET releasedAt = :now ADD releases :one",
                    ConditionExpression="parkedAt = :at",
                    ExpressionAttributeValues={
                        ":now": {"N": repr(time.time())},
                        ":one": {"N": "1"},
                        ":at": {"N": repr(item.parked_at)},
                    },
                )
            released += 1
        return released

    def settle(self, items: Iterable[Parked] | None = None, settled_after_s: float | None = None) -> int:
        """Remove items (default: every item) released ``settled_after_s`` ago (default
        ``RELEASE_SETTLED_S``) and not parked again: their consumer has booked them."""
        if settled_after_s is None:
            settled_after_s = RELEASE_SETTLED_S
        removed = 0
        for item in self.all() if items is None else items:
            if item.waiting or item.released_at is None or time.time() - item.released_at < settled_after_s:
                continue
            self.unpark(item)
            removed += 1
        return removed


def _key(awaiting: str, consumer: str, event_id: str) -> dict[str, Any]:
    return {"pk": {"S": awaiting}, "sk": {"S": f"{consumer}#{event_id}"}}


def _parked(item: dict[str, Any]) -> Parked:
    released = item.get("releasedAt", {}).get("N")
    return Parked(
        awaiting=item["pk"]["S"],
        consumer=item["consumer"]["S"],
        event_id=item["eventId"]["S"],
        detail_type=item["detailType"]["S"],
        reason=item["reason"]["S"],
        parked_at=float(item["parkedAt"]["N"]),
        event=json.loads(item["event"]["S"]),
        first_parked_at=float(item.get("firstParkedAt", item["parkedAt"])["N"]),
        released_at=float(released) if released else None,
        releases=int(item.get("releases", {}).get("N", "0")),
    )


def parking(consumer: str, store: Callable[[], PendingFacts] = PendingFacts.from_env) -> Callable[[Any], Any]:
    """Wrap an SQS record handler: a ``NotYetKnown`` that names what it awaits parks the event (see the
    module's docstring); one that names nothing is raised, so the queue retries it (and parks it in its
    DLQ if it never succeeds)."""

    def wrap(handle: Callable[[Any], Any]) -> Callable[[Any], Any]:
        from functools import wraps

        from shared.claimcheck import delivered_body
        from shared.observability import count, logger

        @wraps(handle)
        def run(record: Any) -> Any:
            try:
                return handle(record)
            except NotYetKnown as first:
                if not first.awaiting:
                    raise
                pending = store()
                # as delivered: a claim-checked event is parked (and released) with its claim check
                delivered = json.loads(delivered_body(record))
                parked = pending.park(first.awaiting, consumer, delivered, str(first))
            try:
                result = handle(record)  # the fact may have arrived while the park was written
            except NotYetKnown as again:
                if again.awaiting and again.awaiting != parked.awaiting:
                    pending.park(again.awaiting, consumer, parked.event, str(again))
                    pending.unpark(parked)
                elif not again.awaiting:
                    pending.unpark(parked)
                    raise
                count("FactParked", provider=consumer, reason=(again.awaiting or "").split(":", 1)[0])
                logger.info(
                    "waiting for a fact",
                    extra={"awaiting": again.awaiting, "event_id": parked.event_id, "reason": str(again)},
                )
                return None
            pending.unpark(parked)
            return result

        return run

    return wrap


#: What each published fact releases: detail type → the data fields whose values are awaited keys.
RELEASED_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "InvoicePaid": (("payment", "paymentIntentId"),),
    "RenewalInvoiced": (("payment", "paymentIntentId"),),
    "DisputeRecorded": (("dispute", "disputeId"),),
}


def released_keys(fact: EventData) -> list[str]:
    """The awaited keys a published fact releases (none for a fact nothing waits for)."""
    keys = []
    for prefix, field in RELEASED_BY.get(type(fact).detail_type, ()):
        value = getattr(fact, field, None)
        if value:
            keys.append(f"{prefix}:{value}")
    return keys
