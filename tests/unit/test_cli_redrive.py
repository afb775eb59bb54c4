"""``o2c redrive``: a failed execution is redriven from its failed step, by the name of the deal: the exact API
calls, with botocore's Stubber (the flow test ``tests/flow/test_redrive_and_replay_flow.py`` redrives a real
execution on the local cloud)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from o2c_cli.executions import redrive
from o2c_cli.targets import Target

MACHINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:o2c-prod-quote-to-cash"
EXECUTION = "arn:aws:states:eu-west-1:111122223333:execution:o2c-prod-quote-to-cash:hubspot-18780747262"


class StubbedTarget(Target):
    def client(self, service: str) -> Any:
        return self.clients[service]  # type: ignore[attr-defined]


def test_redrive_names_the_deals_execution(aws_env: None) -> None:
    sfn = boto3.client("stepfunctions", region_name="eu-west-1")
    target = StubbedTarget(
        name="O2CHub-prod", region="eu-west-1", lineage_table="t", state_machine_arn=MACHINE
    )
    object.__setattr__(target, "clients", {"stepfunctions": sfn})
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {
                "executionArn": EXECUTION,
                "stateMachineArn": MACHINE,
                "status": "FAILED",
                "startDate": datetime.now(UTC),
                "name": "hubspot-18780747262",
            },
            {"executionArn": EXECUTION},
        )
        stub.add_response(
            "get_execution_history", {"events": []}, {"executionArn": EXECUTION, "maxResults": 1000}
        )
        stub.add_response(
            "redrive_execution", {"redriveDate": datetime.now(UTC)}, {"executionArn": EXECUTION}
        )

        assert redrive(target, "hubspot-18780747262") == "hubspot-18780747262"
        stub.assert_no_pending_responses()
