"""The embedded local cloud and the CDK stack come from one definition (infra/topology.py); this test
compares what the local cloud really provisioned with the synthesized template, so the two cannot drift:
functions (handler, memory, timeout, environment), routes, rules and their patterns and targets, queues
and DLQs, tables, and the SQS event source mappings (batch size, window, maximum concurrency)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.topology import LIVE_ALIAS, STAGE_SETTING_DEFAULTS
from localcloud import LocalCloud
from localcloud.workers import PLUMBING_KEYS, plumbing_environment
from tests.infra.conftest import STAGE, Synthesized


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(api_port=0, aws_port=0, state_dir=tmp_path_factory.mktemp("drift"), warm_workers=1) as c:
        yield c


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STAGE]


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def hub_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The hub's own functions (CDK's helper functions carry no POWERTOOLS_SERVICE_NAME)."""
    return {
        logical: props
        for logical, props in resources(template, "AWS::Lambda::Function").items()
        if "POWERTOOLS_SERVICE_NAME" in props.get("Environment", {}).get("Variables", {})
    }


def function_of(template: dict[str, Any], function_ref: Any) -> str:
    """The function a reference invokes: the function itself, or (as everything in the stack does) its live
    alias, by Ref or by a name built from the alias's ARN (``<name>:live``)."""
    [logical] = {
        ref
        for ref in re.findall(r'"(?:Ref|Fn::GetAtt)": \[?"([^"]+)"', json.dumps(function_ref))
        if template["Resources"].get(ref, {}).get("Type") in ("AWS::Lambda::Function", "AWS::Lambda::Alias")
    }
    resource = template["Resources"][logical]
    if resource["Type"] == "AWS::Lambda::Alias":
        assert resource["Properties"]["Name"] == LIVE_ALIAS
        return str(resource["Properties"]["FunctionName"]["Ref"])
    return logical


def service_of(template: dict[str, Any], function_ref: Any) -> str:
    logical = function_of(template, function_ref)
    return str(
        template["Resources"][logical]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    )


#: Values that legitimately differ between stages (the keys must still match).
PER_STAGE = {"STAGE", "POWERTOOLS_LOG_LEVEL", *STAGE_SETTING_DEFAULTS}


def test_functions_match(cloud: LocalCloud, template: dict[str, Any]) -> None:
    deployed = {}
    for props in hub_functions(template).values():
        env = props["Environment"]["Variables"]
        static = {k: v for k, v in env.items() if isinstance(v, str) and k not in PER_STAGE}
        deployed[env["POWERTOOLS_SERVICE_NAME"]] = (
            props["Handler"],
            props["MemorySize"],
            props["Timeout"],
            frozenset(env),
            static,
        )
    local = {}
    for pool in cloud.pools.values():
        fn = pool.fn
        plumbing = plumbing_environment(
            fn, stage=cloud.stage, aws_endpoint_url=cloud.aws_endpoint_url, region="us-east-1"
        )
        # the Lambda runtime's own variables (credentials of the role session included) are not the stack's
        env = {k: v for k, v in pool.env.items() if k not in plumbing and k not in PLUMBING_KEYS}
        static = {
            k: v for k, v in env.items() if k not in PER_STAGE and not k.endswith(("_NAME", "_ARN", "_URLS"))
        }
        static["POWERTOOLS_SERVICE_NAME"] = env["POWERTOOLS_SERVICE_NAME"]
        local[env["POWERTOOLS_SERVICE_NAME"]] = (
            fn.handler,
            fn.memory_mb,
            fn.timeout_s,
            frozenset(env),
            static,
        )
    assert set(local) == set(deployed)
    for name, (handler, memory, timeout, keys, static) in local.items():
        d_handler, d_memory, d_timeout, d_keys, d_static = deployed[name]
        assert (handler, memory, timeout) == (d_handler, d_memory, d_timeout), name
        assert keys == d_keys, f"{name}: local env {sorted(keys)} vs stack env {sorted(d_keys)}"
        assert static == {
            k: v
            for k, v in d_static.items()
            if not k.endswith(("_NAME", "_ARN")) or k == "POWERTOOLS_SERVICE_NAME"
        }, name


