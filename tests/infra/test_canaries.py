"""Canary deployments over the template: every hub function takes traffic through its ``live`` alias, which a
CodeDeploy group shifts to each new version (10 % for 5 minutes where the stage says so, all at once where not)
and shifts back on the function's errors and throttles alarms; nothing invokes a function's ``$LATEST``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.app import cdk_json_context
from infra.config import StageConfig
from infra.topology import FUNCTIONS, LIVE_ALIAS
from o2c_cli.rollback import function_logical_id_pattern
from tests.infra.conftest import OTHER_STAGE, STAGE, Synthesized
from tests.infra.helpers import as_list, resources_of


def _hub_functions(template: dict[str, Any]) -> dict[str, str]:
    """function logical id → FunctionSpec id, for the hub's own functions (matched by the rollback pattern)."""
    found = {}
    for spec in FUNCTIONS:
        [logical] = [
            k
            for k in resources_of(template, "AWS::Lambda::Function")
            if function_logical_id_pattern(spec.id).match(k)
        ]
        found[logical] = spec.id
    return found


def _aliases(template: dict[str, Any]) -> dict[str, str]:
    """alias logical id → the function logical id it belongs to."""
    return {
        k: v["Properties"]["FunctionName"]["Ref"]
        for k, v in resources_of(template, "AWS::Lambda::Alias").items()
    }


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STAGE]


