"""HubSpot v3 signatures, delivery arrays, and the closed-won deal → OpportunityClosedWon mapping."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shared.inbound.hubspot import HubSpotProvider
from shared.inbound.signatures import hubspot_v3
from shared.ingress.web import Problem, WebhookRequest
from tests.conftest import ROOT
from tests.unit.crm_fixtures import FakeCrm, opportunity

SECRET = "hubspot-client-secret"
BASE = "https://hooks.example.com/prod"
SAMPLE = json.loads((ROOT / "events" / "hubspot" / "deal_closed_won.json").read_text())


def provider(crm: FakeCrm | None = None, now: float | None = None) -> HubSpotProvider:
    return HubSpotProvider(
        client_secrets=lambda: ["old-secret", SECRET],
        deals=lambda: crm or FakeCrm(opportunity()),
        public_base_url=BASE,
        clock=(lambda: now) if now else time.time,
    )


def signed(
    body: Any, *, secret: str = SECRET, ts_ms: int | None = None, uri: str = BASE + "/webhooks/hubspot"
) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    return WebhookRequest(
        method="POST",
        path="/webhooks/hubspot",
        body=raw,
        headers={
            "x-hubspot-signature-v3": hubspot_v3(secret, "POST", uri, raw, ts),
            "x-hubspot-request-timestamp": str(ts),
        },
    )


def reason(request: WebhookRequest, p: HubSpotProvider | None = None) -> str:
    try:
        (p or provider()).verify(request)
    except Problem as problem:
        return problem.reason
    return "ok"


def test_signature_over_method_public_uri_body_and_timestamp_verifies() -> None:
    assert reason(signed(SAMPLE)) == "ok"


def test_uri_must_be_the_public_one_providers_called() -> None:
    assert reason(signed(SAMPLE, uri="https://internal.example/webhooks/hubspot")) == "invalid_signature"


def test_without_configuration_the_api_gateway_url_is_used() -> None:
    p = HubSpotProvider(
        client_secrets=lambda: [SECRET], deals=lambda: FakeCrm(opportunity()), public_base_url=""
    )
    request = signed(SAMPLE, uri="https://abc123.execute-api.eu-west-1.amazonaws.com/prod/webhooks/hubspot")
    request = WebhookRequest(
        **{**request.__dict__, "domain_name": "abc123.execute-api.eu-west-1.amazonaws.com", "stage": "prod"}
    )
    assert reason(request, p) == "ok"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: WebhookRequest(r.method, r.path, {}, r.body), "missing_signature"),
        (
            lambda r: WebhookRequest(
                r.method, r.path, {**r.headers, "x-hubspot-request-timestamp": "soon"}, r.body
            ),
            "malformed_signature",
        ),
        (lambda r: WebhookRequest(r.method, r.path, r.headers, r.body + b" "), "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(mutate: Any, expected: str) -> None:
    assert reason(mutate(signed(SAMPLE))) == expected


def test_timestamps_older_than_five_minutes_are_refused() -> None:
    ts = int(time.time() * 1000) - 301_000
    assert reason(signed(SAMPLE, ts_ms=ts)) == "stale_timestamp"


def test_a_delivery_splits_into_events_each_keyed_by_its_event_id() -> None:
    events = provider().parse(
        signed([*SAMPLE, {**SAMPLE[0], "eventId": 42, "propertyValue": "appointmentscheduled"}])
    )
    assert [e.id for e in events] == ["1784523901", "42"]
    assert [provider().selects(e) for e in events] == [True, False]
    assert events[0].correlation_id == "hubspot:9876543210"


def test_more_than_100_events_is_413_and_malformed_is_400() -> None:
    with pytest.raises(Problem) as too_many:
        provider().parse(signed([SAMPLE[0]] * 101))
    assert too_many.value.status == 413
    for body in (b"{not json", json.dumps({"eventId": 1}).encode(), json.dumps([{"objectId": 1}]).encode()):
        with pytest.raises(Problem) as malformed:
            provider().parse(signed(body))
        assert malformed.value.status == 400


def test_closed_won_deal_is_fetched_and_published_complete() -> None:
    crm = FakeCrm(opportunity())
    [event] = provider(crm).parse(signed(SAMPLE))
    [canonical] = provider(crm).normalise(event, "hubspot:9876543210")
    assert crm.calls == ["9876543210"]
    assert canonical.detail_type == "OpportunityClosedWon" and canonical.source == "o2c.crm"
    data = canonical.data.dump()
    assert data["complete"] is True and data["missingFields"] == []
    assert data["opportunity"]["amount"] == {"amount": 2400000, "currency": "EUR"}
    assert canonical.metadata.correlationId == "hubspot:9876543210"
    assert canonical.metadata.sourceEventId == "1784523901"


def test_incomplete_account_is_published_flagged_with_the_missing_fields() -> None:
    crm = FakeCrm(opportunity(billingAddress=None, taxId=None))
    [event] = provider(crm).parse(signed(SAMPLE))
    [canonical] = provider(crm).normalise(event, "c")
    data = canonical.data.dump()
    assert data["complete"] is False
    assert "account.billingAddress.street" in data["missingFields"]
    assert "account.billingAddress.postalCode" in data["missingFields"]