def api_paths(template: dict[str, Any]) -> dict[str, str]:
    paths: dict[str, str] = {}
    api_resources = resources(template, "AWS::ApiGateway::Resource")

    def path_of(logical: str) -> str:
        if logical not in paths:
            props = api_resources[logical]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical] = f"{prefix}/{props['PathPart']}"
        return paths[logical]

    return {logical: path_of(logical) for logical in api_resources}


def test_routes_match(cloud: LocalCloud, template: dict[str, Any]) -> None:
    paths = api_paths(template)
    deployed = set()
    for props in resources(template, "AWS::ApiGateway::Method").values():
        integration = props.get("Integration", {})
        if integration.get("Type") != "AWS_PROXY":
            continue
        deployed.add(
            (props["HttpMethod"], paths[props["ResourceId"]["Ref"]], service_of(template, integration["Uri"]))
        )
    assert cloud._api is not None
    local = {
        (route.method, route.resource, cloud.functions[route.function_id].service_name)
        for route in cloud._api.routes
    }
    assert local == deployed


def test_rules_targets_queues_and_dlqs_match(cloud: LocalCloud, template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    deployed = set()
    for props in resources(template, "AWS::Events::Rule").values():
        [target] = props["Targets"]
        if target["Arn"]["Fn::GetAtt"][0] not in queues:
            continue  # the warehouse rule targets the delivery stream (test_warehouse_feed_matches)
        queue = queues[target["Arn"]["Fn::GetAtt"][0]]
        dlq_logical = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert target["DeadLetterConfig"]["Arn"], "every rule target has a DLQ"
        assert target["RetryPolicy"], "every rule target has a retry policy"
        deployed.add(
            (
                json.dumps(props["EventPattern"], sort_keys=True),
                queue["VisibilityTimeout"],
                queue["RedrivePolicy"]["maxReceiveCount"],
                dlq_logical in queues,
            )
        )
    events, sqs = cloud.client("events"), cloud.client("sqs")
    buses = [cloud.resources["event_bus"]["name"], *cloud.resources["partner_buses"].values()]
    local = set()
    for bus, rule in [(b, r) for b in buses for r in events.list_rules(EventBusName=b)["Rules"]]:
        if rule["Name"].startswith("Events-Archive-") or rule["Name"] == cloud.warehouse.rule_name:
            continue  # the archive's own managed rule (AWS creates it too; it is not in the template)
        [target] = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["DeadLetterConfig"]["Arn"] and target["RetryPolicy"]
        [queue_url] = [q["url"] for q in cloud.resources["queues"].values() if q["arn"] == target["Arn"]]
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        dlq_arns = {q["arn"] for q in cloud.resources["dlqs"].values()}
        local.add(
            (
                json.dumps(json.loads(rule["EventPattern"]), sort_keys=True),
                int(attrs["VisibilityTimeout"]),
                int(redrive["maxReceiveCount"]),
                redrive["deadLetterTargetArn"] in dlq_arns,
            )
        )
    assert local == deployed


def test_tables_match(cloud: LocalCloud, template: dict[str, Any]) -> None:
    deployed = {
        (
            tuple((k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]),
            (props.get("TimeToLiveSpecification") or {}).get("AttributeName"),
        )
        for props in resources(template, "AWS::DynamoDB::Table").values()
    }
    ddb = cloud.client("dynamodb")
    local = set()
    for name in cloud.resources["tables"].values():
        table = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        local.add(
            (
                tuple((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]),
                ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
            )
        )
    assert local == deployed


def test_event_source_mappings_match(cloud: LocalCloud, template: dict[str, Any]) -> None:
    deployed = {
        (
            service_of(template, props["FunctionName"]),
            props["BatchSize"],
            props.get("MaximumBatchingWindowInSeconds", 0),
            tuple(props.get("FunctionResponseTypes", [])),
            props.get("ScalingConfig", {}).get("MaximumConcurrency"),
        )
        for props in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    local = {
        (
            poller.pool.fn.service_name,
            poller.spec.batch_size,
            int(poller.batching_window_s),
            ("ReportBatchItemFailures",),
            poller.max_concurrency,
        )
        for poller in cloud.pollers
    }
    assert local == deployed
    # every queue's consumer is capped (Lambda's floor is 2), as its budget says
    assert all(entry[-1] is not None and entry[-1] >= 2 for entry in deployed)


def test_the_local_cloud_and_the_stack_read_the_same_topology() -> None:
    # a guard against a second definition creeping in: neither side may hard-code a function module
    root = Path(__file__).resolve().parents[2]
    for folder in ("infra", "localcloud"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "topology.py":
                continue
            assert "functions/stripe_webhook" not in path.read_text(), path


def test_state_machine_matches(cloud: LocalCloud, template: dict[str, Any]) -> None:
    """The same definition runs in moto's interpreter as the stack deploys (only the ARNs differ), and both
    invoke the task functions' live aliases."""
    [props] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    described = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=cloud.state_machine_arn)
    local_definition = described["definition"]
    deployed_definition = props["DefinitionString"]
    for key, ref in props["DefinitionSubstitutions"].items():
        placeholder = "${" + key + "}"
        assert placeholder in deployed_definition
        local_value = (
            cloud.res.event_bus_name
            if key == "EventBusName"
            else f"arn:aws:lambda:us-east-1:123456789012:function:o2c-local-{key}:{LIVE_ALIAS}"
        )
        deployed_definition = deployed_definition.replace(placeholder, local_value)
        if key != "EventBusName":
            assert template["Resources"][ref["Ref"]]["Type"] == "AWS::Lambda::Alias", key
            alias = cloud.client("lambda").get_alias(FunctionName=f"o2c-local-{key}", Name=LIVE_ALIAS)
            assert alias["FunctionVersion"].isdigit(), "the local alias points at a published version"
    assert json.loads(local_definition) == json.loads(deployed_definition)
    assert (
        described["name"] == "o2c-local-quote-to-cash"
        and props["StateMachineName"] == "o2c-test-quote-to-cash"
    )


def test_claim_check_bucket_matches(cloud: LocalCloud, template: dict[str, Any]) -> None:
    import boto3

    [deployed] = [v for k, v in resources(template, "AWS::S3::Bucket").items() if k.startswith("ClaimChecks")]
    assert cloud.res is not None
    s3 = boto3.client(
        "s3",
        endpoint_url=cloud.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = cloud.res.claim_check_bucket
    local_block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert local_block == deployed["PublicAccessBlockConfiguration"]
    [local_expiry] = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    [deployed_expiry] = [r for r in deployed["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert local_expiry["Expiration"]["Days"] == deployed_expiry["ExpirationInDays"]
    [local_sse] = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    [deployed_sse] = deployed["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert (
        local_sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        == deployed_sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    )


def test_warehouse_feed_matches(cloud: LocalCloud, template: dict[str, Any]) -> None:
    """The warehouse rule takes the same events, and its bucket is configured the same; locally a queue (drained
    by ``localcloud.warehouse``) stands in for the delivery stream, as moto's rules target only queues."""
    [stream_id] = resources(template, "AWS::KinesisFirehose::DeliveryStream")
    [deployed_rule] = [
        props
        for props in resources(template, "AWS::Events::Rule").values()
        if props["Targets"][0]["Arn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    ]
    events = cloud.client("events")
    bus = cloud.resources["event_bus"]["name"]
    local_rule = events.describe_rule(Name=cloud.warehouse.rule_name, EventBusName=bus)
    assert json.loads(local_rule["EventPattern"]) == deployed_rule["EventPattern"]
    [target] = events.list_targets_by_rule(Rule=cloud.warehouse.rule_name, EventBusName=bus)["Targets"]
    assert target["Arn"] == cloud.warehouse.queue_arn and target["DeadLetterConfig"]["Arn"]
    [deployed] = [v for k, v in resources(template, "AWS::S3::Bucket").items() if k.startswith("Warehouse")]
    s3 = cloud.client("s3")
    name = cloud.warehouse.bucket
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert block == deployed["PublicAccessBlockConfiguration"]
    local_rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    deployed_rules = {r["Id"]: r for r in deployed["LifecycleConfiguration"]["Rules"]}
    for rule_id in ("EventFiles", "DeliveryErrors"):
        assert local_rules[rule_id]["Expiration"]["Days"] == deployed_rules[rule_id]["ExpirationInDays"]
        assert local_rules[rule_id]["Filter"]["Prefix"] == deployed_rules[rule_id]["Prefix"]
