"""The ERP gate in front of NetSuite's account-wide concurrency limit: ten threads through NetSuiteErp
with a gate of the sandbox's limit never see a 429; without the gate the sandbox turns some away."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared.outbound import TransientError
from shared.outbound.erp_gate import ErpGate
from tests.connectors.conftest import FakeSleep
from tests.connectors.test_netsuite_connector import ACCOUNT, erp, new_sandbox

LIMIT = 3
THREADS = 10


@pytest.fixture
def busy_netsuite() -> Iterator[NetSuiteSandbox]:
    # every request takes 50 ms, so ten concurrent clients really overlap
    with new_sandbox(concurrency_limit=LIMIT, latency_s=0.05) as sandbox:
        yield sandbox  # type: ignore[misc]


def upsert_customers_concurrently(sandbox: NetSuiteSandbox, gate_for: Any) -> list[Exception]:
    errors: list[Exception] = []
    start = threading.Barrier(THREADS)

    def work(n: int) -> None:
        # one connector per thread, as separate Lambda executions would have
        connector = erp(sandbox, gate=gate_for(), max_attempts=1)
        try:
            start.wait()
            connector.upsert_customer(
                f"cust-{n}", company_name=f"Customer {n}", email=None, subsidiary_id="1", currency="USD"
            )
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return errors


def test_with_the_gate_no_request_is_turned_away(
    busy_netsuite: NetSuiteSandbox, gate_table: tuple[Any, str]
) -> None:
    client, table = gate_table

    errors = upsert_customers_concurrently(
        busy_netsuite, lambda: ErpGate(client, table, account_id=ACCOUNT, limit=LIMIT, lease_s=10, wait_s=10)
    )

    stats = busy_netsuite.concurrency()
    assert errors == []
    assert stats["rejected"] == 0
    assert 1 < stats["peak"] <= LIMIT  # requests did run side by side, never more than the limit
    assert len(busy_netsuite.records("customer")) == THREADS


def test_without_the_gate_netsuite_answers_429_concurrency_limit_exceeded(
    busy_netsuite: NetSuiteSandbox,
) -> None:
    errors = upsert_customers_concurrently(busy_netsuite, lambda: None)

    assert busy_netsuite.concurrency()["rejected"] > 0
    assert errors and all(isinstance(e, TransientError) for e in errors)
    assert {e.code for e in errors if isinstance(e, TransientError)} == {"CONCURRENCY_LIMIT_EXCEEDED"}


def test_a_full_gate_is_raised_at_once_not_retried(
    busy_netsuite: NetSuiteSandbox, gate_table: tuple[Any, str]
) -> None:
    # Given a gate whose only slot is held elsewhere
    client, table = gate_table
    ErpGate(client, table, account_id=ACCOUNT, limit=1).acquire()
    sleep = FakeSleep()
    connector = erp(
        busy_netsuite, sleep, gate=ErpGate(client, table, account_id=ACCOUNT, limit=1, wait_s=0.1)
    )

    # When the connector needs NetSuite, Then it gives up after wait_s without sending anything
    with pytest.raises(TransientError) as caught:
        connector.get_by_external_id("customer", "x")
    assert caught.value.code == "ERP_GATE_FULL"
    assert sleep.waits == [] and busy_netsuite.requests == []


def test_a_request_that_timed_out_keeps_its_slot_while_netsuite_may_still_run_it(
    gate_table: tuple[Any, str],
) -> None:
    # Given NetSuite with one slot, answering in 0.6 s, and a client that waits only 0.2 s for an answer
    client, table = gate_table
    with new_sandbox(concurrency_limit=1, latency_s=0.6) as netsuite:
        impatient = erp(
            netsuite,
            gate=ErpGate(client, table, account_id=ACCOUNT, limit=1, lease_s=1.0, wait_s=5),
            timeout_s=0.2,
            max_attempts=1,
        )
        patient = erp(netsuite, gate=ErpGate(client, table, account_id=ACCOUNT, limit=1, lease_s=5, wait_s=5))
        with pytest.raises(TransientError):
            impatient.get_by_external_id("customer", "x")

        # When the next request comes at once, Then it waits for the slot (NetSuite still runs the first)
        # instead of being sent and turned away with 429
        assert patient.get_by_external_id("customer", "x") is None
        assert netsuite.concurrency()["rejected"] == 0
        assert len(netsuite.requests) == 2


# --- one slot for a task's several requests (NetSuiteErp.session) ----------------------------------------------


class CountingClient:
    """The gate's DynamoDB client, counting the writes it sends."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.writes = 0

    def update_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_takes_one_slot_for_its_requests_and_gives_it_back(gate_table: tuple[Any, str]) -> None:
    client, table = gate_table
    counting = CountingClient(client)
    gate = ErpGate(counting, table, account_id=ACCOUNT, limit=2, lease_s=30, wait_s=1)
    with new_sandbox(concurrency_limit=2) as netsuite:
        connector = erp(netsuite, gate=gate)

        # When a task upserts a customer and reads it back (a PUT and a GET) within one session
        with connector.session():
            ref = connector.upsert_customer(
                "cust-s", company_name="Acme", email=None, subsidiary_id="1", currency="USD"
            )
            assert gate.holders() == 1  # held between the requests, one slot only
            assert connector.get_by_external_id("customer", "cust-s") is not None

        # Then both were sent, under one acquire and one release: two gate writes, not two per request
        assert ref.id and len(netsuite.requests) >= 2
        assert counting.writes == 2
        assert gate.holders() == 0

        # And a session that sends nothing costs nothing
        with connector.session():
            pass
        assert counting.writes == 2


