"""Create the stage's AWS resources on the embedded endpoint, from ``infra.topology``."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from infra.topology import (
    CLAIM_CHECK_BUCKET,
    LIVE_ALIAS,
    PARTNER_BUSES,
    ConsumerSpec,
    SecretSpec,
    TableSpec,
    bus_name,
)

REGION = "us-east-1"

#: Rule target retry policy (what the stack configures: EventBridge's maximums).
TARGET_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


LOCAL_NETSUITE_ACCOUNT = "1234567_SB1"
ACCOUNT_ID = "123456789012"  # moto's default account


def physical_name(stage: str, logical_id: str) -> str:
    return f"o2c-{stage}-{logical_id}"


def new_stripe_webhook_secret() -> str:
    """A signing secret shaped like Stripe's: ``whsec_`` + 32 base64 characters (24 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


@dataclass
class QueueResources:
    name: str
    url: str
    arn: str


@dataclass
class ConsumerResources:
    queue: QueueResources
    dlq: QueueResources
    rule_name: str
    rule_arn: str
    max_receive_count: int
    visibility_timeout_s: int


@dataclass
class Resources:
    stage: str
    region: str
    tables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # secret id -> ARN
    secret_names: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, Any] = field(default_factory=dict)
    event_bus_name: str = ""
    #: Partner bus id → the local bus standing in for it (see partner_bus_name).
    partner_buses: dict[str, str] = field(default_factory=dict)
    event_bus_arn: str = ""
    archive_name: str = ""
    #: The claim-check bucket (topology.CLAIM_CHECK_BUCKET): data of events too large for PutEvents.
    claim_check_bucket: str = ""
    consumers: dict[str, ConsumerResources] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "tables": dict(self.tables),
            "secrets": dict(self.secrets),
            "event_bus": {"name": self.event_bus_name, "arn": self.event_bus_arn},
            "partner_buses": dict(self.partner_buses),
            "archive": self.archive_name,
            "claim_check_bucket": self.claim_check_bucket,
            "queues": {
                cid: {"name": c.queue.name, "url": c.queue.url, "arn": c.queue.arn}
                for cid, c in self.consumers.items()
            },
            "dlqs": {
                cid: {"name": c.dlq.name, "url": c.dlq.url, "arn": c.dlq.arn}
                for cid, c in self.consumers.items()
            },
            "rules": {cid: {"name": c.rule_name, "arn": c.rule_arn} for cid, c in self.consumers.items()},
        }


def client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
    )


def _create_table(ddb: Any, stage: str, spec: TableSpec) -> str:
    name = physical_name(stage, spec.id)
    if name in _existing_tables(ddb):  # kept from the last run (localcloud.state)
        return name
    create_table(ddb, name, spec)
    return name


def create_table(ddb: Any, name: str, spec: TableSpec) -> None:
    """The table ``spec`` declares (keys, on-demand, TTL), as the stack creates it, under ``name``."""
    keys = [(spec.partition_key, "HASH")] + ([(spec.sort_key, "RANGE")] if spec.sort_key else [])
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
    )
    if spec.ttl_attribute:
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )


def _existing_tables(ddb: Any) -> set[str]:
    return {name for page in ddb.get_paginator("list_tables").paginate() for name in page["TableNames"]}


def _create_queue(sqs: Any, name: str, attributes: dict[str, str]) -> QueueResources:
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:  # kept from the last run with other attributes: take today's
        if exc.response["Error"]["Code"] not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueResources(name=name, url=url, arn=arn)


