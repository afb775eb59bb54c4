"""The claim-check bucket (events too large for PutEvents keep their data there): private, encrypted, TLS only,
expiring; publishers may only put claim checks, consumers only get them, and no other function touches it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import CLAIM_CHECK_BUCKET, CLAIM_CHECK_KEY_PREFIX, FUNCTIONS, claim_check_access
from shared.claimcheck import BUCKET_ENV, key_for
from tests.infra.helpers import (
    as_list,
    claim_check_bucket,
    function_by_description,
    resources_of,
    role_statements,
)

pytestmark = pytest.mark.infra


def bucket(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return claim_check_bucket(template_json)


def test_the_bucket_is_private_encrypted_and_expires(template_json: dict[str, Any]) -> None:
    _, resource = bucket(template_json)
    props = resource["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    [expiry] = [r for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert (expiry["Status"], expiry["ExpirationInDays"]) == ("Enabled", CLAIM_CHECK_BUCKET.expiry_days)
    assert resource["DeletionPolicy"] == "Retain"


def test_the_bucket_refuses_requests_without_tls(template_json: dict[str, Any]) -> None:
    logical_id, _ = bucket(template_json)
    [policy] = [
        p["Properties"]
        for p in resources_of(template_json, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def claim_check_actions(template_json: dict[str, Any], spec: Any) -> set[str]:
    logical_id, _ = bucket(template_json)
    _, function = function_by_description(template_json, spec.description)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    actions: set[str] = set()
    for statement in role_statements(template_json, role):
        if logical_id in json.dumps(statement["Resource"]):
            assert statement["Effect"] == "Allow"
            for resource in as_list(statement["Resource"]):
                # only objects under the claim-check prefix, never the bucket itself or other keys
                assert resource == {"Fn::Join": ["", [{"Fn::GetAtt": [logical_id, "Arn"]}, "/events/*"]]}
            actions.update(as_list(statement["Action"]))
    return actions


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_publishers_put_consumers_get_and_no_one_else_touches_it(
    template_json: dict[str, Any], spec: Any
) -> None:
    expected = {
        None: set(),
        "write": {"s3:PutObject"},
        "read": {"s3:GetObject"},
        "read_write": {"s3:PutObject", "s3:GetObject"},
    }[claim_check_access(spec)]
    assert claim_check_actions(template_json, spec) == expected
    _, function = function_by_description(template_json, spec.description)
    env = function["Properties"]["Environment"]["Variables"]
    if expected:
        assert env[BUCKET_ENV] == {"Ref": bucket(template_json)[0]}
    else:
        assert BUCKET_ENV not in env


def test_every_publisher_and_every_sqs_consumer_has_access() -> None:
    from infra.topology import CONSUMERS

    assert CLAIM_CHECK_BUCKET.env_var == BUCKET_ENV
    assert key_for("e-1").startswith(CLAIM_CHECK_KEY_PREFIX)
    for spec in FUNCTIONS:
        if spec.publishes_events:
            assert claim_check_access(spec) in ("write", "read_write"), spec.id
    for consumer in CONSUMERS:
        assert claim_check_access(consumer.function) in ("read", "read_write"), consumer.id
