"""Zendesk webhooks (event subscriptions): a ticket tagged for a refund becomes ``RefundRequested``, the same
fact ``o2c refund`` publishes, so it takes the same path (RefundInitiator: one Stripe refund per request id,
RefundBooker: booked once per refund).

Signature (Zendesk, "Verifying webhook authenticity"): ``X-Zendesk-Webhook-Signature`` =
base64(HMAC-SHA256(signing secret, ``X-Zendesk-Webhook-Signature-Timestamp`` + body)); the timestamp is ISO
8601 (``2021-03-25T05:09:27Z``) and is refused when further than the tolerance (300 s) from now, so a
captured delivery cannot be replayed later. Several signing secrets may be active while one is rolled.

The body is Zendesk's event envelope (``vendor-specs/zendesk/ZENDESK_FACTS.md``): ``id`` (the event's id,
the same on every retry: the de-duplication key), ``type`` (``zen:event-type:...``), ``subject``
(``zen:ticket:<id>``), ``detail`` (the ticket), ``event`` (``tags.added`` / ``tags.removed``). A signed
webhook is no proof of the ticket's state: the ticket is read back through the API and the refund is asked
for only if Zendesk still has the tag on it and a payment id in the configured ticket field. The request id
is the ticket's (``zd-<ticket id>``): a ticket asks for one refund, however often it is tagged or delivered.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.events.after_sale import RefundRequested
from shared.events.envelope import CanonicalEvent, new_event
from shared.inbound.signatures import zendesk as zendesk_signature
from shared.ingress.guard import ascii_token, check_id, parse_json
from shared.ingress.pipeline import Ignore, Provider, ProviderEvent
from shared.ingress.web import WebhookRequest, bad_request, unauthorized

DEFAULT_TOLERANCE_S = 300
EVENT_TYPE_PREFIX = "zen:event-type:"
TAGS_CHANGED = "zen:event-type:ticket.tags_changed"
#: Zendesk event ids are UUIDs (or other printable tokens); bounded like every provider id.
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_EVENT_TYPE = re.compile(r"zen:event-type:[a-z_]+\.[a-z_]+")
_TICKET_ID = re.compile(r"[0-9]{1,20}")
_PAYMENT_INTENT = re.compile(r"pi_[A-Za-z0-9]{1,250}")
_ISO_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


class Tickets(Protocol):
    def get_ticket(self, ticket_id: str | int) -> dict[str, Any]: ...


def signature_time(value: str) -> float | None:
    """``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601) as epoch seconds, None when it is not one."""
    if not _ISO_TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def verify_signature(
    request: WebhookRequest, secrets: Sequence[str], *, now_s: float, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> None:
    signature = request.header("x-zendesk-webhook-signature")
    timestamp = request.header("x-zendesk-webhook-signature-timestamp")
    if not signature or not timestamp:
        raise unauthorized(
            "missing_signature",
            "X-Zendesk-Webhook-Signature and X-Zendesk-Webhook-Signature-Timestamp are required",
        )
    at = signature_time(timestamp)
    if at is None:
        raise unauthorized("malformed_signature", "X-Zendesk-Webhook-Signature-Timestamp is not ISO 8601")
    if abs(now_s - at) > tolerance_s:
        raise unauthorized(
            "stale_timestamp", f"the signature timestamp is more than {tolerance_s} s from now"
        )
    offered = ascii_token(signature)
    if offered is None:
        raise unauthorized("malformed_signature", "X-Zendesk-Webhook-Signature is not base64")
    for secret in secrets:
        if hmac.compare_digest(zendesk_signature(secret, timestamp, request.body).encode(), offered):
            return
    raise unauthorized("invalid_signature", "X-Zendesk-Webhook-Signature does not match")


def ticket_id_of(payload: dict[str, Any]) -> str | None:
    detail = payload.get("detail")
    value = detail.get("id") if isinstance(detail, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value) if _TICKET_ID.fullmatch(str(value)) else None


def custom_field(ticket: dict[str, Any], field_id: str) -> str | None:
    for field in ticket.get("custom_fields") or []:
        if isinstance(field, dict) and str(field.get("id")) == field_id:
            value = field.get("value")
            return value.strip() if isinstance(value, str) and value.strip() else None
    return None


class ZendeskProvider(Provider):
    name = "zendesk"

    def __init__(
        self,
        *,
        signing_secrets: Callable[[], Sequence[str]],
        tickets: Callable[[], Tickets],
        refund_tag: str,
        payment_intent_field_id: str,
        tolerance_s: int = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = signing_secrets
        self._tickets = tickets
        self._refund_tag = refund_tag
        self._pi_field = payment_intent_field_id
        self._tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        verify_signature(request, self._secrets(), now_s=self._clock(), tolerance_s=self._tolerance_s)

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        payload = parse_json(request.body)
        if not isinstance(payload, dict):
            raise bad_request("malformed_event", "a Zendesk event is a JSON object")
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind.startswith(EVENT_TYPE_PREFIX):
            raise bad_request("unknown_event_type", "type must be a Zendesk event type (zen:event-type:...)")
        if not _EVENT_TYPE.fullmatch(kind):
            raise bad_request("unknown_event_type", "type is not a Zendesk event type")
        if not isinstance(payload.get("detail"), dict):
            raise bad_request("malformed_event", "a Zendesk event needs its detail object")
        ticket = ticket_id_of(payload)
        return [
            ProviderEvent(
                id=check_id(payload.get("id"), "Zendesk event id", pattern=EVENT_ID),
                type=kind,
                payload=payload,
                correlation_id=f"zendesk-ticket-{ticket}" if ticket else None,
            )
        ]

    def selects(self, event: ProviderEvent) -> bool:
        """A refund tag added to a ticket; every other Zendesk event is answered ``ignored``."""
        if event.type != TAGS_CHANGED:
            return False
        change = event.payload.get("event")
        tags = change.get("tags") if isinstance(change, dict) else None
        added = tags.get("added") if isinstance(tags, dict) else None
        return isinstance(added, list) and self._refund_tag in added

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        ticket_id = ticket_id_of(event.payload)
        if ticket_id is None:
            raise Ignore("invalid_ticket_id", "detail.id is not a Zendesk ticket id")
        if not self._pi_field:
            raise Ignore("not_configured", "ZENDESK_PAYMENT_INTENT_FIELD_ID is not set")
        ticket = self._tickets().get_ticket(ticket_id)
        if self._refund_tag not in (ticket.get("tags") or []):
            raise Ignore("tag_removed", f"ticket {ticket_id} no longer has the refund tag")
        if ticket.get("status") == "closed":
            raise Ignore("ticket_closed", f"ticket {ticket_id} is closed")
        payment = custom_field(ticket, self._pi_field)
        if payment is None or not _PAYMENT_INTENT.fullmatch(payment):
            raise Ignore("no_payment", f"ticket {ticket_id} names no payment (pi_...) in its payment field")
        detail = event.payload["detail"]
        actor = detail.get("actor_id")
        actor_text = (
            str(actor) if isinstance(actor, int | str) and _TICKET_ID.fullmatch(str(actor)) else "agent"
        )
        request_id = f"zd-{ticket_id}"
        return [
            new_event(
                RefundRequested(
                    requestId=request_id,
                    paymentIntentId=payment,
                    amount=None,
                    reason="requested_by_customer",
                    requestedBy=f"zendesk:{actor_text}",
                ),
                source_system="o2c",  # the hub asks for it, as `o2c refund` does
                correlation_id=correlation_id,
                source_event_id=request_id,
            )
        ]
