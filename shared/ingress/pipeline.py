"""The one ingress path every provider shares: size → signature → parse → select → once-only
(normalise → publish).

A provider brings only what is its own (``Provider``): how its deliveries are signed, how a body splits
into events, which events the hub uses, and how each maps to canonical events (fetching what a webhook
only references, e.g. a CRM deal). Everything else, and every reply code of CONTRACT §2, lives here once.
The same path serves partner event buses (Stripe event destinations, Salesforce Event Relay): there the
verification is AWS's, and ``ingest`` is called per event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.events.envelope import CanonicalEvent
from shared.ingress.guard import check_correlation_id
from shared.ingress.web import HttpResponse, Problem, WebhookRequest
from shared.observability import count, logger


@dataclass(frozen=True)
class ProviderEvent:
    """One event inside a delivery, as the provider identifies it."""

    id: str
    type: str
    payload: dict[str, Any]
    correlation_id: str | None = None


class Ignore(Exception):
    """Raised by ``Provider.normalise``: the event is acknowledged and recorded as ignored (metric
    ``Ignored`` with ``reason`` as a dimension, and a log line), and nothing is published. For events whose
    claim the system of record does not confirm (a "won" deal the CRM has in another stage, a record the
    vendor does not have): redelivering them can never make them true, so they are not a 5xx."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Outcome:
    status: str  # accepted | duplicate | ignored
    event_id: str
    published: int = 0

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.status != "ignored":
            body["eventId"] = self.event_id
        return body


class Provider:
    """What a provider adds to the shared path. Subclasses override the first four."""

    name: str = ""

    def verify(self, request: WebhookRequest) -> None:
        """Raise ``Problem`` (401) unless the request is authentic and fresh."""
        raise NotImplementedError

    def parse(self, request: WebhookRequest) -> Sequence[ProviderEvent]:
        """Split the (verified) body into events; raise ``Problem`` (400/413) if malformed."""
        raise NotImplementedError

    def selects(self, event: ProviderEvent) -> bool:
        """Cheap check, before any I/O: does the hub use this event? If not it is answered ``ignored``."""
        raise NotImplementedError

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        """Canonical events for one selected event. Runs at most once per event id, inside the
        idempotency record, so it may call the provider's API (e.g. fetch the deal a webhook names)."""
        raise NotImplementedError

    def reply(self, outcomes: Sequence[Outcome]) -> HttpResponse:
        """The success reply the provider expects (one event: its outcome; several: each one's)."""
        if len(outcomes) == 1:
            return HttpResponse.json(200, outcomes[0].as_dict())
        accepted = [o for o in outcomes if o.status == "accepted"]
        return HttpResponse.json(
            200,
            {
                "status": "accepted" if accepted else ("duplicate" if outcomes else "ignored"),
                "results": [{**o.as_dict(), "eventId": o.event_id} for o in outcomes],
            },
        )

    def refuse(self, problem: Problem, request: WebhookRequest) -> HttpResponse:
        """The reply for a refused delivery (``application/problem+json`` unless the provider needs
        another shape, e.g. a SOAP fault)."""
        return problem.response(instance=request.request_id or None)


def check_edge_ids(events: Sequence[ProviderEvent], default_correlation: str) -> None:
    """Before anything is logged or stored: every id that came from outside is bounded printable ASCII
    and holds no card number (400 otherwise). Providers check their own id syntax in ``parse``; this is
    the floor every provider gets."""
    if default_correlation:
        check_correlation_id(default_correlation, "X-Correlation-Id")
    for event in events:
        check_correlation_id(event.id, "event id")
        if event.correlation_id is not None:
            check_correlation_id(event.correlation_id)


class Publisher(Protocol):
    def publish(self, events: Sequence[CanonicalEvent]) -> int: ...


class OnceOnlyGate(Protocol):
    def wrap(self, work: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]: ...

    def register_lambda_context(self, context: Any) -> None: ...


