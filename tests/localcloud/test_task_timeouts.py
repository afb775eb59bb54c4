"""A state machine task that outlives its function timeout fails in the local cloud as on AWS, with
``Sandbox.Timedout`` (its worker is killed and replaced), and the state machine's retry of technical errors
runs it again instead of failing the execution."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.statemachine import SUBSTITUTIONS, TECHNICAL_RETRY
from infra.topology import FunctionSpec
from localcloud import LocalCloud
from tests.localcloud.cloud_specs import HANDLERS

TASK_IDS = [s for s in SUBSTITUTIONS if s != "EventBusName"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, Path]]:
    state = tmp_path_factory.mktemp("timeouts")
    calls = state / "calls"
    # every task of the quote-to-cash definition is the slow handler, with a 1 s timeout
    tasks = [
        FunctionSpec(
            id=task_id,
            code_dir=HANDLERS,
            description="outlives its timeout once",
            handler="slow.lambda_handler",
            timeout_s=1,
            settings={"CALLS_FILE": str(calls)},
            state_machine_task=True,  # the state machine's role may invoke it (IAM is enforced locally)
        )
        for task_id in TASK_IDS
    ]
    with LocalCloud(
        api_port=0, aws_port=0, state_dir=state, functions=[], consumers=[], tasks=tasks, persist=False
    ) as c:
        yield c, calls


def run(
    cloud: LocalCloud, retry: list[dict[str, Any]], name: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sfn = cloud.client("stepfunctions")
    arn = cloud.client("lambda").get_function(FunctionName=cloud.local_json["functions"]["ErpTasks"])[
        "Configuration"
    ]["FunctionArn"]
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps(
            {
                "StartAt": "Step",
                "States": {"Step": {"Type": "Task", "Resource": arn, "Retry": retry, "End": True}},
            }
        ),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    history = sfn.get_execution_history(executionArn=execution)["events"]
    return described, history


def failures(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (
            e["lambdaFunctionFailedEventDetails"]["error"],
            e["lambdaFunctionFailedEventDetails"].get("cause", ""),
        )
        for e in history
        if e["type"] == "LambdaFunctionFailed"
    ]


def test_a_task_past_its_timeout_fails_with_sandbox_timedout_and_is_retried(
    cloud: tuple[LocalCloud, Path],
) -> None:
    local, calls = cloud
    calls.unlink(missing_ok=True)
    started = time.monotonic()
    described, history = run(local, TECHNICAL_RETRY, "retried")
    # the first invocation was killed at its 1 s timeout and reported as Lambda reports it
    [(error, cause)] = failures(history)
    assert error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in cause
    # the retry ran it again, and the execution went on
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["calls"] == 2
    assert time.monotonic() - started < 30  # killed at its timeout, not after the handler's 30 s sleep


def test_without_a_retry_naming_it_the_execution_fails_at_that_step(cloud: tuple[LocalCloud, Path]) -> None:
    local, calls = cloud
    calls.unlink(missing_ok=True)
    only_transient = [{**TECHNICAL_RETRY[0], "ErrorEquals": ["TransientError"]}]
    described, _ = run(local, only_transient, "not-retried")
    assert described["status"] == "FAILED"
    assert described.get("error") == "Sandbox.Timedout"
