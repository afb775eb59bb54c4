"""Lambda plumbing for the SQS consumers: Powertools wiring and partial batch responses, so a record that
fails is retried (and ends in the queue's DLQ) without retrying the rest of its batch. A claim-checked event
(``shared.claimcheck``) has its data loaded back before the record handler sees it.

Time budget: the invocation's deadline (``shared.deadline``, the Lambda's remaining time less a
safety margin) bounds every connector call the records make. A record that finds too little time left is not
started: it is reported as a batch item failure, as is one whose call ran out of time, so the batch ends
within the function's timeout and only the unprocessed records come back (each with one more receive)
instead of the whole batch timing out. "Too little" is less than the slowest record of the batch so far took
(at least one call's minimum): AWS SDK calls are not cut to the deadline as the vendor calls are, so a batch
whose records turn slow (DynamoDB retrying, a cold connection) stops before its timeout instead of in it.

A consumer of canonical events is a *declaration* (``Consumer``): the detail types it handles, each to a
function that takes the typed event (``Delivered``: the catalogue's model and the envelope's metadata) and
returns what to publish (canonical event data, ``Emit`` to name its ``source_event_id``, a list, or None),
and its policies: park an event whose fact is missing (``parking``), skip one about an object that is not
ours (``skipping_unknown``), run once per business key (``OncePer``). ``consumer(declaration)`` does the
rest: decode, correlation id on every log line, the once-only record, and publishing what the handler
returns through the one emit path (``shared.publisher.emit``) with correlation and causation carried from
the incoming envelope."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared import deadline
from shared.claimcheck import resolve_record
from shared.events.envelope import CanonicalEvent, EventData, EventMetadata
from shared.observability import lambda_entry, logger
from shared.record import to_json_value

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def sqs_consumer(
    record_handler: Callable[[SQSRecord], Any], *, on_invocation: Callable[[Any], None] | None = None
) -> LambdaHandler:
    """A handler that runs ``record_handler`` per record; ``on_invocation(context)`` runs first."""
    processor = BatchProcessor(event_type=EventType.SQS)
    slowest_s = [0.0]  # the longest record of the current invocation

    def handle(record: SQSRecord) -> Any:
        # not started (reported as a batch item failure) unless the slowest record so far would still fit
        deadline.ensure(f"SQS message {record.message_id}", max(deadline.MIN_ATTEMPT_S, slowest_s[0]))
        started = time.monotonic()
        try:
            return record_handler(resolve_record(record))
        finally:
            slowest_s[0] = max(slowest_s[0], time.monotonic() - started)

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if on_invocation is not None:
            on_invocation(context)
        slowest_s[0] = 0.0
        with deadline.from_context(context):
            return dict(
                process_partial_response(
                    event=event, record_handler=handle, processor=processor, context=context
                )
            )

    return lambda_handler


D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class Delivered(Generic[D]):
    """A canonical event as a consumer receives it: its typed data and the envelope's metadata."""

    detail_type: str
    data: D
    metadata: EventMetadata

    @property
    def correlation_id(self) -> str:
        return self.metadata.correlationId

    @property
    def event_id(self) -> str:
        return self.metadata.eventId

    @property
    def occurred_at(self) -> str:
        """When the fact happened, as the envelope carries it (ISO 8601, UTC)."""
        return str(to_json_value(self.metadata.occurredAt))

    def fields(self) -> dict[str, Any]:
        """The data as JSON (for the domain functions that still take a mapping)."""
        return self.data.dump()

    def emit_now(
        self, data: EventData, *, source_event_id: str | None = None, correlation_id: str | None = None
    ) -> CanonicalEvent:
        """Publish ``data`` at once, caused by this event (for a fact that must be out before the handler
        goes on, e.g. inside a once-only step); what the handler returns is published after it."""
        from shared.publisher import emit

        return emit(
            data,
            correlation_id=correlation_id or self.correlation_id,
            causation_id=self.event_id,
            source_event_id=source_event_id,
        )


@dataclass(frozen=True)
class Emit:
    """An event a handler publishes, with the source event id its event id is derived from (so a redelivery
    publishes the same event id) and, rarely, another correlation id than the incoming event's."""

    data: EventData
    source_event_id: str | None = None
    correlation_id: str | None = None


Emitted = EventData | Emit | Sequence[EventData | Emit] | None
Handler = Callable[[Delivered[Any]], Emitted]


class Acknowledged(Exception):
    """Raised by a handler: nothing to do with this event now; the message is acknowledged without being
    recorded as done (a once-only key stays free for a later event)."""


