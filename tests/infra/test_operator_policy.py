"""The operators' policies cover what every ``o2c --stack`` command calls, on the stage's own resources, and
the read-only one covers the commands that change nothing and none that do.

What a command calls is read from the code: each command module declares ``AWS_ACTIONS`` (command → entry
functions, actions) and ``cli_actions`` follows the boto3 calls from those functions, so a new boto3 call
without its declaration (or a declaration left after its call went away) fails here before it fails on AWS
with AccessDenied.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from fnmatch import fnmatchcase
from typing import Any

import pytest

import o2c_cli
from infra.constructs.operators import COMMAND_GRANTS, OPERATOR_COMMANDS, READ_ONLY_COMMANDS
from infra.topology import CONSUMERS, TABLES
from o2c_cli.main import _parser
from o2c_cli.targets import RESOLVE_ACTIONS
from tests.infra.cli_actions import actions_of
from tests.infra.helpers import as_list, output_ref, resources_of

#: what any of these does would change the stage; the read-only policy must have none of them
WRITES = {
    "states:SendTaskSuccess",
    "states:RedriveExecution",
    "dynamodb:UpdateItem",
    "events:PutEvents",
    "events:StartReplay",
    "lambda:InvokeFunction",
    "sqs:SendMessage",
    "sqs:DeleteMessage",
    "sqs:StartMessageMoveTask",
    "lambda:UpdateAlias",
    "codedeploy:StopDeployment",
}


def _declared() -> dict[str, tuple[str, tuple[str, ...], frozenset[str]]]:
    """command → (module, entry functions, actions) from every o2c_cli module's AWS_ACTIONS."""
    found: dict[str, tuple[str, tuple[str, ...], frozenset[str]]] = {}
    for info in pkgutil.iter_modules(o2c_cli.__path__):
        module = importlib.import_module(f"o2c_cli.{info.name}")
        for command, (entries, actions) in getattr(module, "AWS_ACTIONS", {}).items():
            assert command not in found, f"{command} declared twice"
            found[command] = (module.__name__, entries, actions)
    return found


DECLARED = _declared()


def _stack_commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    """Every (sub)command of ``o2c`` that takes ``--stack``."""
    commands = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands |= _stack_commands(sub, f"{prefix} {name}".strip())
        elif "--stack" in action.option_strings:
            commands.add(prefix)
    return commands


def test_every_command_acting_on_a_stack_declares_its_actions_and_is_an_operators() -> None:
    assert _stack_commands(_parser()) == set(DECLARED) == set(OPERATOR_COMMANDS)
    assert set(READ_ONLY_COMMANDS) < set(OPERATOR_COMMANDS)


def test_resolving_a_stack_calls_what_targets_declares() -> None:
    assert actions_of(["o2c_cli.targets:stack_target"]) == RESOLVE_ACTIONS


@pytest.mark.parametrize("command", sorted(DECLARED))
def test_declared_actions_are_what_the_code_calls(command: str) -> None:
    module, entries, declared = DECLARED[command]
    assert actions_of(f"{module}:{entry}" for entry in entries) == declared


@pytest.mark.parametrize("command", sorted(DECLARED))
def test_the_policy_table_grants_each_command_what_it_declares(command: str) -> None:
    granted = {action for _, actions in COMMAND_GRANTS[command] for action in actions}
    assert granted == DECLARED[command][2]


# --- the synthesized template -----------------------------------------------------------------------------


