"""The hub decides from the system of record: a CRM win is acted on only when the CRM's own API says the
deal is won, dated by the CRM's timestamps; otherwise acknowledged and recorded as ignored. Card-like ids
never reach logs or the lineage table. Salesforce sender proofs (session id, mutual TLS)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.topology import LINEAGE_TABLE
from localcloud.provision import create_table
from shared.crm.closed_won import DealState
from shared.errors import AuthError, TransientError
from shared.ingress.web import Problem, WebhookRequest
from shared.lineage import LineageEntry, LineageStore, lineage_key
from tests.conftest import stripe_sample
from tests.unit.crm_fixtures import FakeCrm, opportunity
from tests.unit.test_hostile_ingress import (
    HUBSPOT_SAMPLE,
    SF_SAMPLE,
    Cloud,
    hubspot,
    hubspot_signed,
    mutate,
    request,
    salesforce,
    stripe,
    stripe_signed,
)

CARD = "4242 4242 4242 4242"


@pytest.fixture
def cloud(aws_env: None) -> Iterator[Cloud]:
    with mock_aws():
        yield Cloud("o2c.payments")


def hubspot_won(event_id: int = 501) -> bytes:
    return json.dumps([{**HUBSPOT_SAMPLE[0], "eventId": event_id}]).encode()


def sf_message() -> WebhookRequest:
    return request("/webhooks/salesforce", SF_SAMPLE.encode(), {})


# --- CRM wins are the CRM's to decide ------------------------------------------------------------------


def test_signed_hubspot_win_for_a_deal_hubspot_has_in_another_stage_is_ignored(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    crm = FakeCrm(opportunity(), DealState(stage="appointmentscheduled", is_won=None, won_at=None))
    route = hubspot(cloud, crm)
    with caplog.at_level(logging.INFO):
        response = route.send(hubspot_signed(hubspot_won()))
    assert (response.status, json.loads(response.body)) == (200, {"status": "ignored"})
    assert route.publisher.events == [] and crm.calls == []
    assert any(getattr(r, "reason", None) == "not_won_in_crm" for r in caplog.records)


def test_forged_salesforce_win_for_an_opportunity_salesforce_has_open_is_acked_and_ignored(
    cloud: Cloud,
) -> None:
    crm = FakeCrm(
        opportunity("salesforce", "0065g00000DemoOpAA"),
        DealState(stage="Prospecting", is_won=False, won_at=None),
    )
    route = salesforce(cloud, crm)
    response = route.send(sf_message())
    assert response.status == 200 and "<Ack>true</Ack>" in response.body
    assert route.publisher.events == [] and crm.calls == []


def test_the_win_is_dated_by_the_crm_not_by_the_message(cloud: Cloud) -> None:
    won_at = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    crm = FakeCrm(opportunity(), DealState(stage="closedwon", is_won=None, won_at=won_at))
    route = hubspot(cloud, crm)
    body = json.dumps([{**HUBSPOT_SAMPLE[0], "eventId": 502, "occurredAt": 4102444800000}]).encode()  # 2100
    assert json.loads(route.send(hubspot_signed(body)).body)["status"] == "accepted"
    [event] = route.publisher.events
    assert event.metadata.occurredAt == won_at


def test_salesforce_is_won_by_is_won_even_under_a_custom_stage_label(cloud: Cloud) -> None:
    crm = FakeCrm(
        opportunity("salesforce", "0065g00000DemoOpAA"), DealState(stage="Signed", is_won=True, won_at=None)
    )
    route = salesforce(cloud, crm)
    assert route.send(sf_message()).status == 200
    assert [e.detail_type for e in route.publisher.events] == ["OpportunityClosedWon"]


def test_a_crm_outage_is_retryable_and_leaves_no_record(cloud: Cloud) -> None:
    crm = FakeCrm(opportunity(), TransientError("HubSpot 503", status=503, retry_after=2))
    response = hubspot(cloud, crm).pipeline.handle(hubspot_signed(hubspot_won(503)))
    assert response.status == 503 and response.headers["Retry-After"] == "2"
    assert cloud.idempotency_records() == []


def test_refused_hub_credentials_are_retryable_not_ignored(cloud: Cloud) -> None:
    crm = FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA"), AuthError("invalid_client", status=400))
    response = salesforce(cloud, crm).pipeline.handle(sf_message())
    assert response.status == 503 and "<soapenv:Fault>" in response.body


# --- card numbers never become ids ----------------------------------------------------------------------


@pytest.mark.parametrize("card", [CARD, "4242424242424242", "4242-4242-4242-4242", "corr-5555555555554444"])
def test_a_card_like_correlation_id_is_refused_and_never_logged(
    cloud: Cloud, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, card: str
) -> None:
    event = mutate(
        stripe_sample("payment_intent.succeeded"), ("data", "object", "metadata", "o2c_correlation_id"), card
    )
    with caplog.at_level(logging.DEBUG):
        response = stripe(cloud).send(stripe_signed(json.dumps(event).encode()))
    assert response.status == 400 and json.loads(response.body)["type"].endswith("/sensitive-id")
    digits = "".join(c for c in card if c.isdigit())
    logged = capsys.readouterr().out + caplog.text
    assert digits not in logged.replace(" ", "").replace("-", "")
    assert cloud.idempotency_records() == [] and cloud.published() == []


def test_a_card_like_x_correlation_id_header_is_refused(cloud: Cloud) -> None:
    req = stripe_signed(json.dumps(stripe_sample("customer.created")).encode())
    req = WebhookRequest(
        req.method, req.path, {**req.headers, "x-correlation-id": "4111111111111111"}, req.body
    )
    assert stripe(cloud).send(req).status == 400


def test_the_lineage_table_masks_card_numbers_and_bounds_oversized_ids(cloud: Cloud) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(ddb, "lineage", LINEAGE_TABLE)
    long_id = "inv_" + "9" * 5000
    entry = LineageEntry(
        event_id="e-1",
        detail_type="InvoicePosted",
        source="o2c.erp",
        occurred_at="2026-11-27T10:15:00+00:00",
        correlation_id="corr-1",
        source_system="erp",
        source_event_id="msg_1",
        ids=("corr-1", "4000 0566 5566 5556", long_id),
        data={"erpInvoiceId": long_id, "reference": "4000056655665556"},
    )
    store = LineageStore(ddb, "lineage")
    assert store.record(entry) == 3
    items = ddb.scan(TableName="lineage")["Items"]
    stored = json.dumps(items)
    assert "4000056655665556" not in stored and "4000 0566 5566 5556" not in stored
    assert all(len(i["pk"]["S"].encode()) <= 1024 for i in items)
    # an oversized id is still found by itself
    assert [e.event_id for e in store.entries_for(long_id)] == ["e-1"]
    assert lineage_key("4000 0566 5566 5556").endswith("5556") and lineage_key("corr-1") == "corr-1"


# --- Salesforce sender proofs ---------------------------------------------------------------------------


def sf_with_session(session: str) -> bytes:
    return SF_SAMPLE.replace('<SessionId xsi:nil="true"/>', f"<SessionId>{session}</SessionId>").encode()


def session_provider(orgs: dict[str, str]) -> Any:
    from shared.errors import AuthError as Refused
    from shared.inbound.salesforce import SalesforceProvider

    def organization_of(session_id: str) -> str | None:
        if session_id not in orgs:
            raise Refused("Bad_OAuth_Token", status=403)
        return orgs[session_id]

    return SalesforceProvider(
        allowed_org_ids=("00D5g000004DemoEAA",),
        opportunities=lambda: FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA")),
        sessions=organization_of,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (SF_SAMPLE.encode(), "missing_session"),
        (sf_with_session("forged!session"), "invalid_session"),
        (sf_with_session("other-org-session"), "invalid_session"),
    ],
)
def test_with_session_checks_a_message_without_a_live_session_of_the_org_is_401(
    body: bytes, reason: str
) -> None:
    provider = session_provider(
        {"live-session": "00D5g000004DemoEAA", "other-org-session": "00D000000000001AAA"}
    )
    with pytest.raises(Problem) as caught:
        provider.parse(request("/webhooks/salesforce", body, {}))
    assert (caught.value.status, caught.value.reason) == (401, reason)


def test_with_session_checks_a_live_session_of_the_org_passes() -> None:
    provider = session_provider({"live-session": "00D5g000004DemoEAA"})
    assert len(provider.parse(request("/webhooks/salesforce", sf_with_session("live-session"), {}))) == 1


def test_with_mutual_tls_a_request_without_a_verified_client_certificate_is_401() -> None:
    from shared.inbound.salesforce import SalesforceProvider

    provider = SalesforceProvider(
        allowed_org_ids=(), opportunities=lambda: FakeCrm(opportunity()), require_client_cert=True
    )
    with pytest.raises(Problem) as caught:
        provider.verify(request("/webhooks/salesforce", b"", {}))
    assert caught.value.reason == "missing_client_certificate"
    event = {
        "httpMethod": "POST",
        "path": "/webhooks/salesforce",
        "body": "",
        "requestContext": {"identity": {"clientCert": {"subjectDN": "CN=proxy.salesforce.com"}}},
    }
    provider.verify(WebhookRequest.from_api_gateway(event))
