"""What the embedded cloud adds to moto, held to AWS's documented behaviour on a bare moto server:
Step Functions ``RedriveExecution`` (localcloud/sfn_redrive.py) and EventBridge replays with their time
window and ``FilterArns`` (localcloud/events_replay.py)."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud import moto_patches
from localcloud.cloud import _moto_server
from localcloud.provision import ACCOUNT_ID, REGION, client

LAMBDA_PREFIX = "emulation-"


class Aws:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.calls: dict[str, list[Any]] = {"Prepare": [], "Book": []}
        self.outage = True

    def client(self, service: str) -> Any:
        return client(service, self.endpoint)


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    server = _moto_server(0)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    moto_patches.install()
    previous_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    for action, body in (("reset", None), ("config", {"stepfunctions": {"execute_state_machine": True}})):
        request = urllib.request.Request(
            f"{endpoint}/moto-api/{action}",
            data=json.dumps(body).encode() if body else b"",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()
    state = Aws(endpoint)

    def prepare(event: Any) -> tuple[str, bool]:
        state.calls["Prepare"].append(event)
        return json.dumps({"prepared": len(state.calls["Prepare"])}), False

    def book(event: Any) -> tuple[str, bool]:
        state.calls["Book"].append(event)
        if state.outage:
            return json.dumps({"errorType": "TransientError", "errorMessage": "the ERP is down"}), True
        return json.dumps({"booked": event["prep"]["prepared"]}), False

    for name, fn in (("Prepare", prepare), ("Book", book)):
        moto_patches.route_lambda(LAMBDA_PREFIX + name, fn)
    try:
        yield state
    finally:
        for name in ("Prepare", "Book"):
            moto_patches.unroute_lambda(LAMBDA_PREFIX + name)
        if previous_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous_port
        server.stop()


def _state_machine(aws: Aws, name: str, *, wait_s: int = 0) -> str:
    iam, lam, sfn = aws.client("iam"), aws.client("lambda"), aws.client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
    with contextlib.suppress(ClientError):
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("handler.py", "")
    arns = {}
    for fn in ("Prepare", "Book"):
        try:
            arns[fn] = lam.create_function(
                FunctionName=LAMBDA_PREFIX + fn,
                Runtime="python3.12",
                Role=role,
                Handler="handler.h",
                Code={"ZipFile": zipped.getvalue()},
            )["FunctionArn"]
        except ClientError:
            arns[fn] = lam.get_function(FunctionName=LAMBDA_PREFIX + fn)["Configuration"]["FunctionArn"]
    states: dict[str, Any] = {
        "Prepare": {"Type": "Task", "Resource": arns["Prepare"], "ResultPath": "$.prep", "Next": "Book"},
        "Book": {"Type": "Task", "Resource": arns["Book"], "ResultPath": "$.booked", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    }
    if wait_s:
        states["Prepare"]["Next"] = "Hold"
        states["Hold"] = {"Type": "Wait", "Seconds": wait_s, "Next": "Book"}
    definition = {"StartAt": "Prepare", "States": states}
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
    )


def _wait(aws: Aws, arn: str, *statuses: str, timeout: float = 20) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] in statuses:
            return dict(described)
        assert time.monotonic() < deadline, described
        time.sleep(0.05)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_redrive_continues_from_the_failed_step_with_the_recorded_input(aws: Aws) -> None:
    sfn = aws.client("stepfunctions")
    machine = _state_machine(aws, "redrive-flow")
    aws.outage, aws.calls["Prepare"][:], aws.calls["Book"][:] = True, [], []
    arn = sfn.start_execution(stateMachineArn=machine, name="deal-1", input='{"deal": "1"}')["executionArn"]
    failed = _wait(aws, arn, "FAILED")
    assert failed["error"] == "TransientError"
    assert (failed["redriveCount"], failed["redriveStatus"]) == (0, "REDRIVABLE")
    assert "redriveDate" not in failed

    aws.outage = False
    redriven = sfn.redrive_execution(executionArn=arn)
    assert isinstance(redriven["redriveDate"], datetime.datetime)
    done = _wait(aws, arn, "SUCCEEDED")

    # the step that succeeded is not run again; the failed one gets the input it had
    assert len(aws.calls["Prepare"]) == 1
    assert aws.calls["Book"] == [{"deal": "1", "prep": {"prepared": 1}}] * 2
    assert json.loads(done["output"]) == {"deal": "1", "prep": {"prepared": 1}, "booked": {"booked": 1}}
    assert json.loads(done["input"]) == {"deal": "1"}  # the original input
    assert (done["redriveCount"], done["redriveStatus"]) == (1, "NOT_REDRIVABLE")
    assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven."
    assert done["redriveDate"] == redriven["redriveDate"]
    assert done["executionArn"] == arn  # the same execution

    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    types = [e["type"] for e in events]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # the history goes on
    assert types.count("ExecutionStarted") == 1
    assert (
        types.index("ExecutionFailed") < types.index("ExecutionRedriven") < types.index("ExecutionSucceeded")
    )
    [event] = [e for e in events if e["type"] == "ExecutionRedriven"]
    assert event["executionRedrivenEventDetails"] == {"redriveCount": 1}
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered == ["Prepare", "Book", "Book", "Done"]

    [item] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert (item["redriveCount"], item["redriveDate"]) == (1, redriven["redriveDate"])
    assert [
        e["name"]
        for e in sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")["executions"]
    ] == ["deal-1"]
    assert sfn.list_executions(stateMachineArn=machine, redriveFilter="NOT_REDRIVEN")["executions"] == []

    with pytest.raises(ClientError) as again:
        sfn.redrive_execution(executionArn=arn)
    assert _code(again) == "ExecutionNotRedrivable"


def test_what_is_not_redrivable(aws: Aws) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn = aws.client("stepfunctions")
    machine = _state_machine(aws, "not-redrivable", wait_s=60)
    aws.outage = True
    running = sfn.start_execution(stateMachineArn=machine, name="running")["executionArn"]
    _wait(aws, running, "RUNNING")
    with pytest.raises(ClientError) as exc:
        sfn.redrive_execution(executionArn=running)
    assert _code(exc) == "ExecutionNotRedrivable"
    assert "RUNNING" in str(exc.value)
    assert sfn.describe_execution(executionArn=running)["redriveStatusReason"] == (
        "Execution is RUNNING and cannot be redriven."
    )

    with pytest.raises(ClientError) as missing:
        sfn.redrive_execution(executionArn=running.replace(":running", ":no-such-execution"))
    assert _code(missing) == "ExecutionDoesNotExist"

    # an aborted execution is redrivable: it waits again where it was stopped
    sfn.stop_execution(executionArn=running)
    assert _wait(aws, running, "ABORTED")["redriveStatus"] == "REDRIVABLE"
    sfn.redrive_execution(executionArn=running)
    assert _wait(aws, running, "RUNNING")["redriveCount"] == 1
    sfn.stop_execution(executionArn=running)
    _wait(aws, running, "ABORTED")

    backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
    execution = backend.describe_execution(running)
    # 14 days after it stopped, an execution can no longer be redriven
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(days=14, minutes=1)
    with pytest.raises(ClientError) as late:
        sfn.redrive_execution(executionArn=running)
    assert _code(late) == "ExecutionNotRedrivable"
    assert sfn.describe_execution(executionArn=running)["redriveStatusReason"] == (
        "Execution redrivable period exceeded."
    )
    # nor after 1,000 redrives
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    setattr(execution, "o2c_redrive_count", 1000)  # noqa: B010 - an attribute moto does not declare
    with pytest.raises(ClientError) as limit:
        sfn.redrive_execution(executionArn=running)
    assert _code(limit) == "ExecutionNotRedrivable"
    assert sfn.describe_execution(executionArn=running)["redriveStatus"] == "NOT_REDRIVABLE"


def test_a_client_token_redrives_once(aws: Aws) -> None:
    sfn = aws.client("stepfunctions")
    machine = _state_machine(aws, "client-token")
    aws.outage = True
    arn = sfn.start_execution(stateMachineArn=machine, name="token")["executionArn"]
    _wait(aws, arn, "FAILED")
    first = sfn.redrive_execution(executionArn=arn, clientToken="operator-1")["redriveDate"]
    _wait(aws, arn, "FAILED")  # the ERP is still down
    assert sfn.redrive_execution(executionArn=arn, clientToken="operator-1")["redriveDate"] == first
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    sfn.redrive_execution(executionArn=arn, clientToken="operator-2")
    _wait(aws, arn, "FAILED")
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 2


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for message in got:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_replay_keeps_to_its_window_and_its_rules(aws: Aws) -> None:
    events, sqs = aws.client("events"), aws.client("sqs")
    bus_arn = events.create_event_bus(Name="replay-bus")["EventBusArn"]
    archive_arn = events.create_archive(ArchiveName="replay-archive", EventSourceArn=bus_arn)["ArchiveArn"]
    queues, rules = {}, {}
    for consumer in ("Booker", "Recorder"):
        url = sqs.create_queue(QueueName=f"replay-{consumer}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rules[consumer] = events.put_rule(
            Name=f"replay-{consumer}", EventBusName="replay-bus", EventPattern='{"source": ["o2c.test"]}'
        )["RuleArn"]
        events.put_targets(
            Rule=f"replay-{consumer}", EventBusName="replay-bus", Targets=[{"Id": "q", "Arn": arn}]
        )
        queues[consumer] = url
    day = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
    for label, when in (
        ("before", day - datetime.timedelta(hours=1)),
        ("in", day),
        ("after", day + datetime.timedelta(days=1, hours=1)),
    ):
        events.put_events(
            Entries=[
                {
                    "EventBusName": "replay-bus",
                    "Source": "o2c.test",
                    "DetailType": "Thing",
                    "Detail": json.dumps({"label": label}),
                    "Time": when,
                }
            ]
        )
    live = {c: _drain(sqs, u) for c, u in queues.items()}
    assert [e["detail"]["label"] for e in live["Booker"]] == ["before", "in", "after"]

    events.start_replay(
        ReplayName="one-day-one-rule",
        EventSourceArn=archive_arn,
        EventStartTime=day,
        EventEndTime=day + datetime.timedelta(days=1),
        Destination={"Arn": bus_arn, "FilterArns": [rules["Booker"]]},
    )
    described = events.describe_replay(ReplayName="one-day-one-rule")
    assert described["State"] == "COMPLETED"
    assert described["EventLastReplayedTime"] == day
    replayed = {c: _drain(sqs, u) for c, u in queues.items()}
    assert [e["detail"]["label"] for e in replayed["Booker"]] == ["in"]
    assert replayed["Booker"][0]["replay-name"] == "one-day-one-rule"
    assert replayed["Recorder"] == []  # not a rule of the replay
    # a replayed event is not archived again
    assert events.describe_archive(ArchiveName="replay-archive")["EventCount"] == 3

    with pytest.raises(ClientError) as other_bus:
        events.start_replay(
            ReplayName="wrong-rule",
            EventSourceArn=archive_arn,
            EventStartTime=day,
            EventEndTime=day + datetime.timedelta(days=1),
            Destination={"Arn": bus_arn, "FilterArns": [rules["Booker"].replace("replay-bus", "other-bus")]},
        )
    assert _code(other_bus) == "ValidationException"