@dataclass(frozen=True)
class OncePer:
    """Handle at most once per business key: ``key(event)`` (a redelivery, or another event about the same
    thing, is acknowledged without running the handler again). ``scope`` names the idempotency records;
    ``kind(event)`` (default: the scope) is the record's type (the same key with another kind is refused)."""

    scope: str
    key: Callable[[Delivered[Any]], str]
    kind: Callable[[Delivered[Any]], str] | None = None


@dataclass(frozen=True)
class Consumer:
    """The declaration of an SQS consumer of canonical events (see the module's docstring)."""

    name: str
    handles: Mapping[str, Handler]
    #: a ``NotYetKnown`` naming what it awaits parks the event until that fact is published
    park_missing_facts: bool = False
    #: a ``NotOurs`` (an object the payment platform does not know) is acknowledged with a warning
    skip_not_ours: bool = False
    once: OncePer | None = None


def decode(body: str) -> Delivered[EventData]:
    """An EventBridge event delivered by SQS (its claim check resolved) → the typed canonical event."""
    from shared.events.catalog import EVENT_TYPES

    event = json.loads(body)
    detail_type = str(event["detail-type"])
    model = EVENT_TYPES.get(detail_type)
    if model is None:
        raise ValueError(f"not a canonical event type: {detail_type!r}")
    detail = event["detail"]
    return Delivered(
        detail_type=detail_type,
        data=model.parse(detail["data"]),
        metadata=EventMetadata.parse(detail["metadata"]),
    )


def decode_body(record: SQSRecord) -> dict[str, Any]:
    """A record's body as JSON (for consumers of events that are not canonical: partner buses, lineage)."""
    body: dict[str, Any] = json.loads(record.body)
    return body


def publish_emitted(emitted: Emitted, cause: Delivered[Any]) -> list[str]:
    """Publish what a handler returned, caused by ``cause``; the published event ids."""
    if emitted is None:
        return []
    items = [emitted] if isinstance(emitted, EventData | Emit) else list(emitted)
    published: list[str] = []
    for item in items:
        out = item if isinstance(item, Emit) else Emit(item)
        event = cause.emit_now(
            out.data, source_event_id=out.source_event_id, correlation_id=out.correlation_id
        )
        published.append(event.metadata.eventId)
    return published


def run_once(scope: str) -> Callable[..., Any]:
    """``run(key, work, kind=scope)``: ``work()`` (returning JSON) at most once per ``key`` in ``scope``;
    its first result again for a repeated key. A ``work`` that raises leaves no record (it runs again)."""
    return _once_only(scope)


@cache
def _once_only(scope: str) -> Callable[..., Any]:
    from shared.aws import client
    from shared.idempotency import OnceOnly

    wrapped = OnceOnly(scope, client=client("dynamodb")).wrap(lambda delivery, work: {"result": work()})

    def run(key: str, work: Callable[[], Any], kind: str | None = None) -> Any:
        # a record written before the kernel kept another shape: no result to give back
        return wrapped(delivery={"id": key, "type": kind or scope}, work=work).get("result")

    return run


def _handling(declaration: Consumer) -> Callable[[SQSRecord], Any]:
    def handle(record: SQSRecord) -> Any:
        event = decode(record.body)
        logger.set_correlation_id(event.correlation_id)
        handler = declaration.handles.get(event.detail_type)
        if handler is None:
            logger.info("not handled here", extra={"fact": event.detail_type})
            return None

        def work() -> dict[str, Any]:
            return {"published": publish_emitted(handler(event), event)}

        once = declaration.once
        key = once.key(event) if once is not None else None
        try:
            if once is None:
                outcome = work()
            else:
                kind = once.kind(event) if once.kind else None
                outcome = run_once(once.scope)(key, work, kind) or {}
        except Acknowledged as nothing:
            logger.info("nothing to do now", extra={"fact": event.detail_type, "reason": str(nothing)})
            return None
        # one line per delivery, a duplicate's too, naming the business key it was handled once for
        logger.info(
            "event handled",
            extra={"consumer": declaration.name, "fact": event.detail_type, "key": key, **outcome},
        )
        return outcome

    return handle


def consumer(declaration: Consumer, *, on_invocation: Callable[[Any], None] | None = None) -> LambdaHandler:
    """The Lambda handler of a declared consumer (partial batch responses, the invocation's deadline)."""
    from shared.order_to_cash.bookings import skipping_unknown
    from shared.order_to_cash.pending import parking

    handle = _handling(declaration)
    if declaration.park_missing_facts:
        handle = parking(declaration.name)(handle)
    if declaration.skip_not_ours:
        handle = skipping_unknown(handle)
    return sqs_consumer(handle, on_invocation=on_invocation)
