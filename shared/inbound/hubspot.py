"""HubSpot app webhooks: v3 signature, arrays of up to 100 events, each de-duplicated on its ``eventId``.

Signature v3 (HubSpot docs): base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) with
the timestamp in ms, rejected when older than 5 minutes. The URI is the full public URL HubSpot called;
behind API Gateway stages and custom domains only configuration knows it (``PUBLIC_BASE_URL``).
A deal the webhook says moved to a closed-won stage is re-read through the HubSpot CRM connector
(webhooks carry ids, not records, and a signed webhook is no proof of the deal's state): only if HubSpot's
own ``dealstage`` is a configured closed-won stage does it become ``OpportunityClosedWon``, dated by
HubSpot's own timestamps. Otherwise the event is answered 200 ``ignored`` and counted (``Ignored``,
reason ``not_won_in_crm`` / ``unknown_record`` / ``invalid_object_id``).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from shared.crm.closed_won import (
    DealState,
    deal_correlation_id,
    is_closed_won,
    read_state_and_opportunity,
)
from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES
from shared.crm.models import CrmOpportunity
from shared.events.envelope import CanonicalEvent
from shared.inbound.closed_won import closed_won_event
from shared.inbound.signatures import hubspot_v3
from shared.ingress.guard import ascii_token, check_id, header_timestamp, parse_json
from shared.ingress.pipeline import Ignore, Provider, ProviderEvent
from shared.ingress.web import Problem, WebhookRequest, bad_request, unauthorized

WINDOW_MS = 5 * 60 * 1000
MAX_EVENTS = 100
#: HubSpot event ids and object ids are numbers (the hub accepts up to 20 digits, as the connector does).
EVENT_ID = re.compile(r"[0-9]{1,20}")
OBJECT_ID = re.compile(r"[0-9]{1,20}")


def object_id_of(item: dict[str, Any]) -> str | None:
    """The event's ``objectId`` when it is a HubSpot object id (a number), else None: such an event names
    no record the hub could read, and is answered ``ignored``."""
    value = item.get("objectId")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value) if isinstance(value, str) or 0 <= value < 10**20 else ""
    return text if OBJECT_ID.fullmatch(text) else None


class DealSource(Protocol):
    def fetch_deal_state(self, deal_id: str) -> DealState: ...

    def fetch_opportunity(self, deal_id: str) -> CrmOpportunity: ...


#: HubSpot decodes these percent-escapes in the URI before signing it (v3, "Validating requests"): they stay
#: literal in the rebuilt query string; anything else is percent-encoded.
_DECODED_IN_SIGNED_URI = ":/?@!$'()*,;"


def signed_uri(public_base_url: str, request: WebhookRequest) -> str:
    """The URL HubSpot called, as HubSpot signs it. Configured for custom domains; else API Gateway's own URL
    for the stage. API Gateway passes the query parameters decoded (in the order sent); they are re-encoded
    with the characters HubSpot decodes left literal."""
    base = public_base_url or f"https://{request.domain_name}/{request.stage}"
    uri = base.rstrip("/") + request.path
    if not request.query:
        return uri
    query = "&".join(
        f"{quote(k, safe=_DECODED_IN_SIGNED_URI)}={quote(v, safe=_DECODED_IN_SIGNED_URI)}"
        for k, v in request.query.items()
    )
    return f"{uri}?{query}"


def verify_v3(request: WebhookRequest, uri: str, secrets: Sequence[str], *, now_ms: float) -> None:
    signature = request.header("x-hubspot-signature-v3")
    timestamp = request.header("x-hubspot-request-timestamp")
    if not signature or not timestamp:
        raise unauthorized(
            "missing_signature", "X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required"
        )
    ts = header_timestamp(timestamp)
    if ts is None:
        raise unauthorized("malformed_signature", "X-HubSpot-Request-Timestamp is not a number")
    if abs(now_ms - ts) > WINDOW_MS:
        raise unauthorized("stale_timestamp", "X-HubSpot-Request-Timestamp is older than 5 minutes")
    offered = ascii_token(signature)
    if offered is None:
        raise unauthorized("malformed_signature", "X-HubSpot-Signature-v3 is not base64")
    try:
        # the URI holds the query string as sent; one that is not valid Unicode cannot have been signed
        signed = [hubspot_v3(secret, request.method, uri, request.body, ts).encode() for secret in secrets]
    except UnicodeEncodeError:
        raise unauthorized("invalid_signature", "X-HubSpot-Signature-v3 does not match") from None
    for expected in signed:
        if hmac.compare_digest(expected, offered):
            return
    raise unauthorized("invalid_signature", "X-HubSpot-Signature-v3 does not match")


class HubSpotProvider(Provider):
    name = "hubspot"

    def __init__(
        self,
        *,
        client_secrets: Callable[[], Sequence[str]],
        deals: Callable[[], DealSource],
        public_base_url: str,
        closed_won_stages: Collection[str] = ("closedwon",),
        tax_id_countries: Iterable[str] = DEFAULT_TAX_ID_COUNTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = client_secrets
        self._deals = deals
        self._public_base_url = public_base_url
        self._closed_won = frozenset(closed_won_stages)
        self._tax_id_countries = frozenset(tax_id_countries)
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        verify_v3(
            request, signed_uri(self._public_base_url, request), self._secrets(), now_ms=self._clock() * 1000
        )

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        payload = parse_json(request.body)
        if not isinstance(payload, list):
            raise bad_request("malformed_event", "a HubSpot delivery is a JSON array of events")
        if len(payload) > MAX_EVENTS:
            raise Problem(413, "too_many_events", f"a delivery holds at most {MAX_EVENTS} events")
        events = []
        for item in payload:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("eventId"), int | str)
                or not isinstance(item.get("subscriptionType"), str)
            ):
                raise bad_request(
                    "malformed_event", "every HubSpot event needs an eventId and a subscriptionType"
                )
            object_id = object_id_of(item)
            events.append(
                ProviderEvent(
                    id=check_id(item["eventId"], "HubSpot eventId", pattern=EVENT_ID),
                    type=item["subscriptionType"][:100],
                    payload=item,
                    correlation_id=deal_correlation_id("hubspot", object_id)
                    if item["subscriptionType"].startswith("deal.") and object_id is not None
                    else None,
                )
            )
        return events

    def selects(self, event: ProviderEvent) -> bool:
        p = event.payload
        value = p.get("propertyValue")
        return (
            event.type == "deal.propertyChange"
            and p.get("propertyName") == "dealstage"
            and isinstance(value, str)
            and value in self._closed_won
            and p.get("objectId") is not None
        )

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        """The webhook only says a deal changed: HubSpot's own API decides whether it is won (its current
        ``dealstage``) and when (HubSpot's timestamps, never the webhook's ``occurredAt``)."""
        deal_id = object_id_of(event.payload)
        if deal_id is None:
            raise Ignore("invalid_object_id", "objectId is not a HubSpot object id")
        state, opportunity = read_state_and_opportunity(self._deals(), deal_id)
        if not is_closed_won(state, self._closed_won):
            raise Ignore("not_won_in_crm", f"HubSpot has deal {deal_id} in stage {state.stage[:60]!r}")
        return [
            closed_won_event(
                opportunity(),
                source_event_id=event.id,
                occurred_at=state.won_at,
                tax_id_countries=self._tax_id_countries,
            )
        ]
