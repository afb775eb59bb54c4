"""Salesforce Outbound Messages: safe SOAP parsing, the org allow-list, Ack and fault replies."""

from __future__ import annotations

import pytest

from shared.inbound.salesforce import ACK, SalesforceProvider
from shared.ingress.web import Problem, WebhookRequest
from tests.conftest import ROOT
from tests.unit.crm_fixtures import FakeCrm, opportunity

SAMPLE = (ROOT / "events" / "salesforce" / "outbound_message.xml").read_bytes()
ORG = "00D5g000004DemoEAA"


def provider(crm: FakeCrm | None = None, orgs: tuple[str, ...] = (ORG,)) -> SalesforceProvider:
    return SalesforceProvider(
        allowed_org_ids=orgs,
        opportunities=lambda: crm or FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA")),
    )


def request(body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method="POST", path="/webhooks/salesforce", headers={"content-type": "text/xml"}, body=body
    )


def problem_of(body: bytes, p: SalesforceProvider | None = None) -> Problem:
    with pytest.raises(Problem) as caught:
        (p or provider()).parse(request(body))
    return caught.value


def test_notification_is_parsed_with_its_id_and_opportunity_fields() -> None:
    [event] = provider().parse(request(SAMPLE))
    assert event.id == "04l5g00000DemoN1AA" and event.type == "Opportunity"
    assert event.payload["Id"] == "0065g00000DemoOpAA" and event.payload["IsWon"] == "true"
    assert provider().selects(event)
    assert event.correlation_id == "salesforce:0065g00000DemoOpAA"


def test_15_character_org_ids_match_their_18_character_form() -> None:
    assert len(provider(orgs=(ORG[:15],)).parse(request(SAMPLE))) == 1


def test_unknown_organisation_is_401() -> None:
    problem = problem_of(SAMPLE, provider(orgs=("00D000000000001AAA",)))
    assert (problem.status, problem.reason) == (401, "unknown_organization")


def test_doctype_and_entities_are_refused_before_expansion() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    external = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>'
    for body in (bomb, external):
        problem = problem_of(body)
        assert (problem.status, problem.reason) == (400, "forbidden_xml")


@pytest.mark.parametrize("body", [b"<not-closed>", b"{}", b'<?xml version="1.0"?><a/>'])
def test_malformed_soap_is_400(body: bytes) -> None:
    assert problem_of(body).status == 400


def test_more_than_100_notifications_is_413() -> None:
    start, end = SAMPLE.index(b"<Notification>"), SAMPLE.index(b"</Notification>") + len(b"</Notification>")
    many = SAMPLE[:start] + SAMPLE[start:end] * 101 + SAMPLE[end:]
    assert problem_of(many).status == 413


def test_a_lost_opportunity_is_not_selected() -> None:
    lost = SAMPLE.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>").replace(
        b"Closed Won", b"Closed Lost"
    )
    [event] = provider().parse(request(lost))
    assert not provider().selects(event)


def test_won_opportunity_flags_a_missing_vat_id() -> None:
    crm = FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA", taxId=None))
    [event] = provider(crm).parse(request(SAMPLE))
    [canonical] = provider(crm).normalise(event, "c")
    assert canonical.data.dump()["missingFields"] == ["account.taxId"]
    assert crm.calls == ["0065g00000DemoOpAA"]


def test_replies_are_an_ack_or_a_fault_that_makes_salesforce_retry() -> None:
    ok = provider().reply([])
    assert ok.status == 200 and ok.body == ACK and "<Ack>true</Ack>" in ok.body
    fault = provider().refuse(Problem(503, "publish_failed", "retry later", retry_after=5), request(SAMPLE))
    assert fault.status == 503 and "<soapenv:Fault>" in fault.body and "<Ack>" not in fault.body
    refused = provider().refuse(Problem(401, "unknown_organization", "no"), request(SAMPLE))
    assert refused.content_type == "application/problem+json"
