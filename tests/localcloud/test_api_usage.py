"""The local gateway throttles each /v1 client on its own, as the stage's usage plan does: a client over its
rate or burst gets 429 problem+json ``rate-limited`` with ``Retry-After`` and its request never reaches the
function; another client is not affected; once its bucket refills the first gets through again. A request
without the client's usage-plan key is refused 403, as on the stage."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import topology
from localcloud.api import ApiGateway
from localcloud.api_auth import TOKEN_PATH, LocalOAuth
from localcloud.api_usage import UsagePlan
from localcloud.workers import InvokeResult
from shared.api.problems import KINDS

RATE, BURST = 4, 2


@pytest.fixture
def gateway() -> Iterator[tuple[ApiGateway, list[Any]]]:
    calls: list[Any] = []

    def invoke(function_id: str, event: Any) -> InvokeResult:
        calls.append(event)
        return InvokeResult(ok=True, result={"statusCode": 200, "body": json.dumps({"id": "x"})})

    with mock_aws():
        oauth = LocalOAuth(boto3.client("cognito-idp", region_name="us-east-1"), "test")
        api = ApiGateway(topology.API_FUNCTIONS, invoke, oauth=oauth, usage_plan=UsagePlan(RATE, BURST))
        api.start()
        try:
            yield api, calls
        finally:
            api.stop()


def call(url: str, headers: dict[str, str], data: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def client(api: ApiGateway, name: str) -> dict[str, str]:
    """The headers a client sends: its token (client credentials) and its usage-plan key."""
    assert api.oauth is not None
    creds = api.oauth.local_json(api.url)["clients"][name]
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, _, body = call(
        api.url + TOKEN_PATH,
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}", "x-api-key": creds["api_key"]}


def test_a_client_over_its_limit_is_throttled_alone_and_served_again_once_refilled(
    gateway: tuple[ApiGateway, list[Any]],
) -> None:
    api, calls = gateway
    partner, reader = client(api, "partner"), client(api, "reader")
    url = api.url + "/v1/orders/ord_1"
    assert [call(url, partner)[0] for _ in range(BURST)] == [200] * BURST
    served = len(calls)
    status, headers, body = call(url, partner)
    assert status == 429
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) >= 1
    assert body["type"] == KINDS["rate-limited"][0] and body["status"] == 429
    assert len(calls) == served, "a throttled request reached the function"
    assert call(url, reader)[0] == 200, "another client is throttled with the first"
    time.sleep(1.0 / RATE + 0.05)  # one token back
    assert call(url, partner)[0] == 200
    assert [c["requestContext"]["identity"]["apiKeyId"] for c in calls[-2:]] == [
        api.oauth.clients[n].client_id  # type: ignore[union-attr]
        for n in ("reader", "partner")
    ]


def test_a_request_without_the_clients_key_is_refused(gateway: tuple[ApiGateway, list[Any]]) -> None:
    api, calls = gateway
    headers = client(api, "partner")
    for key in (None, "not-a-key"):
        sent = {k: v for k, v in headers.items() if k != "x-api-key"} | ({"x-api-key": key} if key else {})
        status, head, body = call(api.url + "/v1/orders/ord_1", sent)
        assert (status, head["Content-Type"], body["type"]) == (
            403,
            "application/problem+json",
            KINDS["forbidden"][0],
        )
    assert calls == []
