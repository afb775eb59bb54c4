"""Salesforce Outbound Messages (SOAP 1.1) and Event Relay events.

Outbound Messages carry no HMAC: the ``OrganizationId`` is checked against an allow-list (TLS and a
client certificate protect the endpoint when deployed). The XML is parsed with defusedxml: a DOCTYPE or
an entity declaration is refused (400) before anything is expanded, and the body size is capped by the
pipeline. Each ``Notification/Id`` is de-duplicated on its own. The reply is the SOAP ``Ack``; when an
event could not be processed the reply is a SOAP fault (no Ack), so Salesforce redelivers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Protocol

from shared.crm.closed_won import DealState, deal_correlation_id, is_closed_won
from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES
from shared.crm.models import CrmOpportunity
from shared.events.envelope import CanonicalEvent
from shared.inbound.closed_won import closed_won_event
from shared.ingress.guard import check_id
from shared.ingress.pipeline import Ignore, Outcome, Provider, ProviderEvent
from shared.ingress.web import HttpResponse, Problem, WebhookRequest, bad_request, unauthorized

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
MAX_SESSION_ID = 2048
#: Salesforce record ids: 15 or 18 letters and digits.
SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


def soap_fault(message: str) -> str:
    from xml.sax.saxutils import escape

    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:Server</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


class OpportunitySource(Protocol):
    def fetch_deal_state(self, opportunity_id: str) -> DealState: ...

    def fetch_opportunity(self, opportunity_id: str) -> CrmOpportunity: ...


def org15(org_id: str) -> str:
    """Salesforce ids come in 15- and 18-character forms; the first 15 characters identify the record."""
    return org_id.strip()[:15]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_outbound_message(body: bytes) -> tuple[str, list[tuple[str, str, dict[str, str | None]]]]:
    """(OrganizationId, [(notification id, sObject type, fields)]); raises Problem 400/413."""
    org_id, _session, notifications = parse_outbound_envelope(body)
    return org_id, notifications


def parse_outbound_envelope(
    body: bytes,
) -> tuple[str, str | None, list[tuple[str, str, dict[str, str | None]]]]:
    """(OrganizationId, SessionId or None, [(notification id, sObject type, fields)]); 400/413."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise bad_request("forbidden_xml", "DOCTYPE and entity declarations are not accepted") from None
    except ParseError:
        raise bad_request("malformed_xml", "body is not well-formed XML") from None
    notifications = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise bad_request("malformed_soap", "not a Salesforce Outbound Message (notifications)")
    org_id = (notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or "").strip()
    session = notifications.find(f"{{{OUTBOUND_NS}}}SessionId")
    session_id = (
        (session.text or "").strip() or None
        if session is not None and session.get(f"{{{XSI}}}nil") != "true"
        else None
    )
    items = notifications.findall(f"{{{OUTBOUND_NS}}}Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise Problem(413, "too_many_events", f"a message holds at most {MAX_NOTIFICATIONS} notifications")
    parsed = []
    for item in items:
        notification_id = (item.findtext(f"{{{OUTBOUND_NS}}}Id") or "").strip()
        sobject = item.find(f"{{{OUTBOUND_NS}}}sObject")
        if not notification_id or sobject is None:
            raise bad_request("malformed_soap", "every Notification needs an Id and an sObject")
        sobject_type = (sobject.get(f"{{{XSI}}}type") or "").rsplit(":", 1)[-1]
        fields = {
            _local(child.tag): (None if child.get(f"{{{XSI}}}nil") == "true" else (child.text or "").strip())
            for child in sobject
        }
        parsed.append((notification_id, sobject_type[:100], fields))
    return org_id, session_id, parsed


def userinfo_organization(login_url: str) -> Callable[[str], str | None]:
    """``sessions`` for ``SalesforceProvider``: the ``organization_id`` Salesforce's OpenID Connect
    UserInfo endpoint (``GET {login_url}/services/oauth2/userinfo``, ``Authorization: Bearer <session
    id>``) reports for a session. A dead or forged session is refused by Salesforce (401/403 →
    ``PermanentError``); an outage is a ``TransientError``."""
    from shared.outbound.http import JsonHttp

    def organization_of(session_id: str) -> str | None:
        http = JsonHttp(login_url, auth_headers=lambda: {"Authorization": f"Bearer {session_id}"})
        answer = http.request("GET", "/services/oauth2/userinfo")
        return str(answer.get("organization_id") or "") or None if isinstance(answer, dict) else None

    return organization_of


class SalesforceProvider(Provider):
    name = "salesforce"

    def __init__(
        self,
        *,
        allowed_org_ids: Collection[str],
        opportunities: Callable[[], OpportunitySource],
        closed_won_stages: Collection[str] = ("Closed Won",),
        tax_id_countries: Iterable[str] = DEFAULT_TAX_ID_COUNTRIES,
        clock: Callable[[], float] = time.time,
        sessions: Callable[[str], str | None] | None = None,
        require_client_cert: bool = False,
    ) -> None:
        """``sessions``, when given (stage setting ``salesforceVerifySessionId``), maps a SessionId to the
        organization id Salesforce reports for it (``userinfo_organization``)."""
        self._orgs = frozenset(org15(o) for o in allowed_org_ids)
        self._opportunities = opportunities
        self._closed_won = frozenset(closed_won_stages)
        self._tax_id_countries = frozenset(tax_id_countries)
        self._clock = clock
        self._sessions = sessions
        self._require_client_cert = require_client_cert

    def _verify_session(self, org_id: str, session_id: str | None) -> None:
        """The message's SessionId must be a live session of the sending org, as Salesforce's own identity
        service says (``GET /services/oauth2/userinfo`` at the configured login URL, never at a URL the
        message names). A forged message has no live session of the org."""
        from shared.errors import PermanentError, TransientError

        if not session_id or len(session_id) > MAX_SESSION_ID or not session_id.isascii():
            raise unauthorized("missing_session", "the Outbound Message carries no usable SessionId")
        try:
            session_org = self._sessions(session_id) if self._sessions else None
        except TransientError as exc:
            raise Problem(
                503, "upstream_unavailable", "session check unavailable; retry later", retry_after=5
            ) from exc
        except PermanentError:
            raise unauthorized("invalid_session", "SessionId is not a live session of the org") from None
        if not session_org or org15(str(session_org)) != org15(org_id):
            raise unauthorized("invalid_session", "SessionId belongs to another org")

    def verify(self, request: WebhookRequest) -> None:
        """Outbound Messages are authenticated by their OrganizationId (and, when configured, their
        SessionId), checked in ``parse`` right after the safe parse and before any notification is
        touched. Mutual TLS, when configured, is enforced by API Gateway on the custom domain; a request
        without a verified client certificate came another way (execute-api) and is refused here."""
        if self._require_client_cert and not request.client_cert_subject:
            raise unauthorized("missing_client_certificate", "Outbound Messages must arrive over mutual TLS")

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        org_id, session_id, notifications = parse_outbound_envelope(request.body)
        if org15(org_id) not in self._orgs:
            raise unauthorized("unknown_organization", "OrganizationId is not on the allow-list")
        if self._sessions is not None:
            self._verify_session(org_id, session_id)
        return [
            ProviderEvent(
                id=check_id(notification_id, "Notification Id", pattern=SALESFORCE_ID),
                type=sobject_type,
                payload=fields,
                correlation_id=deal_correlation_id("salesforce", fields["Id"] or "")
                if sobject_type == "Opportunity" and SALESFORCE_ID.fullmatch(fields.get("Id") or "")
                else None,
            )
            for notification_id, sobject_type, fields in notifications
        ]

    def selects(self, event: ProviderEvent) -> bool:
        fields = event.payload
        return (
            event.type == "Opportunity"
            and bool(fields.get("Id"))
            and (fields.get("IsWon") == "true" or fields.get("StageName") in self._closed_won)
        )

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        """The message only claims the Opportunity is won (anyone who knows the org id can send one):
        Salesforce's REST API decides (``IsWon`` / ``StageName``) and dates it (``LastModifiedDate``)."""
        opportunity_id = str(event.payload.get("Id") or "")
        if not SALESFORCE_ID.fullmatch(opportunity_id):
            raise Ignore("invalid_object_id", "the notification's Id is not a Salesforce id")
        source = self._opportunities()
        state = source.fetch_deal_state(opportunity_id)
        if not is_closed_won(state, self._closed_won):
            raise Ignore(
                "not_won_in_crm", f"Salesforce has opportunity {opportunity_id} in stage {state.stage[:60]!r}"
            )
        return [
            closed_won_event(
                source.fetch_opportunity(opportunity_id),
                source_event_id=event.id,
                occurred_at=state.won_at,
                tax_id_countries=self._tax_id_countries,
            )
        ]

    def reply(self, outcomes: Sequence[Outcome]) -> HttpResponse:
        return HttpResponse(status=200, body=ACK, content_type="text/xml; charset=utf-8")

    def refuse(self, problem: Problem, request: WebhookRequest) -> HttpResponse:
        if problem.status == 409 or problem.status >= 500:
            # Not an Ack: Salesforce keeps the message and redelivers it (up to 24 hours).
            headers = {"Retry-After": str(problem.retry_after)} if problem.retry_after else {}
            return HttpResponse(
                status=problem.status,
                body=soap_fault(problem.detail),
                content_type="text/xml; charset=utf-8",
                headers=headers,
            )
        return super().refuse(problem, request)