def test_a_session_holds_its_slot_so_the_limit_is_never_exceeded(gate_table: tuple[Any, str]) -> None:
    # Given one slot, held by a task's session between two of its requests
    client, table = gate_table
    with new_sandbox(concurrency_limit=1) as netsuite:
        task = erp(netsuite, gate=ErpGate(client, table, account_id=ACCOUNT, limit=1, wait_s=1))
        other = erp(
            netsuite, FakeSleep(), gate=ErpGate(client, table, account_id=ACCOUNT, limit=1, wait_s=0.05)
        )
        with task.session():
            assert task.get_by_external_id("customer", "a") is None

            # When another execution needs NetSuite meanwhile, Then it does not get in
            with pytest.raises(TransientError) as caught:
                other.get_by_external_id("customer", "b")
            assert caught.value.code == "ERP_GATE_FULL"
            assert task.get_by_external_id("customer", "c") is None

        # And once the session ended, it does
        assert other.get_by_external_id("customer", "b") is None
        assert netsuite.concurrency()["rejected"] == 0


def test_a_session_extends_its_lease_before_a_request_that_could_outlast_it(
    gate_table: tuple[Any, str],
) -> None:
    client, table = gate_table
    clock = Clock()
    counting = CountingClient(client)
    gate = ErpGate(counting, table, account_id=ACCOUNT, limit=1, lease_s=30, wait_s=1, clock=clock)
    with new_sandbox(concurrency_limit=1) as netsuite:
        task = erp(netsuite, gate=gate, timeout_s=10)
        with task.session():
            task.get_by_external_id("customer", "a")
            clock.now += 5  # 25 s of lease left: enough for a request (10 s connect + 10 s read)
            task.get_by_external_id("customer", "a")
            assert counting.writes == 1
            clock.now += 5  # 20 s left: not enough, so the lease is extended first
            task.get_by_external_id("customer", "a")
            assert counting.writes == 2
            clock.now += 25  # the extended lease (30 s from the renewal) still holds the slot
            assert gate.holders() == 1
        assert counting.writes == 3 and gate.holders() == 0


def test_a_session_whose_request_timed_out_keeps_that_slot_and_takes_another(
    gate_table: tuple[Any, str],
) -> None:
    # Given two slots, and NetSuite slower than the task's client waits
    client, table = gate_table
    gate = ErpGate(client, table, account_id=ACCOUNT, limit=2, lease_s=5, wait_s=5)
    with new_sandbox(concurrency_limit=2, latency_s=0.5) as netsuite:
        task = erp(netsuite, gate=gate, timeout_s=0.1, max_attempts=1)
        with task.session():
            with pytest.raises(TransientError):
                task.get_by_external_id("customer", "a")
            # Then the timed-out request's slot stays taken (NetSuite still runs it) ...
            assert gate.holders() == 1
            with pytest.raises(TransientError):
                task.get_by_external_id("customer", "b")
            # ... and the next request took a second one rather than sharing it
            assert gate.holders() == 2
        # the session gives back no slot whose request may still be running
        assert gate.holders() == 2
        assert netsuite.concurrency()["rejected"] == 0
