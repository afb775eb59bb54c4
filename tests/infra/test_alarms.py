"""Alarms reach people: the alarm topic's subscribers come from the stage settings, the topic is an output,
the scheduler's dead-letter queues are alarmed, and scheduled runs are retried on purpose."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import StageConfig
from infra.topology import FUNCTIONS
from tests.infra.conftest import OTHER_STAGE, STAGE, TEST_STAGE_CONTEXT, Synthesized
from tests.infra.helpers import function_by_description, live_alias_of, output_ref, resources_of

pytestmark = pytest.mark.infra

SCHEDULED = [spec for spec in FUNCTIONS if spec.schedule]


def _alarm_topic_id(template_json: dict[str, Any]) -> str:
    return output_ref(template_json, "AlarmTopicArn")


def _in_a_composite(template_json: dict[str, Any], alarm_id: str) -> list[str]:
    """The composite alarms whose rule names this alarm."""
    return [
        composite_id
        for composite_id, composite in resources_of(template_json, "AWS::CloudWatch::CompositeAlarm").items()
        if f'"{alarm_id}"' in json.dumps(composite["Properties"]["AlarmRule"])
    ]


def test_the_alarm_topic_is_an_output_and_every_alarm_publishes_to_it(template_json: dict[str, Any]) -> None:
    """Every alarm pages through the topic: itself, or (an SLO's burn-rate alarms) through the composite alarm
    it is part of, so that one incident pages once."""
    topic_id = _alarm_topic_id(template_json)
    assert template_json["Resources"][topic_id]["Type"] == "AWS::SNS::Topic"
    alarms = resources_of(template_json, "AWS::CloudWatch::Alarm")
    composites = resources_of(template_json, "AWS::CloudWatch::CompositeAlarm")
    assert alarms and composites
    for composite_id, composite in composites.items():
        assert composite["Properties"]["AlarmActions"] == [{"Ref": topic_id}], composite_id
    for alarm_id, alarm in alarms.items():
        if "AlarmActions" in alarm["Properties"]:
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}], alarm_id
        else:
            assert _in_a_composite(template_json, alarm_id), (
                f"{alarm_id} has no action and is in no composite"
            )


def test_alarm_emails_of_the_stage_are_subscribed(template_json: dict[str, Any]) -> None:
    topic_id = _alarm_topic_id(template_json)
    emails = {
        s["Properties"]["Endpoint"]
        for s in resources_of(template_json, "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == {"Ref": topic_id}
    }
    assert emails == set(TEST_STAGE_CONTEXT["alarmEmails"])


def test_slack_channel_through_chatbot_when_configured(synthesized: Synthesized) -> None:
    template_json = synthesized.templates[STAGE]
    (channel,) = resources_of(template_json, "AWS::Chatbot::SlackChannelConfiguration").values()
    props = channel["Properties"]
    assert props["SlackWorkspaceId"] == TEST_STAGE_CONTEXT["chatbotSlackWorkspaceId"]
    assert props["SlackChannelId"] == TEST_STAGE_CONTEXT["chatbotSlackChannelId"]
    assert props["SnsTopicArns"] == [{"Ref": _alarm_topic_id(template_json)}]
    # Chatbot only relays alarms: not the AdministratorAccess guardrail it defaults to.
    assert "AdministratorAccess" not in json.dumps(props.get("GuardrailPolicies", "AdministratorAccess"))

    # A stage without the settings gets no channel and no subscriber (but still the topic and its output).
    other = synthesized.templates[OTHER_STAGE]
    assert resources_of(other, "AWS::Chatbot::SlackChannelConfiguration") == {}
    assert resources_of(other, "AWS::SNS::Subscription") == {}
    assert "AlarmTopicArn" in other["Outputs"]


def _schedule_of(template_json: dict[str, Any], function_id: str) -> dict[str, Any]:
    (schedule,) = [
        s["Properties"]
        for s in resources_of(template_json, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Ref": live_alias_of(template_json, function_id)}
    ]
    return schedule


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda s: s.id)
def test_schedule_dlq_is_alarmed(template_json: dict[str, Any], spec: Any) -> None:
    function_id, _ = function_by_description(template_json, spec.description)
    dlq_arn = _schedule_of(template_json, function_id)["Target"]["DeadLetterConfig"]["Arn"]
    dlq_id = dlq_arn["Fn::GetAtt"][0]
    watching = [
        a["Properties"]
        for a in resources_of(template_json, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
        in a["Properties"].get("Dimensions", [])
    ]
    (alarm,) = watching
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": _alarm_topic_id(template_json)}]


@pytest.mark.parametrize("spec", SCHEDULED, ids=lambda s: s.id)
def test_scheduled_runs_are_retried_on_purpose(template_json: dict[str, Any], spec: Any) -> None:
    function_id, _ = function_by_description(template_json, spec.description)
    retry = _schedule_of(template_json, function_id)["Target"]["RetryPolicy"]
    # Scheduler retries only delivery (a refused Invoke ran nothing), briefly.
    assert 0 <= retry["MaximumRetryAttempts"] <= 3
    assert retry["MaximumEventAgeInSeconds"] <= 3600

    # Lambda does not re-run a failed asynchronous run: one tick is at most one run.
    (invoke_config,) = [
        c["Properties"]
        for c in resources_of(template_json, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert invoke_config["MaximumRetryAttempts"] == 0
    # on the alias the schedule invokes (its name, the alias ARN's last part), not $LATEST
    assert invoke_config["Qualifier"] == {
        "Fn::Select": [7, {"Fn::Split": [":", {"Ref": live_alias_of(template_json, function_id)}]}]
    }


def test_stage_settings_for_people_are_checked() -> None:
    config = StageConfig.from_context(
        "dev",
        {"alarmEmails": "a@example.com, b@example.com", "apiGatewayAccountRole": "true"},
    )
    assert config.alarm_emails == ("a@example.com", "b@example.com")
    assert config.api_gateway_account_role is True
    assert StageConfig.from_context("dev", None).api_gateway_account_role is False
    with pytest.raises(ValueError, match="not an email"):
        StageConfig.from_context("dev", {"alarmEmails": ["oncall"]})
    with pytest.raises(ValueError, match="go together"):
        StageConfig.from_context("dev", {"chatbotSlackChannelId": "C0456EFGH"})
    with pytest.raises(ValueError, match="true or false"):
        StageConfig.from_context("dev", {"apiGatewayAccountRole": "yes"})
