"""Salesforce Outbound Messages (SOAP 1.1) and Event Relay events.

Outbound Messages carry no HMAC: the ``OrganizationId`` is checked against an allow-list (TLS and a
client certificate protect the endpoint when deployed). The XML is parsed with defusedxml: a DOCTYPE or
an entity declaration is refused (400) before anything is expanded, and the body size is capped by the
pipeline. Each ``Notification/Id`` is de-duplicated on its own. The reply is the SOAP ``Ack``; when an
event could not be processed the reply is a SOAP fault (no Ack), so Salesforce redelivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.crm.closed_won import closed_won_event, deal_correlation_id
from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES
from shared.crm.models import CrmOpportunity
from shared.events.envelope import CanonicalEvent
from shared.ingress.http import HttpResponse, Problem, WebhookRequest, bad_request, unauthorized
from shared.ingress.pipeline import Outcome, Provider, ProviderEvent

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100

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
    def fetch_opportunity(self, opportunity_id: str) -> CrmOpportunity: ...


def org15(org_id: str) -> str:
    """Salesforce ids come in 15- and 18-character forms; the first 15 characters identify the record."""
    return org_id.strip()[:15]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_outbound_message(body: bytes) -> tuple[str, list[tuple[str, str, dict[str, str | None]]]]:
    """(OrganizationId, [(notification id, sObject type, fields)]); raises Problem 400/413."""
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
        parsed.append((notification_id, sobject_type, fields))
    return org_id, parsed


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
    ) -> None:
        self._orgs = frozenset(org15(o) for o in allowed_org_ids)
        self._opportunities = opportunities
        self._closed_won = frozenset(closed_won_stages)
        self._tax_id_countries = frozenset(tax_id_countries)
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        """Outbound Messages are authenticated by their OrganizationId, checked in ``parse`` right after
        the safe parse and before any notification is touched."""

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        org_id, notifications = parse_outbound_message(request.body)
        if org15(org_id) not in self._orgs:
            raise unauthorized("unknown_organization", "OrganizationId is not on the allow-list")
        return [
            ProviderEvent(
                id=notification_id,
                type=sobject_type,
                payload=fields,
                correlation_id=deal_correlation_id("salesforce", fields["Id"] or "")
                if sobject_type == "Opportunity" and fields.get("Id")
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
        opportunity = self._opportunities().fetch_opportunity(str(event.payload["Id"]))
        return [
            closed_won_event(
                opportunity,
                source_event_id=event.id,
                occurred_at=_modified(event.payload),
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


def _modified(fields: dict[str, Any]) -> datetime | None:
    value = fields.get("LastModifiedDate")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
