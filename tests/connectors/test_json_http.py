"""JsonHttp, the client under both connectors: classification, backoff, Retry-After, exact numbers, and
logs that never hold a token or a body."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal
from email.utils import formatdate

import pytest

from localcloud.sandboxes import SalesforceSandbox
from shared.outbound import TransientError
from shared.outbound.http import JsonHttp, parse_retry_after
from tests.connectors.conftest import SF_CLIENT_ID, SF_CLIENT_SECRET, FakeSleep


def token(http: JsonHttp) -> str:
    answer = http.request(
        "POST",
        "/services/oauth2/token",
        form={
            "grant_type": "client_credentials",
            "client_id": SF_CLIENT_ID,
            "client_secret": SF_CLIENT_SECRET,
        },
    )
    return str(answer["access_token"])


def test_money_in_json_numbers_is_parsed_as_decimal(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given an opportunity of 1234.50 EUR
    opp_id = salesforce.create_opportunity(
        "A", "1234.50", "EUR", account={"Name": "A"}, contacts=[], line_items=[]
    )
    login = JsonHttp(salesforce.url, auth_headers=dict, sleep=fake_sleep)
    access = token(login)
    api = JsonHttp(
        salesforce.url, auth_headers=lambda: {"Authorization": f"Bearer {access}"}, sleep=fake_sleep
    )

    # When read
    record = api.request("GET", f"/services/data/v62.0/sobjects/Opportunity/{opp_id}")

    # Then the amount is the exact Decimal, never a float
    assert record["Amount"] == Decimal("1234.50")
    assert isinstance(record["Amount"], Decimal)


def test_connection_refused_is_transient_and_retried(fake_sleep: FakeSleep) -> None:
    # Given nothing listens on a port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = JsonHttp(f"http://127.0.0.1:{port}", auth_headers=dict, sleep=fake_sleep, base_backoff_s=1)

    # When a request is sent, Then TransientError after 3 attempts, backing off exponentially with jitter
    with pytest.raises(TransientError):
        http.request("GET", "/anything")
    assert len(fake_sleep.waits) == 2
    assert 0 <= fake_sleep.waits[0] <= 1 and 0 <= fake_sleep.waits[1] <= 2


def test_logs_never_hold_the_token_or_the_body(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a token request that is rate limited once
    salesforce.fail_next(429, retry_after=1)
    caplog.set_level(logging.DEBUG, logger="o2c.connectors")

    # When it is retried and succeeds
    access = token(JsonHttp(salesforce.url, auth_headers=dict, sleep=fake_sleep))

    # Then the logs name the call, not the secret, the token or the form
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/services/oauth2/token" in text
    assert SF_CLIENT_SECRET not in text and access not in text and "client_credentials" not in text


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=lambda: 1_000_000) == 30.0
    assert parse_retry_after(formatdate(999_000, usegmt=True), now=lambda: 1_000_000) == 0.0


def test_salesforce_daily_api_limit_is_transient_and_left_to_the_queue(
    salesforce: SalesforceSandbox, fake_sleep: FakeSleep
) -> None:
    # Given the org's 24-hour API limit is exhausted (Salesforce answers 403 REQUEST_LIMIT_EXCEEDED)
    salesforce.fail_next(403, code="REQUEST_LIMIT_EXCEEDED")

    # When a call is made, Then it is transient with a long retry hint, and not waited for here
    with pytest.raises(TransientError) as raised:
        token(JsonHttp(salesforce.url, auth_headers=dict, sleep=fake_sleep))
    assert raised.value.retry_after == 3600.0
    assert fake_sleep.waits == []
