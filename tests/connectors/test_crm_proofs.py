"""The CRM proofs of issue 11 exercised against the CRM sandboxes, through the real ingress pipeline (with a
recording publisher): Salesforce's SessionId is checked with the org's own UserInfo endpoint, and a HubSpot win
is dated by the deal's ``dealstage`` history, never by what the webhook says."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localcloud.sandboxes import HubSpotSandbox, SalesforceSandbox
from shared.events.envelope import CanonicalEvent
from shared.inbound.hubspot import HubSpotProvider
from shared.inbound.salesforce import SalesforceProvider, userinfo_organization
from shared.ingress.pipeline import IngressPipeline, Provider
from shared.ingress.web import HttpResponse, WebhookRequest
from tests.connectors.conftest import (
    SF_CLIENT_ID,
    SF_CLIENT_SECRET,
    SF_ORG_ID,
    FakeSleep,
    Receiver,
    hubspot_crm,
    salesforce_crm,
)
from tests.connectors.test_hubspot_connector import given_acme_deal
from tests.connectors.test_salesforce_connector import given_yen_opportunity

OTHER_ORG_ID = "00D5g000007OtherAAA"
SESSION = re.compile(rb"<SessionId>([^<]*)</SessionId>")


@pytest.fixture(autouse=True)
def _metrics_env(aws_env: None) -> None:
    """The pipeline counts refusals with Powertools metrics, which need a namespace."""


class Recording:
    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []

    def publish(self, events: Sequence[CanonicalEvent]) -> int:
        self.events.extend(events)
        return len(events)


class EveryTime:
    """No de-duplication (each test sends each delivery once)."""

    def wrap(self, work: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return work

    def register_lambda_context(self, context: Any) -> None:
        return None


def route(provider: Provider) -> tuple[IngressPipeline, Recording]:
    published = Recording()
    return (
        IngressPipeline(provider, publisher=published, once_only=EveryTime(), max_body_bytes=262_144),
        published,
    )


def delivered(receiver: Receiver, index: int = -1) -> WebhookRequest:
    """The sandbox's last webhook POST, as API Gateway hands it to the function."""
    got = receiver.received[index]
    return WebhookRequest(
        method="POST",
        path=got.path,
        headers={k.lower(): v for k, v in got.headers.items()},
        body=got.body,
        request_id="req-proof",
    )


# --- Salesforce: the SessionId of an Outbound Message, checked with the org ------------------------------


def salesforce_route(salesforce: SalesforceSandbox, sleep: FakeSleep) -> tuple[IngressPipeline, Recording]:
    """``salesforceVerifySessionId=true``: the hub asks the org's UserInfo endpoint (the sandbox's URL is
    the org's My Domain) whose session the message carries."""
    crm = salesforce_crm(salesforce, sleep)
    return route(
        SalesforceProvider(
            allowed_org_ids=(SF_ORG_ID,),
            opportunities=lambda: crm,
            sessions=userinfo_organization(salesforce.url),
        )
    )


