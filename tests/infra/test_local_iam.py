"""The policies the local cloud enforces (``infra.iam``) are the synthesized template's.

For every function, ``infra.iam.function_statements`` — what each local worker acts with — allows exactly the
(action, resource) pairs that the function's role allows in the template, with the template's resources named
as CloudFormation names them. Likewise the operators' policies (``OperatorPolicy`` and
``ReadOnlyOperatorPolicy``), which the CLI acts with locally under ``--as operator|readonly``.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.iam import (
    COMMAND_GRANTS,
    OPERATOR_COMMANDS,
    READ_ONLY_COMMANDS,
    RESOLVE_GRANTS,
    allowed_pairs,
    function_statements,
    operator_statements,
    state_machine_statements,
)
from infra.topology import FUNCTIONS, LIVE_ALIAS, SECRETS_BY_ID, FunctionSpec
from tests.infra.helpers import (
    claim_check_bucket,
    function_by_description,
    hub_bus_id,
    output_ref,
    resources_of,
    role_statements,
)


class TemplateArns:
    """infra.iam.Arns over the template: each resource as the template refers to it."""

    def __init__(self, template_json: dict[str, Any], stage: str) -> None:
        self.t = template_json
        self.stage = stage

    def _get_arn(self, logical_id: str) -> Any:
        return {"Fn::GetAtt": [logical_id, "Arn"]}

    def log_group(self, function_id: str) -> Any:
        spec = next(s for s in FUNCTIONS if s.id == function_id)
        _, fn = function_by_description(self.t, spec.description)
        return self._get_arn(fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"])

    def table(self, table_id: str) -> Any:
        return self._get_arn(output_ref(self.t, f"{table_id}Name"))

    def secret(self, secret_id: str) -> Any:
        description = SECRETS_BY_ID[secret_id].description
        (logical_id,) = [
            k
            for k, v in resources_of(self.t, "AWS::SecretsManager::Secret").items()
            if v["Properties"].get("Description") == description
        ]
        return {"Ref": logical_id}

    def bus(self) -> Any:
        return self._get_arn(hub_bus_id(self.t))

    def claim_check_objects(self, prefix: str) -> Any:
        bucket, _ = claim_check_bucket(self.t)
        return {"Fn::Join": ["", [self._get_arn(bucket), f"/{prefix}"]]}

    def queue(self, consumer_id: str) -> Any | None:
        output = f"{consumer_id}QueueUrl"
        return self._get_arn(output_ref(self.t, output)) if output in self.t["Outputs"] else None

    def function(self, function_id: str) -> Any:
        spec = next(s for s in FUNCTIONS if s.id == function_id)
        logical_id, _ = function_by_description(self.t, spec.description)
        return self._get_arn(logical_id)

    def live_alias(self, function_id: str) -> Any:
        function_id_logical = self.function(function_id)["Fn::GetAtt"][0]
        (alias,) = [
            k
            for k, v in resources_of(self.t, "AWS::Lambda::Alias").items()
            if v["Properties"]["FunctionName"] == {"Ref": function_id_logical}
            and v["Properties"]["Name"] == LIVE_ALIAS
        ]
        return {"Ref": alias}

    def state_machine_ref(self) -> Any:
        (logical_id,) = resources_of(self.t, "AWS::StepFunctions::StateMachine")
        return {"Ref": logical_id}

    def executions(self) -> Any:
        return self._states_arn(f":execution:o2c-{self.stage}-quote-to-cash:*")

    def dead_letter_queues(self) -> list[Any]:
        consumers = [output_ref(self.t, k) for k in self.t["Outputs"] if k.endswith("DlqUrl")]
        schedules = [k for k in resources_of(self.t, "AWS::SQS::Queue") if "ScheduleDlq" in k]
        return [self._get_arn(q) for q in consumers + schedules]

    def state_machine(self) -> Any:
        return self._states_arn(f":stateMachine:o2c-{self.stage}-quote-to-cash")

    @staticmethod
    def _states_arn(suffix: str) -> Any:
        """A Step Functions ARN in the template's partition, region and account, as CDK writes it."""
        return {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":states:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    suffix,
                ],
            ]
        }


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_each_functions_local_policy_is_its_roles_policy_in_the_template(
    template_json: dict[str, Any], spec: FunctionSpec
) -> None:
    from tests.infra.conftest import STAGE

    _, function = function_by_description(template_json, spec.description)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = template_json["Resources"][role_id]["Properties"]
    assert not role.get("ManagedPolicyArns"), "a managed policy would grant what infra.iam does not know"
    template_pairs = allowed_pairs(role_statements(template_json, role_id))
    local_pairs = allowed_pairs(function_statements(spec, TemplateArns(template_json, STAGE)))
    assert local_pairs == template_pairs, (
        f"only local: {sorted(local_pairs - template_pairs)}; only in the template: "
        f"{sorted(template_pairs - local_pairs)}"
    )


def test_the_local_state_machines_policy_is_its_roles_policy_in_the_template(
    template_json: dict[str, Any],
) -> None:
    from tests.infra.conftest import STAGE

    (machine,) = resources_of(template_json, "AWS::StepFunctions::StateMachine").values()
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    assert not template_json["Resources"][role_id]["Properties"].get("ManagedPolicyArns")
    template_pairs = allowed_pairs(role_statements(template_json, role_id))
    local_pairs = allowed_pairs(state_machine_statements(TemplateArns(template_json, STAGE)))
    assert local_pairs == template_pairs


def test_a_missing_grant_would_be_seen(template_json: dict[str, Any]) -> None:
    """The comparison is not vacuous: one action less locally is a difference."""
    from tests.infra.conftest import STAGE

    spec = next(s for s in FUNCTIONS if s.id == "WaitRegistrar")
    local = function_statements(spec, TemplateArns(template_json, STAGE))
    for statement in local:
        statement["Action"] = [a for a in statement["Action"] if a != "states:SendTaskSuccess"]
    _, function = function_by_description(template_json, spec.description)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    missing = allowed_pairs(role_statements(template_json, role_id)) - allowed_pairs(local)
    assert [action for action, _ in missing] == ["states:SendTaskSuccess"]


@pytest.mark.parametrize(
    ("output", "commands"),
    [("OperatorPolicyArn", OPERATOR_COMMANDS), ("ReadOnlyOperatorPolicyArn", READ_ONLY_COMMANDS)],
)
def test_the_local_operator_policies_grant_the_templates_actions(
    template_json: dict[str, Any], output: str, commands: tuple[str, ...]
) -> None:
    """The operators' statements come from infra.iam as the construct's do: the same actions."""
    policy = template_json["Resources"][output_ref(template_json, output)]["Properties"]
    template_actions = {a for a, _ in allowed_pairs(policy["PolicyDocument"]["Statement"])}
    kinds = {kind for grants in (RESOLVE_GRANTS, *COMMAND_GRANTS.values()) for kind, _ in grants}
    local = operator_statements(commands, {kind: [kind] for kind in kinds})
    assert {a for a, _ in allowed_pairs(local)} == template_actions