class IngressPipeline:
    def __init__(
        self, provider: Provider, *, publisher: Publisher, once_only: OnceOnlyGate, max_body_bytes: int
    ) -> None:
        self.provider = provider
        self.publisher = publisher
        self.max_body_bytes = max_body_bytes
        self.once_only = once_only
        self._process_once = once_only.wrap(self._process)

    # The work done at most once per provider event id. Raising deletes the idempotency record, so an
    # event that could not be normalised or published is retried by the provider, not remembered as done.
    def _process(self, delivery: dict[str, Any], event: ProviderEvent, correlation_id: str) -> dict[str, Any]:
        from shared.errors import AuthError, NotFound, PermanentError, TransientError

        try:
            canonical = self.provider.normalise(event, correlation_id)
        except Ignore as ignored:
            return {
                "status": "ignored",
                "eventId": delivery["id"],
                "published": 0,
                "reason": ignored.reason,
                "detail": ignored.detail,
            }
        except (TransientError, AuthError) as exc:
            # The vendor is down or throttling, or the hub's own credentials were refused (fixed by an
            # operator, not by the sender): a retry can succeed, so the provider is asked to redeliver.
            count("UpstreamFailures", provider=self.provider.name)
            retry_after = int(getattr(exc, "retry_after", None) or 5)
            raise Problem(
                503, "upstream_unavailable", f"{type(exc).__name__}: retry later", retry_after=retry_after
            ) from exc
        except NotFound:
            return {
                "status": "ignored",
                "eventId": delivery["id"],
                "published": 0,
                "reason": "unknown_record",
                "detail": "the provider's API does not have the record",
            }
        except PermanentError as exc:
            # The record exists but cannot be read or mapped: the same delivery would fail the same way.
            count("UpstreamFailures", provider=self.provider.name)
            logger.error("record the event names cannot be read; ignored", extra={"error": str(exc)[:300]})
            return {
                "status": "ignored",
                "eventId": delivery["id"],
                "published": 0,
                "reason": "unreadable_record",
                "detail": type(exc).__name__,
            }
        if not canonical:
            return {"status": "ignored", "eventId": delivery["id"], "published": 0, "reason": "no_fact"}
        self.publisher.publish(canonical)
        return {
            "status": "accepted",
            "eventId": delivery["id"],
            "published": len(canonical),
            "detailTypes": [e.detail_type for e in canonical],
        }

    def handle(self, request: WebhookRequest) -> HttpResponse:
        provider = self.provider.name
        try:
            if len(request.body) > self.max_body_bytes:
                raise Problem(413, "body_too_large", f"body exceeds {self.max_body_bytes} bytes")
            self.provider.verify(request)
            events = self.provider.parse(request)
            # Only what came from outside is checked: API Gateway's own request id is a UUID whose digit
            # runs, read across its dashes, can pass for a Luhn-valid card number by chance.
            sent_correlation = request.header("x-correlation-id") or ""
            check_edge_ids(events, sent_correlation)
            default_correlation = sent_correlation or request.request_id
            outcomes = [self.ingest(event, default_correlation) for event in events]
        except Problem as problem:
            count("Rejected", provider=provider, reason=problem.reason)
            logger.warning("webhook refused", extra={"status": problem.status, "reason": problem.reason})
            return self.provider.refuse(problem, request)
        return self.provider.reply(outcomes)

    def ingest(self, event: ProviderEvent, default_correlation_id: str) -> Outcome:
        """One provider event through select → once-only (normalise → publish). Raises ``Problem``."""
        from shared.idempotency import IdempotencyAlreadyInProgressError, IdempotencyValidationError
        from shared.publisher import PublishError

        correlation_id = event.correlation_id or default_correlation_id
        logger.set_correlation_id(correlation_id)
        log = {"provider_event_id": event.id, "provider_event_type": event.type}
        if not self.provider.selects(event):
            count("Ignored", provider=self.provider.name, reason="not_used")
            logger.info("event not used by the hub", extra=log)
            return Outcome("ignored", event.id)
        try:
            result = self._process_once(
                delivery={"id": event.id, "type": event.type}, event=event, correlation_id=correlation_id
            )
        except IdempotencyAlreadyInProgressError as exc:
            logger.info("same delivery already in flight", extra=log)
            raise Problem(
                409, "in_flight", f"event {event.id} is being processed; retry later", retry_after=1
            ) from exc
        except IdempotencyValidationError as exc:
            raise Problem(
                409, "conflicting_redelivery", f"event {event.id} was seen before with a different type"
            ) from exc
        except PublishError as exc:
            count("PublishFailures", provider=self.provider.name)
            logger.error("publishing failed; provider will retry", extra={**log, "error": str(exc)})
            raise Problem(
                503, "publish_failed", "events could not be published; retry later", retry_after=5
            ) from exc
        status = result["status"]
        if status == "ignored":
            reason = str(result.get("reason") or "no_fact")
            count("Ignored", provider=self.provider.name, reason=reason)
            logger.info(
                "webhook event ignored", extra={**log, "reason": reason, "detail": result.get("detail")}
            )
            return Outcome(status, event.id)
        count(
            {"accepted": "Accepted", "duplicate": "Duplicate"}.get(status, "Ignored"),
            provider=self.provider.name,
        )
        if status == "accepted":
            count("Published", provider=self.provider.name, value=int(result.get("published", 0)))
        logger.info("webhook event " + status, extra={**log, "detail_types": result.get("detailTypes", [])})
        return Outcome(status, event.id, published=int(result.get("published", 0)))
