"""The support desk in the template: the Zendesk webhook route and function, the SupportNotes consumer with its
rule, queue and DLQ, and the Zendesk credentials secret granted to those two functions only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import SUPPORT_NOTES, ZENDESK_WEBHOOK
from tests.infra.helpers import function_by_description, live_alias_of, output_ref, resources_of

pytestmark = pytest.mark.infra


def test_the_zendesk_webhook_is_a_post_route_to_its_function(template_json: dict[str, Any]) -> None:
    function_id, function = function_by_description(template_json, ZENDESK_WEBHOOK.description)
    parts = {
        r["Properties"]["PathPart"] for r in resources_of(template_json, "AWS::ApiGateway::Resource").values()
    }
    assert {"webhooks", "zendesk"} <= parts
    alias = json.dumps({"Ref": live_alias_of(template_json, function_id)})
    methods = [
        m["Properties"]
        for m in resources_of(template_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST" and alias in json.dumps(m["Properties"]["Integration"])
    ]
    assert len(methods) == 1
    env = function["Properties"]["Environment"]["Variables"]
    assert env["ZENDESK_REFUND_TAG"] == "refund_requested"
    assert "ZENDESK_CREDENTIALS_ARN" in env and "IDEMPOTENCY_TABLE_NAME" in env


def test_payment_facts_reach_the_support_notes_consumer_through_a_queue_with_a_dlq(
    template_json: dict[str, Any],
) -> None:
    queue_id = output_ref(template_json, "SupportNotesQueueUrl")
    dlq_id = output_ref(template_json, "SupportNotesDlqUrl")
    [rule] = [
        r["Properties"]
        for r in resources_of(template_json, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    pattern = rule["EventPattern"]
    assert set(pattern["detail-type"]) == {
        "PaymentFailed",
        "RefundBooked",
        "DisputeOpened",
        "DisputeClosed",
        "OrderOnHold",
        "DunningChanged",
    }
    assert set(pattern["source"]) == {"o2c.payments", "o2c.erp", "o2c.orchestration"}
    queue = template_json["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    mappings = [
        m["Properties"]
        for m in resources_of(template_json, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert len(mappings) == 1 and mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_only_the_zendesk_functions_get_the_zendesk_credentials(template_json: dict[str, Any]) -> None:
    holders = {
        f["Properties"]["Description"]
        for f in resources_of(template_json, "AWS::Lambda::Function").values()
        if "ZENDESK_CREDENTIALS_ARN" in (f["Properties"].get("Environment") or {}).get("Variables", {})
    }
    assert holders == {ZENDESK_WEBHOOK.description, SUPPORT_NOTES.description}
