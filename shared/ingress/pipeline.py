"""The one ingress path every provider shares: size → signature → parse → normalise → once-only publish.

A provider brings only what is its own (``Provider``): how its deliveries are signed, how its body
splits into events, and how each event maps to canonical events. Everything else, and every reply code of
CONTRACT §2, lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.events.envelope import CanonicalEvent
from shared.ingress.http import HttpResponse, Problem, WebhookRequest
from shared.observability import count, logger


@dataclass(frozen=True)
class ProviderEvent:
    """One event inside a delivery, as the provider identifies it."""

    id: str
    type: str
    payload: dict[str, Any]
    correlation_id: str | None = None


@dataclass
class Outcome:
    status: str  # accepted | duplicate | ignored
    event_id: str
    published: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.status != "ignored":
            body["eventId"] = self.event_id
        return body


class Provider(Protocol):
    name: str

    def verify(self, request: WebhookRequest) -> None:
        """Raise ``Problem`` (401) unless the request is authentic and fresh."""

    def parse(self, request: WebhookRequest) -> Sequence[ProviderEvent]:
        """Split the (verified) body into events; raise ``Problem`` (400/413) if malformed."""
        ...

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        """Canonical events for one provider event; an empty list means the hub does not use it."""
        ...

    def reply(self, outcomes: Sequence[Outcome]) -> HttpResponse:
        """The success reply the provider expects."""
        ...


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
        self._publish_once = once_only.wrap(self._publish)

    # The work done at most once per provider event id. Raising deletes the idempotency record, so a
    # delivery whose events could not be published is retried by the provider, not remembered as done.
    def _publish(self, delivery: dict[str, Any], events: list[CanonicalEvent]) -> dict[str, Any]:
        self.publisher.publish(events)
        return {"status": "accepted", "eventId": delivery["id"], "published": len(events)}

    def handle(self, request: WebhookRequest) -> HttpResponse:
        provider = self.provider.name
        try:
            if len(request.body) > self.max_body_bytes:
                raise Problem(413, "body_too_large", f"body exceeds {self.max_body_bytes} bytes")
            self.provider.verify(request)
            events = self.provider.parse(request)
            outcomes = [self._ingest(event, request) for event in events]
        except Problem as problem:
            count("Rejected", provider=provider, reason=problem.reason)
            logger.warning("webhook refused", extra={"status": problem.status, "reason": problem.reason})
            return problem.response(instance=request.request_id or None)
        for outcome in outcomes:
            count(
                {"accepted": "Accepted", "duplicate": "Duplicate"}.get(outcome.status, "Ignored"),
                provider=provider,
            )
        return self.provider.reply(outcomes)

    def _ingest(self, event: ProviderEvent, request: WebhookRequest) -> Outcome:
        from shared.idempotency import IdempotencyAlreadyInProgressError, IdempotencyValidationError
        from shared.publisher import PublishError

        correlation_id = event.correlation_id or request.header("x-correlation-id") or request.request_id
        logger.set_correlation_id(correlation_id)
        log = {"provider_event_id": event.id, "provider_event_type": event.type}
        canonical = self.provider.normalise(event, correlation_id)
        if not canonical:
            logger.info("event type not used by the hub", extra=log)
            return Outcome("ignored", event.id)
        try:
            result = self._publish_once(delivery={"id": event.id, "type": event.type}, events=canonical)
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
        if result["status"] == "accepted":
            count("Published", provider=self.provider.name, value=len(canonical))
        logger.info(
            "webhook event " + result["status"],
            extra={**log, "detail_types": [e.detail_type for e in canonical]},
        )
        return Outcome(result["status"], event.id, published=result.get("published", 0))