def _statements(template_json: dict[str, Any], output: str) -> list[dict[str, Any]]:
    policy = template_json["Resources"][output_ref(template_json, output)]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _expected_resources(template_json: dict[str, Any], kind: str) -> list[Any]:
    """The stage's resources of one kind, found in the template independently of the construct."""
    outputs = template_json["Outputs"]
    if kind == "stack":
        return [{"Ref": "AWS::StackId"}]
    if kind.startswith("table:"):
        return [_arn(output_ref(template_json, f"{kind.removeprefix('table:')}Name"))]
    if kind == "bus":
        return [_arn(output_ref(template_json, "EventBusName"))]
    if kind == "archive":
        return [{"Fn::GetAtt": [k, "Arn"]} for k in resources_of(template_json, "AWS::Events::Archive")]
    if kind == "replays":
        bus = template_json["Resources"][output_ref(template_json, "EventBusName")]["Properties"]["Name"]
        return [("replay", f"{bus}-*", "/")]
    if kind == "reconciler":  # invoked through its live alias, never $LATEST
        function = output_ref(template_json, "ReconcilerFunctionName")
        [alias] = [
            k
            for k, v in resources_of(template_json, "AWS::Lambda::Alias").items()
            if v["Properties"]["FunctionName"] == {"Ref": function}
        ]
        return [{"Ref": alias}]
    if kind == "deployment_groups":  # named application (the stack) / group (the function id)
        [application] = resources_of(template_json, "AWS::CodeDeploy::Application").values()
        app_name = application["Properties"]["ApplicationName"]
        groups = resources_of(template_json, "AWS::CodeDeploy::DeploymentGroup").values()
        assert groups
        return [("deploymentgroup", f"{app_name}/{g['Properties']['DeploymentGroupName']}") for g in groups]
    if kind == "functions":
        return [_arn(k) for k in resources_of(template_json, "AWS::Lambda::Function")]
    if kind == "secrets":
        return [{"Ref": k} for k in resources_of(template_json, "AWS::SecretsManager::Secret")]
    if kind in {"queues", "dlqs"}:
        suffix = "QueueUrl" if kind == "queues" else "DlqUrl"
        ids = [
            output_ref(template_json, f"{c.id}{suffix}") for c in CONSUMERS if f"{c.id}{suffix}" in outputs
        ]
        assert ids
        return [_arn(i) for i in ids]
    state_machine_arn = outputs["StateMachineArn"]["Value"]
    name = template_json["Resources"][state_machine_arn["Ref"]]["Properties"]["StateMachineName"]
    if kind == "state_machine":
        return [("stateMachine", name)]
    assert kind == "executions", kind
    return [("execution", f"{name}:*")]


def _matches(granted: Any, expected: Any) -> bool:
    if isinstance(expected, tuple):  # an ARN built with Fn::Join: its resource part
        resource, name, separator = (*expected, ":")[:3]
        return isinstance(granted, dict) and json.dumps(granted).endswith(
            f':{resource}{separator}{name}"]]}}'
        )
    return bool(granted == expected)


def _allows(statements: list[dict[str, Any]], action: str, resource: Any) -> bool:
    return any(
        s["Effect"] == "Allow"
        and any(fnmatchcase(action, a) for a in as_list(s["Action"]))
        and any(_matches(r, resource) for r in as_list(s["Resource"]))
        for s in statements
    )


@pytest.mark.parametrize(
    ("output", "commands"),
    [("OperatorPolicyArn", OPERATOR_COMMANDS), ("ReadOnlyOperatorPolicyArn", READ_ONLY_COMMANDS)],
)
def test_policy_allows_each_command_its_actions_on_the_stages_resources(
    template_json: dict[str, Any], output: str, commands: tuple[str, ...]
) -> None:
    statements = _statements(template_json, output)
    for command in commands:
        for kind, actions in (("stack", tuple(RESOLVE_ACTIONS)), *COMMAND_GRANTS[command]):
            for action in actions:
                for resource in _expected_resources(template_json, kind):
                    assert _allows(statements, action, resource), f"{command}: {action} on {resource}"


@pytest.mark.parametrize("output", ["OperatorPolicyArn", "ReadOnlyOperatorPolicyArn"])
def test_policy_grants_nothing_beyond_the_commands(template_json: dict[str, Any], output: str) -> None:
    commands = OPERATOR_COMMANDS if output == "OperatorPolicyArn" else READ_ONLY_COMMANDS
    needed = set(RESOLVE_ACTIONS).union(*(DECLARED[c][2] for c in commands))
    statements = _statements(template_json, output)
    granted = {a for s in statements for a in as_list(s["Action"])}
    assert granted == needed
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "*" not in as_list(statement["Resource"]), statement
        assert not any("*" in a for a in as_list(statement["Action"])), statement


def test_read_only_policy_changes_nothing(template_json: dict[str, Any]) -> None:
    granted = {
        a for s in _statements(template_json, "ReadOnlyOperatorPolicyArn") for a in as_list(s["Action"])
    }
    assert not granted & WRITES
    # every command left out of the read-only policy needs at least one write it lacks: approve cannot run.
    # Except `setup crm`, whose writes go to the CRMs with the credentials doctor must read (see operators.py).
    for command in set(OPERATOR_COMMANDS) - set(READ_ONLY_COMMANDS) - {"setup crm"}:
        assert DECLARED[command][2] - granted, command
    assert DECLARED["setup crm"][2] <= granted
    assert "states:SendTaskSuccess" in DECLARED["approve"][2]


def test_tables_the_operators_touch_exist() -> None:
    kinds = {kind for grants in COMMAND_GRANTS.values() for kind, _ in grants}
    assert {k.removeprefix("table:") for k in kinds if k.startswith("table:")} <= {t.id for t in TABLES}