def test_every_hub_function_has_a_live_alias_on_a_published_version(template: dict[str, Any]) -> None:
    functions = _hub_functions(template)
    assert len(functions) == len(FUNCTIONS)
    aliases = resources_of(template, "AWS::Lambda::Alias")
    versions = resources_of(template, "AWS::Lambda::Version")
    for function_logical in functions:
        [alias] = [
            a for a in aliases.values() if a["Properties"]["FunctionName"] == {"Ref": function_logical}
        ]
        assert alias["Properties"]["Name"] == LIVE_ALIAS
        version_logical = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        version = versions[version_logical]
        assert version["Properties"]["FunctionName"] == {"Ref": function_logical}
        # an old version is kept after the alias moves on: there is something to roll back to
        assert version["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize(
    ("stage", "config_name"),
    [
        (STAGE, "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
        (OTHER_STAGE, "CodeDeployDefault.LambdaAllAtOnce"),
    ],
)
def test_every_alias_is_shifted_by_a_deployment_group_that_rolls_back_on_the_functions_alarms(
    synthesized: Synthesized, stage: str, config_name: str
) -> None:
    template = synthesized.templates[stage]
    functions = _hub_functions(template)
    groups = resources_of(template, "AWS::CodeDeploy::DeploymentGroup")
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    [(application_logical, application)] = resources_of(template, "AWS::CodeDeploy::Application").items()
    # o2c rollback finds them by name: the application is the stack's, each group the function's
    assert application["Properties"]["ApplicationName"] == synthesized.stack_names[stage]
    assert application["Properties"]["ComputePlatform"] == "Lambda"
    assert len(groups) == len(functions)
    for alias_logical, function_logical in _aliases(template).items():
        update = template["Resources"][alias_logical]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["ApplicationName"] == {"Ref": application_logical}
        group = groups[update["DeploymentGroupName"]["Ref"]]["Properties"]
        assert group["DeploymentGroupName"] == functions[function_logical]
        assert group["DeploymentConfigName"] == config_name
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        assert group["AlarmConfiguration"]["Enabled"] is True
        assert not group["AlarmConfiguration"].get("IgnorePollAlarmFailure", False)
        watched = {}
        for ref in group["AlarmConfiguration"]["Alarms"]:
            alarm = alarms[ref["Name"]["Ref"]]["Properties"]
            [dimension] = alarm["Dimensions"]
            assert dimension == {"Name": "FunctionName", "Value": {"Ref": function_logical}}
            watched[alarm["MetricName"]] = alarm
        assert set(watched) == {"Errors", "Throttles"}, function_logical
        for alarm in watched.values():
            # a 1-minute period, so an alarm can fire within a 5-minute canary
            assert alarm["Period"] == 60 and alarm["Threshold"] == 1


def test_the_stage_settings_choose_the_traffic_shift() -> None:
    stages = cdk_json_context()["stages"]
    shifts = {
        name: StageConfig.from_context(name, settings).lambda_deployment for name, settings in stages.items()
    }
    # production (each region's stage) takes a canary; dev shifts all at once
    assert {name for name, shift in shifts.items() if shift == "Canary10Percent5Minutes"} == {
        name for name in stages if name.startswith("prod")
    }
    assert shifts["dev"] == "AllAtOnce"
    assert StageConfig.from_context("prod", stages["prod"]).lambda_deployment_ignore_alarms is False
    with pytest.raises(ValueError, match="lambdaDeployment"):
        StageConfig.from_context("dev", {"lambdaDeployment": "Canary50Percent1Minute"})


def _invokes_an_alias(value: Any, aliases: dict[str, str]) -> bool:
    """A function reference that is one of the aliases: its Ref, or a name ending in ``:live`` built from it."""
    if isinstance(value, dict) and value.get("Ref") in aliases:
        return True
    text = json.dumps(value)
    return any(f'"Ref": "{alias}"' in text for alias in aliases) and text.endswith(f':{LIVE_ALIAS}"]]}}')


def test_nothing_invokes_latest(template: dict[str, Any]) -> None:
    functions = _hub_functions(template)
    aliases = _aliases(template)
    assert set(aliases.values()) == set(functions)
    # API Gateway (the permissions its integrations need), the scheduler, async invoke settings
    for permission in resources_of(template, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"]["Ref"] in aliases, permission
    for mapping in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        assert _invokes_an_alias(mapping["Properties"]["FunctionName"], aliases), mapping
    for schedule in resources_of(template, "AWS::Scheduler::Schedule").values():
        assert schedule["Properties"]["Target"]["Arn"]["Ref"] in aliases
    for config in resources_of(template, "AWS::Lambda::EventInvokeConfig").values():
        qualifier = config["Properties"]["Qualifier"]  # the alias ARN's 8th part: its name
        assert qualifier == LIVE_ALIAS or (
            qualifier["Fn::Select"][0] == 7 and qualifier["Fn::Select"][1]["Fn::Split"][1]["Ref"] in aliases
        )
    for method in resources_of(template, "AWS::ApiGateway::Method").values():
        uri = json.dumps(method["Properties"].get("Integration", {}).get("Uri", ""))
        assert not any(f'"{f}"' in uri for f in functions), "an integration invokes a function, not its alias"
        if "lambda" in uri:
            assert any(f'"{a}"' in uri for a in aliases)
    [machine] = resources_of(template, "AWS::StepFunctions::StateMachine").values()
    for key, value in machine["Properties"]["DefinitionSubstitutions"].items():
        if key != "EventBusName":
            assert value["Ref"] in aliases, key
    # and no role or policy may invoke a hub function itself (unqualified or any version)
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical, policy in resources_of(template, kind).items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if not any(a.startswith("lambda:Invoke") for a in as_list(statement["Action"])):
                    continue
                for resource in as_list(statement["Resource"]):
                    text = json.dumps(resource)
                    assert not any(f'"{f}"' in text for f in functions), f"{logical} invokes {resource}"


def test_functions_are_found_by_the_rollback_command_pattern() -> None:
    pattern = function_logical_id_pattern("Reconciler")
    assert pattern.match("FunctionsReconcilerFunction0A1B2C3D")
    assert not pattern.match("FunctionsReconcilerLive0A1B2C3D")
    assert not pattern.match("FunctionsReconcilerXFunction0A1B2C3D")
    assert re.fullmatch(pattern.pattern, "FunctionsReconcilerFunction0A1B2C3D")


def test_a_deploy_may_be_told_to_ignore_the_alarms_once() -> None:
    """For the fix of the very error whose alarm is in ALARM (a deployment would otherwise stop at once)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template

    from infra.constructs.deployments import Canaries

    def group(config: StageConfig) -> dict[str, Any]:
        stack = Stack(App(), "O2CHub-x")
        function = lambda_.Function(
            stack,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(e, c): pass"),
        )
        alias = lambda_.Alias(stack, "Live", alias_name=LIVE_ALIAS, version=function.current_version)
        alarm = cloudwatch.Alarm(
            stack, "Errors", metric=function.metric_errors(), threshold=1, evaluation_periods=1
        )
        Canaries(stack, "Deployments", config=config, aliases={"Fn": alias}, alarms={"Fn": [alarm]})
        [props] = [
            r["Properties"]
            for r in Template.from_stack(stack).to_json()["Resources"].values()
            if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"
        ]
        return dict(props["AlarmConfiguration"])

    watching = group(StageConfig(stage="x", lambda_deployment="Canary10Percent5Minutes"))
    assert watching["Enabled"] is True and len(watching["Alarms"]) == 1
    ignoring = group(StageConfig.from_context("x", {"lambdaDeploymentIgnoreAlarms": "true"}))
    assert ignoring["Enabled"] is False
