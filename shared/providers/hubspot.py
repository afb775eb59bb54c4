"""HubSpot app webhooks: v3 signature, arrays of up to 100 events, each de-duplicated on its ``eventId``.

Signature v3 (HubSpot docs): base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) with
the timestamp in ms, rejected when older than 5 minutes. The URI is the full public URL HubSpot called;
behind API Gateway stages and custom domains only configuration knows it (``PUBLIC_BASE_URL``).
A deal moved to a closed-won stage is fetched through the HubSpot CRM connector (webhooks carry ids,
not records) and becomes ``OpportunityClosedWon``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

from shared.crm.closed_won import closed_won_event, deal_correlation_id
from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES
from shared.crm.models import CrmOpportunity
from shared.events.envelope import CanonicalEvent
from shared.ingress.http import Problem, WebhookRequest, bad_request, unauthorized
from shared.ingress.pipeline import Provider, ProviderEvent
from shared.providers.signatures import hubspot_v3

WINDOW_MS = 5 * 60 * 1000
MAX_EVENTS = 100


class DealSource(Protocol):
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
    try:
        ts = int(timestamp)
    except ValueError:
        raise unauthorized("malformed_signature", "X-HubSpot-Request-Timestamp is not a number") from None
    if abs(now_ms - ts) > WINDOW_MS:
        raise unauthorized("stale_timestamp", "X-HubSpot-Request-Timestamp is older than 5 minutes")
    for secret in secrets:
        if hmac.compare_digest(hubspot_v3(secret, request.method, uri, request.body, ts), signature):
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
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("malformed_json", "body is not valid JSON") from None
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
            object_id = item.get("objectId")
            events.append(
                ProviderEvent(
                    id=str(item["eventId"]),
                    type=item["subscriptionType"],
                    payload=item,
                    correlation_id=deal_correlation_id("hubspot", str(object_id))
                    if item["subscriptionType"].startswith("deal.") and object_id is not None
                    else None,
                )
            )
        return events

    def selects(self, event: ProviderEvent) -> bool:
        p = event.payload
        return (
            event.type == "deal.propertyChange"
            and p.get("propertyName") == "dealstage"
            and p.get("propertyValue") in self._closed_won
            and p.get("objectId") is not None
        )

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        deal = self._deals().fetch_opportunity(str(event.payload["objectId"]))
        occurred = event.payload.get("occurredAt")
        occurred_at = datetime.fromtimestamp(occurred / 1000, UTC) if isinstance(occurred, int) else None
        return [
            closed_won_event(
                deal,
                source_event_id=event.id,
                occurred_at=occurred_at,
                tax_id_countries=self._tax_id_countries,
            )
        ]
