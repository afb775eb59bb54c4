"""The bus and the failure paths of every consumer: rule → queue (+DLQ) → function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import CONSUMERS, PARTNER_BUSES_BY_ID, ConsumerSpec, bus_name
from tests.infra.conftest import TEST_STAGE_CONTEXT
from tests.infra.helpers import hub_bus_id, output_ref, partner_bus_ids, resources_of

pytestmark = pytest.mark.infra


def test_bus_is_named_after_the_stage_and_archived(template_json: dict[str, Any]) -> None:
    buses = resources_of(template_json, "AWS::Events::EventBus")
    bus_id = hub_bus_id(template_json)
    assert buses[bus_id]["Properties"]["Name"] == "o2c-test" == bus_name("test")

    (archive,) = resources_of(template_json, "AWS::Events::Archive").values()
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert archive["Properties"]["RetentionDays"] > 0
    assert template_json["Outputs"]["EventBusName"]["Value"] == {"Ref": bus_id}


def test_the_archive_keeps_every_event_of_the_bus_for_o2c_replay(template_json: dict[str, Any]) -> None:
    bus_id = hub_bus_id(template_json)
    ((archive_id, archive),) = resources_of(template_json, "AWS::Events::Archive").items()
    # every event on the bus carries the stack's account: nothing published is left out of the archive
    assert archive["Properties"]["EventPattern"] == {"account": [{"Ref": "AWS::AccountId"}]}
    outputs = template_json["Outputs"]
    assert outputs["EventArchiveArn"]["Value"] == {"Fn::GetAtt": [archive_id, "Arn"]}
    assert outputs["EventBusArn"]["Value"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    # `o2c replay --consumer C` replays to C's rule only: each consumer of the hub's bus names its rule
    for spec in CONSUMERS:
        if spec.bus != "hub":
            continue
        _, _, rule = _route(template_json, spec)
        [rule_id] = [k for k, v in resources_of(template_json, "AWS::Events::Rule").items() if v is rule]
        assert outputs[f"{spec.id}RuleArn"]["Value"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def _route(template_json: dict[str, Any], spec: ConsumerSpec) -> tuple[str, str, dict[str, Any]]:
    queue_id = output_ref(template_json, f"{spec.id}QueueUrl")
    dlq_id = output_ref(template_json, f"{spec.id}DlqUrl")
    rules = [
        rule
        for rule in resources_of(template_json, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for t in rule["Properties"]["Targets"])
    ]
    assert len(rules) == 1, f"expected one rule targeting the {spec.id} queue"
    return queue_id, dlq_id, rules[0]


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_rule_matches_the_consumer_pattern_and_has_a_failure_path(
    template_json: dict[str, Any], spec: ConsumerSpec
) -> None:
    _, dlq_id, rule = _route(template_json, spec)
    if spec.bus == "hub":
        bus_id = hub_bus_id(template_json)
    else:
        config_key = PARTNER_BUSES_BY_ID[spec.bus].config_key
        bus_id = partner_bus_ids(template_json)[TEST_STAGE_CONTEXT[config_key]]

    assert rule["Properties"]["EventPattern"] == spec.pattern
    assert rule["Properties"]["EventBusName"] == {"Ref": bus_id}
    (target,) = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_queue_redrives_to_its_dlq_and_is_encrypted(
    template_json: dict[str, Any], spec: ConsumerSpec
) -> None:
    queue_id, dlq_id, _ = _route(template_json, spec)
    queue = template_json["Resources"][queue_id]["Properties"]
    dlq = template_json["Resources"][dlq_id]["Properties"]

    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert queue["VisibilityTimeout"] == spec.visibility_timeout_s
    assert spec.visibility_timeout_s >= 6 * spec.function.timeout_s + spec.max_batching_window_s
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_queues_deny_requests_without_tls(template_json: dict[str, Any], spec: ConsumerSpec) -> None:
    queue_id, dlq_id, _ = _route(template_json, spec)
    for logical_id in (queue_id, dlq_id):
        policies = [
            p
            for p in resources_of(template_json, "AWS::SQS::QueuePolicy").values()
            if {"Ref": logical_id} in p["Properties"]["Queues"]
        ]
        statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), f"{logical_id} accepts plain HTTP"


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_consumer_reports_partial_batch_failures(template_json: dict[str, Any], spec: ConsumerSpec) -> None:
    queue_id, _, _ = _route(template_json, spec)
    mappings = [
        m["Properties"]
        for m in resources_of(template_json, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    (mapping,) = mappings
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == spec.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == spec.max_batching_window_s
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": spec.max_concurrency}


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_dlq_depth_is_alarmed(template_json: dict[str, Any], spec: ConsumerSpec) -> None:
    _, dlq_id, _ = _route(template_json, spec)
    alarms = [
        a["Properties"]
        for a in resources_of(template_json, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
        in a["Properties"]["Dimensions"]
    ]
    (alarm,) = alarms
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"], "the DLQ alarm notifies no one"


def test_partner_buses_are_wired_only_where_the_stage_configures_them(synthesized: Any) -> None:
    from tests.infra.conftest import OTHER_STAGE, STAGE

    wired = synthesized.templates[STAGE]
    assert set(partner_bus_ids(wired)) == {
        TEST_STAGE_CONTEXT["stripePartnerEventSource"],
        TEST_STAGE_CONTEXT["salesforcePartnerEventSource"],
    }
    unwired = synthesized.templates[OTHER_STAGE]
    assert partner_bus_ids(unwired) == {}
    assert not [k for k in unwired["Outputs"] if "Partner" in k]
    partner_rules = [
        r
        for r in resources_of(unwired, "AWS::Events::Rule").values()
        if "prefix" in str(r["Properties"]["EventPattern"])
    ]
    assert partner_rules == []


def test_a_fact_waiting_over_a_day_is_alarmed(template_json: dict[str, Any]) -> None:
    from infra.topology import FACT_RELEASER, METRICS_NAMESPACE

    [(alarm_id, alarm)] = [
        (logical_id, a["Properties"])
        for logical_id, a in resources_of(template_json, "AWS::CloudWatch::Alarm").items()
        if a["Properties"].get("MetricName") == "OldestWaitingFactAge"
    ]
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": FACT_RELEASER.service_name}]
    assert alarm["Threshold"] == 86_400
    # It pages through the "oldest pending fact < 1 day" SLO's composite alarm, not on its own.
    paging = [
        c["Properties"]
        for c in resources_of(template_json, "AWS::CloudWatch::CompositeAlarm").values()
        if f'"{alarm_id}"' in json.dumps(c["Properties"]["AlarmRule"])
    ]
    assert alarm.get("AlarmActions") or any(c["AlarmActions"] for c in paging)


def test_a_crm_write_back_the_crm_refused_is_alarmed(template_json: dict[str, Any]) -> None:
    from infra.topology import CRM_TASKS, METRICS_NAMESPACE

    [alarm] = [
        a["Properties"]
        for a in resources_of(template_json, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "CrmWriteBackRefused"
    ]
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": CRM_TASKS.service_name}]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"]