def new_standard_webhooks_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _secret_value(spec: SecretSpec) -> Any:
    """Local values for every secret, shaped as the stack's operators store them."""
    if spec.id == "StripeWebhookSecret":
        # Two active secrets, as while an endpoint secret is being rolled.
        return {"secrets": [new_stripe_webhook_secret(), new_stripe_webhook_secret()]}
    if spec.id == "HubSpotCredentials":
        return {"secrets": [secrets.token_hex(18)], "access_token": "pat-local-" + secrets.token_hex(16)}
    if spec.id == "SalesforceCredentials":
        return {"client_id": "3MVG9local" + secrets.token_hex(12), "client_secret": secrets.token_hex(24)}
    if spec.id == "ErpWebhookSecret":
        return {"secrets": [new_standard_webhooks_secret()]}
    if spec.id == "NetSuiteCredentials":
        return {
            "account_id": LOCAL_NETSUITE_ACCOUNT,
            "consumer_key": secrets.token_hex(32),
            "consumer_secret": secrets.token_hex(32),
            "token_id": secrets.token_hex(32),
            "token_secret": secrets.token_hex(32),
        }
    if spec.id == "AvaTaxCredentials":
        return {
            "account_id": "2000123456",
            "license_key": secrets.token_hex(16).upper(),
            "company_code": "O2CLOCAL",
        }
    if spec.id == "StripeApiKey":
        return {"api_key": "sk_test_local" + secrets.token_hex(20)}
    if spec.id == "ZendeskCredentials":
        return {
            "email": "o2c-hub@example.com",
            "api_token": secrets.token_urlsafe(30),
            # a webhook's signing secret as Zendesk shows it (GET /api/v2/webhooks/{id}/signing_secret)
            "signing_secrets": [base64.b64encode(secrets.token_bytes(32)).decode("ascii")],
        }
    return {"secret": secrets.token_urlsafe(32)}


def partner_bus_name(stage: str, partner_bus_id: str) -> str:
    """Locally a partner bus is a custom bus of its own: moto cannot address bus names that contain '/'
    (``aws.partner/...``) in rules or PutEvents. Events injected on it carry the partner's real source."""
    return physical_name(stage, partner_bus_id)


def _ensure_bus(events: Any, name: str) -> str:
    try:
        return str(events.create_event_bus(Name=name)["EventBusArn"])
    except events.exceptions.ResourceAlreadyExistsException:
        return str(events.describe_event_bus(Name=name)["Arn"])