def userinfo(base_url: str, token: str | None) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(base_url + "/services/oauth2/userinfo", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def test_outbound_message_carries_a_live_session_of_the_org_that_userinfo_recognises(
    salesforce: SalesforceSandbox, receiver: Receiver
) -> None:
    # Given a won opportunity whose Outbound Message was sent with "Send Session ID"
    salesforce.win(given_yen_opportunity(salesforce))
    [session] = SESSION.findall(receiver.received[-1].body)

    # When the session is presented to the org's UserInfo endpoint
    status, content_type, body = userinfo(salesforce.url, session.decode())

    # Then Salesforce says whose session it is: a user of this org (OpenID Connect claims, 18-char ids)
    assert status == 200 and content_type.startswith("application/json")
    claims = json.loads(body)
    assert claims["organization_id"] == SF_ORG_ID
    assert claims["user_id"] == salesforce.owner_id
    assert claims["sub"] == f"{salesforce.url}/id/{SF_ORG_ID}/{salesforce.owner_id}"
    assert claims["preferred_username"] and "@" in claims["preferred_username"]
    assert claims["active"] is True and claims["urls"]["rest"].endswith("/services/data/v{version}/")


@pytest.mark.parametrize("token", ["00D5g000004DemoE!forged", "", None])
def test_userinfo_refuses_an_unknown_or_missing_token_as_salesforce_does(
    salesforce: SalesforceSandbox, token: str | None
) -> None:
    status, content_type, body = userinfo(salesforce.url, token)
    assert status == 403 and content_type.startswith("text/plain")
    assert body == (b"Missing_OAuth_Token" if not token else b"Bad_OAuth_Token")


def test_with_session_check_a_genuine_salesforce_win_is_published(
    salesforce: SalesforceSandbox, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    # Given the hub checks sessions, and the org's win arrives as Salesforce sends it
    pipeline, published = salesforce_route(salesforce, fake_sleep)
    receiver.status = 500  # the receiver only records; the pipeline below is the hub
    opp_id = given_yen_opportunity(salesforce)
    salesforce.win(opp_id)

    # When the hub handles the message
    response = pipeline.handle(delivered(receiver))

    # Then it is acknowledged and the won opportunity is published
    assert response.status == 200 and "<Ack>true</Ack>" in response.body
    [event] = published.events
    assert event.detail_type == "OpportunityClosedWon"
    assert event.data.opportunityId == opp_id  # type: ignore[attr-defined]


def foreign_session(receiver: Receiver) -> str:
    """A live session of another org (the sender's own Salesforce org, say)."""
    with SalesforceSandbox(
        webhook_url=f"{receiver.url}/webhooks/salesforce",
        org_id=OTHER_ORG_ID,
        client_id=SF_CLIENT_ID,
        client_secret=SF_CLIENT_SECRET,
    ) as other:
        other.win(
            other.create_opportunity("X", "1", "USD", account={"Name": "X"}, contacts=[], line_items=[])
        )
        [session] = SESSION.findall(receiver.received.pop().body)
        # another org's session is live at that org's own identity service
        assert json.loads(userinfo(other.url, session.decode())[2])["organization_id"] == OTHER_ORG_ID
    return session.decode()


@pytest.mark.parametrize("forgery", ["made_up", "other_org", "expired", "no_session"])
def test_with_session_check_a_forged_message_is_refused_and_nothing_published(
    salesforce: SalesforceSandbox, receiver: Receiver, fake_sleep: FakeSleep, forgery: str
) -> None:
    # Given the hub checks sessions, and a message naming our org and a really won opportunity
    pipeline, published = salesforce_route(salesforce, fake_sleep)
    opp_id = given_yen_opportunity(salesforce)
    salesforce.win(opp_id)
    genuine = delivered(receiver)
    [session] = SESSION.findall(genuine.body)
    # ... but sent by someone else: a session they made up, one of their own org, one that timed out, none
    if forgery == "expired":
        salesforce.expire_tokens()
        body = genuine.body
    else:
        replacement = {
            "made_up": b"<SessionId>00D5g000004DemoE!AQsAQmadeUpSessionId</SessionId>",
            "other_org": b"<SessionId>" + foreign_session(receiver).encode() + b"</SessionId>",
            "no_session": b'<SessionId xsi:nil="true"/>',
        }[forgery]
        body = genuine.body.replace(b"<SessionId>" + session + b"</SessionId>", replacement)
        assert body != genuine.body
    forged = WebhookRequest(
        method="POST", path=genuine.path, headers=genuine.headers, body=body, request_id="req-forged"
    )

    # When the hub handles it
    response: HttpResponse = pipeline.handle(forged)

    # Then it is refused (401: not a live session of the org) and nothing is published
    assert response.status == 401
    problem = json.loads(response.body)["type"].rsplit("/", 1)[-1]
    assert problem == ("missing-session" if forgery == "no_session" else "invalid-session")
    assert published.events == []


# --- HubSpot: the win is dated by the deal's stage history -----------------------------------------------


def test_deal_reads_answer_the_dealstage_history_newest_first(
    hubspot: HubSpotSandbox, fake_sleep: FakeSleep
) -> None:
    # Given a deal created in a first stage, then won
    deal_id = given_acme_deal(hubspot)
    hubspot.win(deal_id)

    # When it is read with propertiesWithHistory=dealstage
    http = hubspot_crm(hubspot, fake_sleep)._http
    deal = http.request(
        "GET", f"/crm/v3/objects/deals/{deal_id}", query={"propertiesWithHistory": "dealstage"}
    )

    # Then every stage it was in is listed, newest first, each a ValueWithTimestamp
    history = deal["propertiesWithHistory"]["dealstage"]
    assert [h["value"] for h in history] == ["closedwon", "appointmentscheduled"]
    assert all({"value", "timestamp", "sourceType"} <= set(h) for h in history)
    assert history[0]["timestamp"] >= history[1]["timestamp"]
    assert history[0]["timestamp"] == deal["updatedAt"]
    assert set(deal["propertiesWithHistory"]) == {"dealstage"}


def test_the_win_is_dated_when_the_deal_entered_the_won_stage_not_when_the_webhook_says(
    hubspot: HubSpotSandbox, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    # Given a deal won in HubSpot (its closedate, typed by a user, says 27 November)
    crm = hubspot_crm(hubspot, fake_sleep)
    pipeline, published = route(
        HubSpotProvider(
            client_secrets=lambda: [hubspot.client_secret],
            deals=lambda: crm,
            public_base_url=receiver.url,
        )
    )
    deal_id = given_acme_deal(hubspot)
    hubspot.win(deal_id)
    won = hubspot.deal(deal_id)["propertiesWithHistory"]["dealstage"][0]
    entered = datetime.fromisoformat(won["timestamp"].replace("Z", "+00:00"))

    # ... and a delivery about it whose occurredAt is a day off (a late retry, a replay, a careless sender)
    claimed = entered - timedelta(days=1)
    [sent] = json.loads(receiver.received[-1].body)
    sent.update(eventId=hubspot.next_event_id(), occurredAt=int(claimed.timestamp() * 1000))
    hubspot.deliver([sent])

    # When the hub handles it
    response = pipeline.handle(delivered(receiver))

    # Then the published win is dated when HubSpot moved the deal to the won stage
    assert response.status == 200, response.body
    [event] = published.events
    assert event.detail_type == "OpportunityClosedWon"
    assert event.metadata.occurredAt == entered
    assert event.metadata.occurredAt != claimed
    assert event.metadata.occurredAt != datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
