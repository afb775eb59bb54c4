"""ErpGate against in-process moto DynamoDB: never more than ``limit`` holders at once across threads, a
crashed holder's lease expires, a full gate raises TransientError after ``wait_s``."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shared.outbound import TransientError
from shared.outbound.erp_gate import ErpGate


class Inside:
    """How many threads are inside the gate now, and the most there ever were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.done = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1
            self.done += 1


def test_never_more_than_limit_holders_at_once(gate_table: tuple[Any, str]) -> None:
    # Given a gate of 2 slots shared by 8 threads (each its own ErpGate, as separate Lambdas would)
    client, table = gate_table
    inside = Inside()
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def work() -> None:
        gate = ErpGate(client, table, account_id="1234567", limit=2, lease_s=5, wait_s=10)
        try:
            start.wait()
            with gate.slot():
                inside.enter()
                time.sleep(0.05)
                inside.leave()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    # Then all finished, never more than two at once, and every lease was given back
    assert errors == []
    assert inside.done == 8
    assert inside.peak == 2
    gate = ErpGate(client, table, account_id="1234567", limit=2)
    assert gate.holders() == 0
    item = client.get_item(TableName=table, Key={"pk": {"S": "erp-gate#1234567"}})["Item"]
    assert int(item["expiration"]["N"]) > time.time()  # the TTL keeps an idle item for a while


def test_a_crashed_holder_s_lease_expires_and_others_proceed(gate_table: tuple[Any, str]) -> None:
    # Given a gate of 1 slot whose holder crashed without releasing (lease 0.4 s)
    client, table = gate_table
    crashed = ErpGate(client, table, account_id="1234567", limit=1, lease_s=0.4)
    leased_at = time.monotonic()
    crashed.acquire()

    # When another function asks for a slot, waiting up to 3 s
    gate = ErpGate(client, table, account_id="1234567", limit=1, lease_s=5, wait_s=3)
    with gate.slot():
        # Then it got the slot, never before the crashed holder's lease ran out (a loaded machine may
        # reach this line after the lease already expired: the bound is on the lease, not on a wait),
        # and the expired lease was pruned
        assert time.monotonic() - leased_at >= 0.4
        assert gate.holders() == 1


def test_a_full_gate_raises_transient_after_wait_s(gate_table: tuple[Any, str]) -> None:
    client, table = gate_table
    holder = ErpGate(client, table, account_id="acct", limit=1, lease_s=30)
    holder.acquire()

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    waiting = ErpGate(
        client,
        table,
        account_id="acct",
        limit=1,
        wait_s=0.2,
        sleep=sleep,
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        waiting.acquire()
    assert caught.value.code == "ERP_GATE_FULL"
    assert time.monotonic() - started >= 0.2  # it waited wait_s for a slot ...
    assert (
        max(slept, default=0.0) <= 0.2
    )  # ... and never slept past it (a slow read may leave no sleep at all)


def test_accounts_are_gated_separately(gate_table: tuple[Any, str]) -> None:
    client, table = gate_table
    ErpGate(client, table, account_id="a", limit=1).acquire()

    with ErpGate(client, table, account_id="b", limit=1, wait_s=0).slot():
        pass


def test_release_is_safe_twice_and_for_unknown_leases(gate_table: tuple[Any, str]) -> None:
    client, table = gate_table
    gate = ErpGate(client, table, account_id="a", limit=1)
    lease = gate.acquire()
    gate.release(lease)
    gate.release(lease)
    gate.release("never-held")
    assert gate.holders() == 0
