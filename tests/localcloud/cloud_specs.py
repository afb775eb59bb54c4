"""Functions and consumers the local cloud tests inject instead of the real handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.topology import ConsumerSpec, FunctionSpec, RouteSpec

HANDLERS = "tests/localcloud/handlers"
TEST_SOURCE = "test.localcloud"
MAX_RECEIVE_COUNT = 2


def cloud_kwargs(record_file: Path) -> dict[str, Any]:
    echo = FunctionSpec(
        id="Echo",
        code_dir=HANDLERS,
        description="echoes what it received",
        handler="echo.lambda_handler",
        memory_mb=512,
        timeout_s=10,
        route=RouteSpec("POST", "/webhooks/echo"),
        tables={"IdempotencyTable": "read_write"},
        secrets=("StripeWebhookSecret",),
        publishes_events=True,
        settings={"ECHO_ONLY_SETTING": "echo"},
    )
    other = FunctionSpec(
        id="Other",
        code_dir=HANDLERS,
        description="another webhook with other settings",
        handler="echo.lambda_handler",
        timeout_s=1,
        route=RouteSpec("PUT", "/webhooks/other/{name}"),
        tables={"LineageTable": "read"},
        settings={"OTHER_ONLY_SETTING": "other"},
    )
    recorder = FunctionSpec(
        id="Recorder",
        code_dir=HANDLERS,
        description="records SQS records, fails poison ones",
        handler="recorder.lambda_handler",
        timeout_s=5,
        tables={"LineageTable": "read_write"},
        settings={"RECORD_FILE": str(record_file)},
    )
    consumer = ConsumerSpec(
        id="Recorder",
        function=recorder,
        pattern={"source": [TEST_SOURCE]},
        batch_size=10,
        max_receive_count=MAX_RECEIVE_COUNT,
    )
    return {"functions": [echo, other], "consumers": [consumer]}