def ensure_private_bucket(s3: Any, name: str, lifecycle_rules: list[dict[str, Any]]) -> None:
    """A bucket as the stack configures its buckets: public access blocked, encrypted, with its lifecycle
    rules (kept from the last run if it exists)."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle_rules})


def _ensure_claim_check_bucket(s3: Any, stage: str) -> str:
    """The bucket as the stack configures it: private, encrypted, objects expiring."""
    name = physical_name(stage, CLAIM_CHECK_BUCKET.id).lower()
    ensure_private_bucket(
        s3,
        name,
        [
            {
                "ID": "ExpireClaimChecks",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": CLAIM_CHECK_BUCKET.expiry_days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ],
    )
    return name


def provision(
    endpoint_url: str,
    stage: str,
    *,
    tables: Sequence[TableSpec],
    secret_specs: Sequence[SecretSpec],
    consumers: Sequence[ConsumerSpec],
) -> Resources:
    res = Resources(stage=stage, region=REGION)
    ddb = client("dynamodb", endpoint_url)
    sm = client("secretsmanager", endpoint_url)
    events = client("events", endpoint_url)
    sqs = client("sqs", endpoint_url)

    for table in tables:
        res.tables[table.id] = _create_table(ddb, stage, table)

    for spec in secret_specs:
        name = physical_name(stage, spec.id)
        try:  # kept from the last run: the sandboxes' records were made with these credentials
            kept = sm.get_secret_value(SecretId=name)
            arn, value = kept["ARN"], json.loads(kept["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            value = _secret_value(spec)
            arn = sm.create_secret(Name=name, Description=spec.description, SecretString=json.dumps(value))[
                "ARN"
            ]
        res.secrets[spec.id] = arn
        res.secret_names[spec.id] = name
        res.secret_values[spec.id] = value

    res.event_bus_name = bus_name(stage)
    res.event_bus_arn = _ensure_bus(events, res.event_bus_name)
    res.archive_name = f"{res.event_bus_name}-archive"
    # kept from the last run, with the events it archived
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_archive(
            ArchiveName=res.archive_name,
            EventSourceArn=res.event_bus_arn,
            Description="Every canonical event of the stage, for replay",
            RetentionDays=0,
        )

    res.claim_check_bucket = _ensure_claim_check_bucket(client("s3", endpoint_url), stage)

    for partner in PARTNER_BUSES:
        name = partner_bus_name(stage, partner.id)
        _ensure_bus(events, name)
        res.partner_buses[partner.id] = name
    bus_of = {"hub": res.event_bus_name, **res.partner_buses}

    for consumer in consumers:
        dlq = _create_queue(
            sqs,
            physical_name(stage, f"{consumer.id}Dlq"),
            {"MessageRetentionPeriod": str(14 * 24 * 3600), "SqsManagedSseEnabled": "true"},
        )
        q = _create_queue(
            sqs,
            physical_name(stage, f"{consumer.id}Queue"),
            {
                "VisibilityTimeout": str(consumer.visibility_timeout_s),
                "SqsManagedSseEnabled": "true",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": consumer.max_receive_count}
                ),
            },
        )
        rule_name = physical_name(stage, f"{consumer.id}Rule")
        rule_arn = events.put_rule(
            Name=rule_name,
            EventBusName=bus_of[consumer.bus],
            EventPattern=json.dumps(consumer.pattern),
            State="ENABLED",
            Description=f"Canonical events for {consumer.id}",
        )["RuleArn"]
        for queue in (q, dlq):
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AllowEventBridge",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue.arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(
            Rule=rule_name,
            EventBusName=bus_of[consumer.bus],
            Targets=[
                {
                    "Id": f"{consumer.id}Queue",
                    "Arn": q.arn,
                    "DeadLetterConfig": {"Arn": dlq.arn},
                    "RetryPolicy": TARGET_RETRY_POLICY,
                }
            ],
        )
        res.consumers[consumer.id] = ConsumerResources(
            queue=q,
            dlq=dlq,
            rule_name=rule_name,
            rule_arn=rule_arn,
            max_receive_count=consumer.max_receive_count,
            visibility_timeout_s=consumer.visibility_timeout_s,
        )
    return res


def state_machine_name(stage: str) -> str:
    """As the stack names it: after the stage."""
    return f"o2c-{stage}-quote-to-cash"


def provision_orchestration(
    endpoint_url: str, stage: str, *, tasks: Sequence[Any], event_bus_name: str
) -> tuple[str, dict[str, str]]:
    """The state machine, from the same definition the stack deploys, with its task functions registered
    in moto's Lambda (their invocations are dispatched to the hub's workers, see moto_patches).
    Returns (state machine ARN, task function id → moto function name)."""
    import io
    import zipfile

    from infra.statemachine import render

    iam = client("iam", endpoint_url)
    lam = client("lambda", endpoint_url)
    sfn = client("stepfunctions", endpoint_url)
    role = iam.create_role(
        RoleName=physical_name(stage, "QuoteToCashRole"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["states.amazonaws.com", "lambda.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as archive:
        archive.writestr("handler.py", "# dispatched to the local cloud's worker processes\n")
    names: dict[str, str] = {}
    substitutions = {"EventBusName": event_bus_name}
    for fn in tasks:
        name = physical_name(stage, fn.id)
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=fn.handler,
            Timeout=fn.timeout_s,
            MemorySize=fn.memory_mb,
            Code={"ZipFile": placeholder.getvalue()},
        )
        # As deployed: a published version behind the live alias, which the state machine and the CLI invoke.
        version = lam.publish_version(FunctionName=name)["Version"]
        alias_arn = lam.create_alias(FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version)["AliasArn"]
        names[fn.id] = name
        substitutions[fn.id] = alias_arn
    definition = render(substitutions)
    try:
        arn = sfn.create_state_machine(
            name=state_machine_name(stage), definition=definition, roleArn=role, type="STANDARD"
        )["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:  # kept from the last run, with its executions
        arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{state_machine_name(stage)}"
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
    return arn, names
