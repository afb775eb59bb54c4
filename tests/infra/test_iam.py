"""Least privilege: each role holds what its FunctionSpec asks for, nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import LINEAGE_RECORDER, STRIPE_WEBHOOK
from tests.infra.helpers import (
    as_list,
    function_by_description,
    hub_bus_id,
    output_ref,
    resources_of,
    role_statements,
)

pytestmark = pytest.mark.infra


def _statements_of(template_json: dict[str, Any], description: str) -> list[dict[str, Any]]:
    _, function = function_by_description(template_json, description)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role_statements(template_json, role_id)


def test_webhook_puts_events_only_on_the_bus(template_json: dict[str, Any]) -> None:
    bus_id = hub_bus_id(template_json)
    statements = _statements_of(template_json, STRIPE_WEBHOOK.description)

    put_events = [s for s in statements if "events:PutEvents" in as_list(s["Action"])]
    assert put_events, "the webhook cannot publish"
    for statement in put_events:
        assert as_list(statement["Action"]) == ["events:PutEvents"]
        assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [bus_id, "Arn"]}]


def test_lineage_recorder_cannot_publish_nor_touch_idempotency(template_json: dict[str, Any]) -> None:
    idempotency_id = output_ref(template_json, "IdempotencyTableName")
    statements = _statements_of(template_json, LINEAGE_RECORDER.description)

    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not any(a.startswith("events:") for a in actions)
    assert not any(a.startswith("secretsmanager:") for a in actions)
    assert idempotency_id not in json.dumps(statements)
    assert output_ref(template_json, "LineageTableName") in json.dumps(statements)


def test_no_policy_allows_every_action(template_json: dict[str, Any]) -> None:
    documents = [
        p["Properties"]["PolicyDocument"] for p in resources_of(template_json, "AWS::IAM::Policy").values()
    ]
    for role in resources_of(template_json, "AWS::IAM::Role").values():
        documents.extend(p["PolicyDocument"] for p in role["Properties"].get("Policies", []))
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                assert not any(a == "*" or a.endswith(":*") for a in as_list(statement["Action"])), statement


#: Actions AWS does not scope to a resource: X-Ray tracing, and the log delivery Step Functions uses for
#: its execution logs (documented as requiring Resource "*").
UNSCOPABLE = (
    "xray:",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)


def test_only_unscopable_actions_are_granted_on_every_resource(template_json: dict[str, Any]) -> None:
    for policy in resources_of(template_json, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "*" in as_list(statement["Resource"]):
                assert all(a.startswith(UNSCOPABLE) for a in as_list(statement["Action"])), statement
