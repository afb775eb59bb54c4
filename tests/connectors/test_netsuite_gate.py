"""The ERP gate in front of NetSuite's account-wide concurrency limit: ten threads through NetSuiteErp
with a gate of the sandbox's limit never see a 429; without the gate the sandbox turns some away."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared.connectors import TransientError
from shared.connectors.erp_gate import ErpGate
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
