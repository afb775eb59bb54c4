"""No ``o2c`` command ends in a traceback: an AWS or vendor error is one line on stderr and a non-zero exit
(o2c_cli/main.py), whichever command meets it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from o2c_cli.main import main
from shared.errors import PermanentError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_json(state_dir: Path, endpoint: str) -> None:
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/o2c-local"
    queue = {"name": "q", "url": f"{endpoint}/123456789012/q", "arn": "arn:aws:sqs:us-east-1:123456789012:q"}
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "local.json").write_text(
        json.dumps(
            {
                "api_url": "http://127.0.0.1:1",
                "aws_endpoint_url": endpoint,
                "region": "us-east-1",
                "stage": "local",
                "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:o2c-local-quote-to-cash",
                "functions": {"Reconciler": "o2c-local-Reconciler"},
                "resources": {
                    "tables": {
                        "LineageTable": "o2c-local-LineageTable",
                        "CorrelationTable": "o2c-local-CorrelationTable",
                        "PendingTable": "o2c-local-PendingTable",
                    },
                    "event_bus": {"name": "o2c-local", "arn": bus},
                    "archive": "o2c-local-archive",
                    "queues": {"LineageRecorder": queue},
                    "dlqs": {"LineageRecorder": queue},
                    "rules": {
                        "LineageRecorder": {"name": "r", "arn": f"{bus}/r".replace("event-bus", "rule")}
                    },
                },
            }
        )
    )


COMMANDS = [
    ["trace", "pi_3DemoAbc123"],
    ["status", "hubspot-123"],
    ["redrive", "hubspot-123"],
    ["pending", "list"],
    ["dlq", "list"],
    ["resync", "pi_3DemoAbc123"],
    ["replay", "--from", "2026-11-30", "--to", "2026-12-01"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_aws_out_of_reach_is_one_line_and_exit_1(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _local_json(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("O2C_DEBUG", raising=False)

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("o2c: AWS: Could not connect to the endpoint URL"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_aws_refusal_names_the_operation_and_aws_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import ClientError

    from o2c_cli import executions

    def refused(target: Any, any_id: str) -> str:
        raise ClientError(
            {
                "Error": {
                    "Code": "ExecutionNotRedrivable",
                    "Message": "Execution is SUCCEEDED\nand cannot be redriven.",
                }
            },
            "RedriveExecution",
        )

    _local_json(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(executions, "redrive", refused)

    assert main(["redrive", "hubspot-123"]) == 1
    assert capsys.readouterr().err == (
        "o2c: AWS RedriveExecution failed: ExecutionNotRedrivable: Execution is SUCCEEDED and cannot be "
        "redriven.\n"
    )


def test_a_vendor_refusal_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from o2c_cli import after_sale_commands as after_sale

    def refused(*args: Any, **kwargs: Any) -> str:
        raise PermanentError("POST /v1/refunds → 400", status=400, code="charge_already_refunded")

    _local_json(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(after_sale, "request_refund", refused)

    assert main(["refund", "pi_3DemoAbc123"]) == 1
    assert capsys.readouterr().err == "o2c: vendor error (charge_already_refunded): POST /v1/refunds → 400\n"


def test_no_credentials_for_a_stack_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    for argv in (["status", "x"], ["replay", "--from", "2026-11-30", "--to", "2026-12-01"], ["rollback"]):
        assert main([*argv, "--stack", "O2CHub-prod", "--region", "eu-west-1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("o2c: cannot read stack O2CHub-prod: Unable to locate credentials"), err
        assert err.count("\n") == 1


def test_a_bad_time_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _local_json(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    assert main(["replay", "--from", "yesterday", "--to", "2026-12-01"]) == 2
    assert capsys.readouterr().err.startswith("o2c: 'yesterday' is not a date or time")
    window = ["replay", "--from", "2026-11-30", "--to", "2026-12-01"]
    assert main([*window, "--type", "RefundSucceeded", "--consumer", "PayoutDepositor"]) == 2
    assert capsys.readouterr().err == "o2c: no consumer PayoutDepositor takes 'RefundSucceeded' events\n"
    assert main([*window, "--type", "NoSuchEvent"]) == 2
    assert capsys.readouterr().err.startswith("o2c: 'NoSuchEvent' is not an event type of the hub (one of: ")
    assert main([*window, "--consumer", "Nobody"]) == 2
    assert capsys.readouterr().err.startswith("o2c: no consumer 'Nobody' on the hub's bus (one of: ")
