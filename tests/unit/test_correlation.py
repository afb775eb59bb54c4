"""Waits and facts meet exactly once, in either order, and never cross keys."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.topology import CORRELATION_TABLE
from localcloud.provision import create_table
from shared.order_to_cash.correlation import Correlator
from tests.atomic_moto import AtomicClient


class FakeStepFunctions:
    """Records SendTaskSuccess calls (the real service is exercised in the flow tests)."""

    class exceptions:
        class TaskTimedOut(Exception): ...

        class TaskDoesNotExist(Exception): ...

        class InvalidToken(Exception): ...

    def __init__(self) -> None:
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def send_task_success(self, taskToken: str, output: str) -> None:
        with self.lock:
            self.resumed.append((taskToken, json.loads(output)))


@pytest.fixture
def correlator(aws_env: None) -> Iterator[tuple[Correlator, FakeStepFunctions]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "corr", CORRELATION_TABLE)
        sfn = FakeStepFunctions()
        yield Correlator(AtomicClient(ddb), "corr", sfn), sfn


def test_fact_after_the_token_resumes_once(correlator: Any) -> None:
    corr, sfn = correlator
    assert (
        corr.register_wait("setup:seti_1", "token-1", execution="hubspot-1", state="WaitForPaymentMethod")
        is False
    )
    assert corr.deliver_fact("setup:seti_1", {"paymentMethodId": "pm_1"}) is True
    assert corr.deliver_fact("setup:seti_1", {"paymentMethodId": "pm_1"}) is False  # duplicate webhook
    assert sfn.resumed == [("token-1", {"paymentMethodId": "pm_1"})]


def test_fact_before_the_token_resumes_when_the_execution_arrives(correlator: Any) -> None:
    corr, sfn = correlator
    assert corr.deliver_fact("capture:pi_1", {"chargeId": "ch_1"}) is False
    assert (
        corr.register_wait("capture:pi_1", "token-2", execution="sf-1", state="WaitForCaptureConfirmation")
        is True
    )
    assert sfn.resumed == [("token-2", {"chargeId": "ch_1"})]


def test_a_fact_never_resumes_another_wait(correlator: Any) -> None:
    corr, sfn = correlator
    corr.register_wait("setup:seti_A", "token-A", execution="a", state="s")
    corr.deliver_fact("setup:seti_B", {"paymentMethodId": "pm_B"})
    assert sfn.resumed == []
    assert corr.waiting_on("a") is not None and corr.waiting_on("a").key == "setup:seti_A"


def test_racing_fact_and_token_resume_exactly_once(correlator: Any) -> None:
    corr, sfn = correlator
    for i in range(15):
        barrier = threading.Barrier(3)

        def wait(i: int = i, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            corr.register_wait(f"k{i}", f"t{i}", execution=f"e{i}", state="s")

        def deliver(i: int = i, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            corr.deliver_fact(f"k{i}", {"n": i})

        threads = [
            threading.Thread(target=wait),
            threading.Thread(target=deliver),
            threading.Thread(target=deliver),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(token for token, _ in sfn.resumed) == sorted(f"t{i}" for i in range(15))
