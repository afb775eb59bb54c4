"""Connector calls end before the Lambda's deadline (``shared.deadline``): no retry, backoff or wait
for an ERP slot starts that could not finish in the time left, and an attempt's timeouts are cut to it. Without
this a NetSuite call with its retries (~90 s worst case) outlives a 60 s function and the whole batch, or the
state machine task, dies with it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes import HubSpotSandbox
from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared import deadline
from shared.outbound import TransientError
from shared.outbound.erp_gate import GATE_FULL, ErpGate
from shared.outbound.http import JsonHttp
from tests.connectors.conftest import HUBSPOT_TOKEN
from tests.connectors.test_netsuite_connector import erp, new_sandbox

DEALS = "/crm/v3/objects/deals"


class FakeTime:
    """A clock that only the client's sleeps move (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def hubspot_api() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(
        webhook_url="http://127.0.0.1:9/", client_secret="s", access_token=HUBSPOT_TOKEN
    ) as sb:
        yield sb  # type: ignore[misc]


def hubspot_http(sandbox: HubSpotSandbox, **kwargs: Any) -> JsonHttp:
    return JsonHttp(sandbox.url, auth_headers=lambda: {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}, **kwargs)


def test_a_retry_that_cannot_finish_before_the_deadline_is_not_waited_for(
    hubspot_api: HubSpotSandbox,
) -> None:
    # Given HubSpot rate-limiting with Retry-After: 3 s, and 5 s left of the invocation
    hubspot_api.fail_next(429, count=3, retry_after=3)
    fake = FakeTime()
    http = hubspot_http(hubspot_api, sleep=fake.sleep, max_attempts=3)
    # When the client reads a deal
    with deadline.within(5.0, clock=fake.clock), pytest.raises(TransientError) as raised:
        http.request("GET", f"{DEALS}/1")
    # Then it waited once (3 s, leaving 2 s for the second attempt) and not a second time (it would leave none)
    assert fake.waits == [3]
    assert raised.value.status == 429
    assert hubspot_api.requests.count(f"GET {DEALS}/1") == 2


def test_without_a_deadline_the_client_keeps_its_own_retries(hubspot_api: HubSpotSandbox) -> None:
    hubspot_api.fail_next(429, count=3, retry_after=3)
    fake = FakeTime()
    with pytest.raises(TransientError):
        hubspot_http(hubspot_api, sleep=fake.sleep, max_attempts=3).request("GET", f"{DEALS}/1")
    assert fake.waits == [3, 3]


def test_no_attempt_starts_with_less_than_a_minimum_left(hubspot_api: HubSpotSandbox) -> None:
    with deadline.within(deadline.MIN_ATTEMPT_S / 2), pytest.raises(deadline.DeadlineExceeded) as raised:
        hubspot_http(hubspot_api).request("GET", f"{DEALS}/1")
    assert raised.value.code == deadline.DEADLINE and isinstance(raised.value, TransientError)
    assert hubspot_api.requests == []  # nothing was sent


def test_an_attempt_s_timeout_is_cut_to_the_time_left(hubspot_api: HubSpotSandbox) -> None:
    # Given HubSpot answering in 3 s, a client whose read timeout is 5 s, and 1.5 s left
    hubspot_api.slow_next(3.0)
    started = time.monotonic()
    with deadline.within(1.5), pytest.raises(TransientError, match="ReadTimeoutError"):
        hubspot_http(hubspot_api, timeout_s=5, max_attempts=3).request("GET", f"{DEALS}/1")
    # Then the call gives up when the time is out, without a retry it could not finish
    assert time.monotonic() - started < 2.5


def test_netsuite_attempts_are_cut_to_the_time_left() -> None:
    with new_sandbox(latency_s=3.0) as netsuite:
        connector = erp(netsuite, timeout_s=10, max_attempts=3)  # type: ignore[arg-type]
        started = time.monotonic()
        with deadline.within(1.5), pytest.raises(TransientError, match="ReadTimeoutError"):
            connector.get_by_external_id("customer", "cust-1")
        assert time.monotonic() - started < 2.5


def test_the_erp_gate_waits_only_as_long_as_leaves_time_for_the_request(gate_table: tuple[Any, str]) -> None:
    # Given a full gate (one slot, held) that would wait 10 s, and 2 s left of the invocation
    client, table = gate_table
    holder = ErpGate(client, table, account_id="1234567", limit=1, wait_s=10)
    waiter = ErpGate(client, table, account_id="1234567", limit=1, wait_s=10)
    with holder.slot():
        started = time.monotonic()
        with deadline.within(2.0), pytest.raises(TransientError) as raised:
            waiter.acquire()
        waited = time.monotonic() - started
    # Then it gave up after about 1 s, keeping MIN_ATTEMPT_S for the request it wanted the slot for
    assert raised.value.code == GATE_FULL
    assert waited < 2.0 - deadline.MIN_ATTEMPT_S + 0.5


def test_a_netsuite_sandbox_with_latency_still_answers_within_a_generous_deadline() -> None:
    netsuite: NetSuiteSandbox
    with new_sandbox() as netsuite:  # type: ignore[assignment]
        netsuite.set_latency(0.05, 0.1)
        connector = erp(netsuite)
        with deadline.within(10.0):
            assert connector.get_by_external_id("customer", "nobody") is None
