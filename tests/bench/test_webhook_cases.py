"""Every benchmark webhook case makes deliveries the hub's own provider verifies, parses and selects (and an
ignored one it does not select), and its floor verifies the same signature: the cold starts measure
accepted deliveries, and the floors are checked against what the hub checks. No cloud: the providers'
verify / parse / selects are pure."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from bench.events import ApiEvents
from bench.webhooks import CASES, PREPARED, WebhookCase, zendesk_prepare
from localcloud.cloud import LOCAL_SALESFORCE_ORG_ID
from shared.ingress.pipeline import Provider
from shared.ingress.web import Problem, WebhookRequest

SECRET = {
    "stripe": "whsec_bench_stripe",
    "erp": "whsec_" + base64.b64encode(b"bench-erp-signing-key-32-bytes!!").decode(),
    "hubspot": "bench-hubspot-client-secret",
    "salesforce": "",
    "zendesk": "bench-zendesk-signing-secret",
}


@pytest.fixture(autouse=True)
def zendesk_ticket() -> Iterator[None]:
    """Zendesk's deliveries are its sandbox's ``ticket.tags_changed`` payload for a tagged ticket."""
    from localcloud.sandboxes.zendesk import ZendeskSandbox

    sandbox = ZendeskSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/zendesk",
        email="a@b.example",
        api_token="t",
        signing_secret="s",
    )
    cloud = SimpleNamespace(
        sandboxes={"zendesk": sandbox},
        settings={"ZENDESK_PAYMENT_INTENT_FIELD_ID": str(sandbox.ticket_field("Payment ID"))},
    )
    saved = dict(PREPARED)
    zendesk_prepare(cloud)  # type: ignore[arg-type]
    yield
    PREPARED.clear()
    PREPARED.update(saved)


def provider(case: WebhookCase) -> Provider:
    secrets = [SECRET[case.provider]]
    if case.provider == "stripe":
        from shared.inbound.stripe import StripeProvider

        return StripeProvider(lambda: secrets)
    if case.provider == "erp":
        from shared.inbound.erp import ErpProvider

        return ErpProvider(lambda: secrets)
    if case.provider == "hubspot":
        from shared.inbound.hubspot import HubSpotProvider

        # the bench signs the URI the bench cloud's API front has (here: its default)
        return HubSpotProvider(
            client_secrets=lambda: secrets, deals=_no_crm, public_base_url="https://hub.example"
        )
    if case.provider == "salesforce":
        from shared.inbound.salesforce import SalesforceProvider

        return SalesforceProvider(allowed_org_ids=(LOCAL_SALESFORCE_ORG_ID,), opportunities=_no_crm)
    from shared.inbound.zendesk import ZendeskProvider

    return ZendeskProvider(
        signing_secrets=lambda: secrets,
        tickets=_no_crm,
        refund_tag="refund_requested",
        payment_intent_field_id="1",
    )


def _no_crm() -> Any:
    raise AssertionError("verify / parse / selects read no vendor")


def request(case: WebhookCase, body: bytes, secret: str) -> tuple[WebhookRequest, dict[str, str]]:
    headers = case.signed_headers(body, [secret], int(time.time()))
    return WebhookRequest.from_api_gateway(ApiEvents(case.function).request(body, headers)), headers


@pytest.mark.parametrize("name", sorted(CASES))
def test_accepted_deliveries_are_verified_parsed_and_selected_by_the_hub_and_pass_the_floor(
    name: str,
) -> None:
    case = CASES[name]
    hub = provider(case)
    secret = SECRET[name]
    ids = set()
    for body in case.accepted_bodies(3, "a1b2c3d4e5"):
        req, headers = request(case, body, secret)
        hub.verify(req)
        [event] = hub.parse(req)
        assert hub.selects(event), f"{name}: an accepted delivery must be selected: {event.type}"
        assert case.event_id(case.floor(body, headers, [secret])) == str(event.id)
        ids.add(event.id)
    assert len(ids) == 3  # unique deliveries, as the benchmark needs


@pytest.mark.parametrize("name", sorted(CASES))
def test_deliveries_of_any_run_are_accepted(name: str) -> None:
    # every run tags its deliveries anew (uuid4 hex): no tag may make an id the hub refuses (a HubSpot eventId
    # of 13+ digits can pass the Luhn check and is refused as a card number)
    case = CASES[name]
    hub = provider(case)
    for _ in range(200):
        (body,) = case.accepted_bodies(1, uuid.uuid4().hex[:10])
        req, _ = request(case, body, SECRET[name])
        hub.verify(req)
        assert hub.parse(req)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_ignored_delivery_is_verified_but_not_selected(name: str) -> None:
    case = CASES[name]
    hub = provider(case)
    req, _ = request(case, case.ignored_body("a1b2c3d4e5"), SECRET[name])
    hub.verify(req)
    assert not any(hub.selects(event) for event in hub.parse(req))


@pytest.mark.parametrize("name", sorted(n for n in CASES if n != "salesforce"))  # Outbound Messages: unsigned
def test_a_delivery_signed_with_another_secret_fails_the_hub_and_the_floor(name: str) -> None:
    case = CASES[name]
    (body,) = case.accepted_bodies(1, "a1b2c3d4e5")
    other = "whsec_" + base64.b64encode(b"not-the-endpoint-secret-32bytes!").decode()
    req, headers = request(case, body, other)
    with pytest.raises(Problem):
        provider(case).verify(req)
    with pytest.raises(ValueError, match="signature mismatch"):
        case.floor(body, headers, [SECRET[name]])
