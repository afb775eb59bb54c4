"""The local cloud's IAM authorizer (``localcloud.iam``) on a bare moto server: a session of a role is allowed
exactly what its policy allows on the resource each request names, and refused in the service's own shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import iam as local_iam

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    local_iam.enable()
    try:
        yield f"http://{host}:{port}"
    finally:
        local_iam.disable()
        server.stop()


def root(endpoint: str, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def world(endpoint: str) -> dict[str, Any]:
    """Two tables, a bucket, a secret, a bus and a queue; a role allowed some of each; a session of it."""
    tag = uuid.uuid4().hex[:8]
    ddb = root(endpoint, "dynamodb")
    tables = {name: f"{name}-{tag}" for name in ("mine", "other")}
    for table in tables.values():
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
    bucket = f"claims-{tag}"
    root(endpoint, "s3").create_bucket(Bucket=bucket)
    secret = root(endpoint, "secretsmanager").create_secret(Name=f"creds-{tag}", SecretString="{}")["ARN"]
    bus = root(endpoint, "events").create_event_bus(Name=f"bus-{tag}")["EventBusArn"]
    queue = root(endpoint, "sqs").create_queue(QueueName=f"queue-{tag}")["QueueUrl"]
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{tables['mine']}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": [table_arn]},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/events/*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret},
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus},
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": "*"},
            {"Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": "*"},
        ],
    }
    iam, sts = root(endpoint, "iam"), root(endpoint, "sts")
    role = f"fn-{tag}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(local_iam._LAMBDA_TRUST))[
        "Role"
    ]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(policy))
    keys = local_iam.assume(sts, arn, f"session-{tag}")

    def client(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=keys["AWS_SESSION_TOKEN"],
        )

    return {
        "client": client,
        "tables": tables,
        "bucket": bucket,
        "secret": secret,
        "bus": bus,
        "queue": queue,
        "principal": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/session-{tag}",
    }


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call()
    return dict(error.value.response)


def test_dynamodb_is_allowed_on_the_granted_table_only(world: dict[str, Any]) -> None:
    ddb = world["client"]("dynamodb")
    mine, other = world["tables"]["mine"], world["tables"]["other"]
    ddb.put_item(TableName=mine, Item={"pk": {"S": "1"}})
    # a transaction is authorized per item, as the item's own action
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": mine, "Item": {"pk": {"S": "2"}}}}])

    response = refused(lambda: ddb.put_item(TableName=other, Item={"pk": {"S": "1"}}))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": f"User: {world['principal']} is not authorized to perform: dynamodb:PutItem on resource: "
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{other} because no identity-based policy allows the "
        "dynamodb:PutItem action",
    }
    update = refused(
        lambda: ddb.update_item(
            TableName=mine,
            Key={"pk": {"S": "1"}},
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}},
        )
    )
    assert "dynamodb:UpdateItem" in update["Error"]["Message"]
    assert refused(lambda: ddb.scan(TableName=mine))["Error"]["Code"] == "AccessDeniedException"


def test_s3_is_allowed_under_the_granted_prefix_only(world: dict[str, Any]) -> None:
    s3 = world["client"]("s3")
    s3.put_object(Bucket=world["bucket"], Key="events/a", Body=b"{}")
    for call in (
        lambda: s3.put_object(Bucket=world["bucket"], Key="elsewhere/a", Body=b"{}"),
        lambda: s3.get_object(Bucket=world["bucket"], Key="events/a"),
    ):
        response = refused(call)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert response["Error"]["Code"] == "AccessDenied"


def test_secrets_events_queues_and_functions_by_their_arns(world: dict[str, Any]) -> None:
    secrets = world["client"]("secretsmanager")
    secrets.get_secret_value(SecretId=world["secret"].rsplit(":", 1)[1].rsplit("-", 1)[0])  # by name
    assert (
        "secretsmanager:DescribeSecret"
        in refused(lambda: secrets.describe_secret(SecretId=world["secret"]))["Error"]["Message"]
    )

    events = world["client"]("events")
    entry = {"Source": "o2c.test", "DetailType": "T", "Detail": "{}"}
    events.put_events(Entries=[{**entry, "EventBusName": world["bus"].rsplit("/", 1)[1]}])
    default_bus = refused(lambda: events.put_events(Entries=[entry]))["Error"]["Message"]
    assert f"events:PutEvents on resource: arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default" in default_bus

    sqs = world["client"]("sqs")
    sqs.receive_message(QueueUrl=world["queue"])
    denied = refused(lambda: sqs.delete_message(QueueUrl=world["queue"], ReceiptHandle="x"))["Error"][
        "Message"
    ]
    assert denied.endswith("with an explicit deny in an identity-based policy")  # an explicit deny wins
    # a batch call is authorized as its single action
    assert (
        "sqs:DeleteMessage"
        in refused(
            lambda: sqs.delete_message_batch(
                QueueUrl=world["queue"], Entries=[{"Id": "1", "ReceiptHandle": "x"}]
            )
        )["Error"]["Message"]
    )

    lam = world["client"]("lambda")
    response = refused(lambda: lam.invoke(FunctionName="o2c-test-Reconciler", Payload=b"{}"))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert (
        f"lambda:InvokeFunction on resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:o2c-test-Reconciler"
        in (response["Error"]["Message"])
    )


def test_keys_of_no_iam_principal_act_as_the_accounts_root(world: dict[str, Any], endpoint: str) -> None:
    root(endpoint, "dynamodb").scan(TableName=world["tables"]["other"])


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("arn:aws:s3:::b/events/*", "arn:aws:s3:::b/events/x/y", True),
        ("arn:aws:s3:::b/events/*", "arn:aws:s3:::b/eventsX", False),
        ("arn:aws:sqs:us-east-1:1:q?", "arn:aws:sqs:us-east-1:1:q1", True),
        ("arn:aws:sqs:us-east-1:1:q.", "arn:aws:sqs:us-east-1:1:q1", False),  # a dot is a dot, not a wildcard
    ],
)
def test_resource_wildcards_are_iams(pattern: str, value: str, matches: bool) -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": pattern}]}
    assert (local_iam.evaluate([document], "s3:GetObject", value) == "allow") is matches


def test_actions_match_whatever_their_case_and_resources_only_in_theirs() -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "dynamodb:getitem", "Resource": "arn:aws:x:::T"}]}
    assert local_iam.evaluate([document], "dynamodb:GetItem", "arn:aws:x:::T") == "allow"
    assert local_iam.evaluate([document], "dynamodb:GetItem", "arn:aws:x:::t") == "implicit_deny"
