"""DynamoDB tables and secrets follow topology; nothing carries a physical name but the bus."""

from __future__ import annotations

from typing import Any

import pytest

from infra.topology import SECRETS, TABLES
from tests.infra.helpers import output_ref, resources_of

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.id)
def test_table_matches_topology(template_json: dict[str, Any], spec: Any) -> None:
    # Given the table the stack exports for this spec
    table = template_json["Resources"][output_ref(template_json, f"{spec.id}Name")]
    props = table["Properties"]

    # Then keys, billing, recovery, TTL and retention follow the spec
    expected_keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        expected_keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    assert props["KeySchema"] == expected_keys
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props
    assert table["DeletionPolicy"] == "Retain"


def test_idempotency_table_expires_records(template_json: dict[str, Any]) -> None:
    table = template_json["Resources"][output_ref(template_json, "IdempotencyTableName")]
    assert table["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "expiration"


def test_secrets_exist_without_names(template_json: dict[str, Any]) -> None:
    secrets = resources_of(template_json, "AWS::SecretsManager::Secret")
    assert len(secrets) == len(SECRETS)
    for secret in secrets.values():
        assert "Name" not in secret["Properties"]


@pytest.mark.parametrize(
    ("resource_type", "name_property"),
    [
        ("AWS::DynamoDB::Table", "TableName"),
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::Lambda::Function", "FunctionName"),
        ("AWS::SecretsManager::Secret", "Name"),
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::Logs::LogGroup", "LogGroupName"),
        ("AWS::SNS::Topic", "TopicName"),
    ],
)
def test_no_physical_names(template_json: dict[str, Any], resource_type: str, name_property: str) -> None:
    for logical_id, resource in resources_of(template_json, resource_type).items():
        name = resource.get("Properties", {}).get(name_property)
        if resource_type == "AWS::Logs::LogGroup" and str(name).startswith("/aws/vendedlogs/"):
            # Vended logs (Step Functions) go under the prefix AWS recommends, which needs a name: the
            # stage's, as the state machine's own name is.
            assert "o2c-test-" in str(name), f"{logical_id}: {name} does not carry the stage"
            continue
        assert name is None, f"{logical_id} has a {name_property}"
