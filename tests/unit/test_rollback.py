"""``o2c rollback --stack S [--function F]`` against moto (CloudFormation, Lambda versions and aliases, CodeDeploy
groups) and, for stopping a deployment (which moto lacks), a botocore Stubber in place of CodeDeploy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from o2c_cli import rollback
from o2c_cli.main import main

REGION = "us-east-1"
STACK = "O2CHub-prod"
#: logical ids as CDK gives them (Functions/<id>/Function + hash): what the command looks for
LOGICAL = {
    "Reconciler": "FunctionsReconcilerFunction0A1B2C3D",
    "StripeWebhook": "FunctionsStripeWebhookFunction4E5F6A7B",
}


class Stage:
    """A deployed stack in moto: two functions, each with version 1 behind its live alias, CodeDeploy groups."""

    def __init__(self) -> None:
        self.cfn = boto3.client("cloudformation", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="fn", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self.template = json.dumps(
            {
                "Resources": {
                    logical: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Runtime": "python3.13",
                            "Handler": "index.handler",
                            "Role": role,
                            "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"},
                        },
                    }
                    for logical in LOGICAL.values()
                }
            }
        )
        self.cfn.create_stack(StackName=STACK, TemplateBody=self.template)
        self.updated_at: datetime | None = None
        resources = self.cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        by_logical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        self.names = {fn_id: by_logical[logical] for fn_id, logical in LOGICAL.items()}
        for name in self.names.values():
            version = self.lam.publish_version(FunctionName=name)["Version"]
            self.lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        codedeploy = boto3.client("codedeploy", region_name=REGION)
        codedeploy.create_application(applicationName=STACK, computePlatform="Lambda")
        for fn_id in LOGICAL:
            codedeploy.create_deployment_group(
                applicationName=STACK,
                deploymentGroupName=fn_id,
                serviceRoleArn=role,
                deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            )

    def update_stack(self) -> None:
        time.sleep(0.01)
        self.cfn.update_stack(StackName=STACK, TemplateBody=self.template)
        self.updated_at = datetime.now(UTC)
        time.sleep(0.01)

    def client(self, service: str, region: str | None) -> Any:
        """The command's clients. moto records no LastUpdatedTime: CloudFormation's is added to DescribeStacks."""
        client = boto3.client(service, region_name=region)

        def last_updated(parsed: dict[str, Any], **_: Any) -> None:
            for stack in parsed.get("Stacks", []):
                if self.updated_at is not None:
                    stack["LastUpdatedTime"] = self.updated_at

        client.meta.events.register("after-call.cloudformation.DescribeStacks", last_updated)
        return client

    def deploy(self, fn_id: str, *, weight: float | None = None) -> str:
        """A new version of the function; the alias on it (or, with ``weight``, shifting that share to it)."""
        name = self.names[fn_id]
        self.lam.update_function_configuration(FunctionName=name, Description=f"build {time.time()}")
        version = self.lam.publish_version(FunctionName=name)["Version"]
        if weight is None:
            self.lam.update_alias(FunctionName=name, Name="live", FunctionVersion=version)
        else:
            current = self.live(fn_id)
            self.lam.update_alias(
                FunctionName=name,
                Name="live",
                FunctionVersion=current,
                RoutingConfig={"AdditionalVersionWeights": {version: weight}},
            )
        return str(version)

    def alias(self, fn_id: str) -> dict[str, Any]:
        return dict(self.lam.get_alias(FunctionName=self.names[fn_id], Name="live"))

    def live(self, fn_id: str) -> str:
        return str(self.alias(fn_id)["FunctionVersion"])


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        stage = Stage()
        monkeypatch.setattr(rollback, "_client", stage.client)
        yield stage


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["rollback", "--stack", STACK, "--region", REGION, *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_without_function_it_undoes_what_the_last_stack_update_changed(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.update_stack()
    stage.deploy("Reconciler")  # the update published Reconciler v2; StripeWebhook stayed on v1
    code, out, _ = run(capsys)
    assert code == 0
    assert "Reconciler: live moved from version 2 back to version 1" in out
    assert any(
        line.startswith("StripeWebhook: version 1 is older than the stack's last update") for line in out
    )
    assert (stage.live("Reconciler"), stage.live("StripeWebhook")) == ("1", "1")
    # a second run finds nothing more to undo (it does not walk further back)
    code, out, _ = run(capsys)
    assert code == 1 and out[-1] == "nothing to roll back"
    assert stage.live("Reconciler") == "1"


def test_one_function_goes_back_one_version(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    stage.deploy("StripeWebhook")
    stage.deploy("StripeWebhook")
    stage.update_stack()  # a later update that did not touch it: --function still moves it
    code, out, _ = run(capsys, "--function", "StripeWebhook")
    assert (code, out) == (0, ["StripeWebhook: live moved from version 3 back to version 2"])
    assert stage.live("StripeWebhook") == "2" and stage.live("Reconciler") == "1"
    code, out, _ = run(capsys, "--function", "StripeWebhook")
    assert stage.live("StripeWebhook") == "1"
    code, out, _ = run(capsys, "--function", "StripeWebhook")
    assert code == 1 and out == ["StripeWebhook: no version before 1 to roll back to", "nothing to roll back"]


def test_a_shift_left_half_done_goes_back_to_the_main_version(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.update_stack()
    new = stage.deploy("Reconciler", weight=0.1)
    code, out, _ = run(capsys, "--function", "Reconciler")
    assert (code, out) == (0, [f"Reconciler: live back to version 1 only (was 10 % to version {new})"])
    alias = stage.alias("Reconciler")
    assert alias["FunctionVersion"] == "1"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_an_in_flight_deployment_is_stopped_with_rollback(
    stage: Stage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    new = stage.deploy("Reconciler", weight=0.1)  # CodeDeploy's canary: 10 % on the new version
    codedeploy = boto3.client("codedeploy", region_name=REGION)
    stubber = Stubber(codedeploy)
    in_flight = ["Created", "Queued", "InProgress", "Baking", "Ready"]
    stubber.add_response(
        "list_deployments",
        {"deployments": ["d-CANARY123"]},
        {"applicationName": STACK, "deploymentGroupName": "Reconciler", "includeOnlyStatuses": in_flight},
    )
    stubber.add_response(
        "stop_deployment",
        {"status": "Pending", "statusMessage": "Stopping"},
        {"deploymentId": "d-CANARY123", "autoRollbackEnabled": True},
    )
    real_client = rollback._client
    monkeypatch.setattr(
        rollback,
        "_client",
        lambda service, region: codedeploy if service == "codedeploy" else real_client(service, region),
    )
    with stubber:
        code, out, _ = run(capsys, "--function", "Reconciler")
        stubber.assert_no_pending_responses()
    assert code == 0
    assert out == [
        "Reconciler: stopped deployment d-CANARY123 (Pending); CodeDeploy moves live back to the version it replaced"
    ]
    # the alias is CodeDeploy's to move back: the command left it alone
    assert stage.alias("Reconciler")["RoutingConfig"]["AdditionalVersionWeights"] == {new: 0.1}


def test_an_aws_error_is_one_line_and_a_non_zero_exit(
    stage: Stage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    codedeploy = boto3.client("codedeploy", region_name=REGION)
    stubber = Stubber(codedeploy)
    stubber.add_response("list_deployments", {"deployments": ["d-DONE"]})
    stubber.add_client_error(
        "stop_deployment",
        service_error_code="DeploymentAlreadyCompletedException",
        service_message="The deployment d-DONE is already completed.",
    )
    real_client = rollback._client
    monkeypatch.setattr(
        rollback,
        "_client",
        lambda service, region: codedeploy if service == "codedeploy" else real_client(service, region),
    )
    with stubber:
        code, out, err = run(capsys, "--function", "Reconciler")
    assert code == 1 and out == []
    assert err == (
        "o2c: Reconciler: rollback failed: DeploymentAlreadyCompletedException: "
        "The deployment d-DONE is already completed.\n"
    )


def test_an_unknown_stack_or_function_is_one_line_and_a_non_zero_exit(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rollback", "--stack", "O2CHub-nope", "--region", REGION])
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith("o2c: cannot read stack O2CHub-nope: ValidationError")
        and "Traceback" not in err
    )
    assert err.count("\n") == 1
    code, _, err = run(capsys, "--function", "Nope")
    assert (
        code == 2 and err == f"o2c: stack {STACK} has no function Nope (one of: Reconciler, StripeWebhook)\n"
    )
    assert main(["rollback"]) == 2
    assert "pass --stack" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value",
    ["2026-12-01T17:36:30.104+0000", "2026-12-01T17:36:30.104000000Z", "2026-12-01T18:36:30.104+01:00"],
)
def test_lambda_timestamps_are_read_as_lambda_and_moto_write_them(value: str) -> None:
    assert rollback._timestamp(value) == datetime(2026, 12, 1, 17, 36, 30, 104000, tzinfo=UTC)
