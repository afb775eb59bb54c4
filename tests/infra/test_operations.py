"""The operations view as code: a dashboard per stage whose first row is the business process, the SLOs as
composite alarms that page through the alarm topic, and the OperationsSweep's exact grants."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.topology import OPERATIONS_SWEEP
from shared.operations import emit
from tests.infra.conftest import OTHER_STAGE, Synthesized
from tests.infra.helpers import (
    as_list,
    function_by_description,
    live_alias_of,
    output_ref,
    resources_of,
    role_statements,
)

pytestmark = pytest.mark.infra

#: The business metrics (shared.operations.emit) the dashboard's business row must show.
BUSINESS_METRICS = {
    emit.TIME_TO_CASH,
    emit.CARD_SAVED_TO_PAID,
    emit.PAYMENT_ATTEMPTS,
    emit.PAYMENT_FAILURES,
    emit.INVOICE_TO_PAYMENT_LAG,
    emit.CAPTURE_TO_ERP_LAG,
    emit.OPEN_ORDERS,
    emit.OLDEST_OPEN_ORDER_AGE,
    emit.PENDING_FACTS,
    emit.OLDEST_PENDING_FACT_AGE,
    emit.REFUNDS_WAITING,
    emit.RECONCILIATION_EXCEPTIONS,
    emit.DISPUTES_OPEN,
    emit.DEAD_LETTERS,
}


def dashboard_body(template_json: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON as CloudFormation renders it, every reference replaced by ``REF``."""
    (dashboard,) = resources_of(template_json, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):
        body = "".join(p if isinstance(p, str) else "REF" for p in body["Fn::Join"][1])
    return dict(json.loads(body))


def widget_metrics(widget: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric a widget shows, SEARCH expressions included."""
    found: set[tuple[str, str]] = set()
    for row in widget.get("properties", {}).get("metrics", []):
        if isinstance(row[0], dict):  # an expression
            expression = row[0].get("expression", "")
            for namespace, name in re.findall(
                r"SEARCH\('\{([^,}]+)[^}]*\} MetricName=\"([^\"]+)\"", expression
            ):
                found.add((namespace, name))
        elif not str(row[0]).startswith("."):
            found.add((row[0], row[1]))
        else:  # "..." / "." rows repeat the previous namespace
            pass
    return found


def output_ref_of_secret(template_json: dict[str, Any], secret_id: str) -> str:
    (logical_id,) = [
        k
        for k in resources_of(template_json, "AWS::SecretsManager::Secret")
        if k.startswith(f"Secrets{secret_id}")
    ]
    return logical_id


def in_reading_order(body: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(body["widgets"], key=lambda w: (w["y"], w["x"]))


def test_each_stage_has_its_dashboard(synthesized: Synthesized) -> None:
    names = set()
    for template_json in synthesized.templates.values():
        (dashboard,) = resources_of(template_json, "AWS::CloudWatch::Dashboard").values()
        names.add(dashboard["Properties"]["DashboardName"])
        assert output_ref(template_json, "DashboardName") in resources_of(
            template_json, "AWS::CloudWatch::Dashboard"
        )
    assert names == {"o2c-test-operations", f"o2c-{OTHER_STAGE}-operations"}


def test_the_business_row_comes_first_and_shows_every_business_metric(template_json: dict[str, Any]) -> None:
    widgets = in_reading_order(dashboard_body(template_json))
    technical_starts = next(
        i for i, w in enumerate(widgets) if w["type"] == "text" and "Technical" in w["properties"]["markdown"]
    )
    business, technical = widgets[:technical_starts], widgets[technical_starts:]
    # the first widget with metrics is a business metric of the hub, and the business rows show them all
    first = next(w for w in widgets if widget_metrics(w))
    assert {ns for ns, _ in widget_metrics(first)} == {"O2CHub"}
    shown = {name for w in business for ns, name in widget_metrics(w) if ns == "O2CHub"}
    assert shown >= BUSINESS_METRICS, BUSINESS_METRICS - shown
    # the technical rows, under them, are AWS's own metrics
    under = {ns for w in technical for ns, _ in widget_metrics(w)}
    assert {"AWS/Lambda", "AWS/ApiGateway", "AWS/States", "AWS/SQS"} <= under
    assert "O2CHub" not in under
    assert max(w["y"] for w in business) < min(w["y"] for w in technical)


def test_the_payment_failure_rate_is_failures_over_attempts(template_json: dict[str, Any]) -> None:
    widgets = dashboard_body(template_json)["widgets"]
    expressions = [
        row[0]["expression"]
        for w in widgets
        for row in w.get("properties", {}).get("metrics", [])
        if isinstance(row[0], dict) and "expression" in row[0]
    ]
    assert "IF(attempts > 0, 100 * failures / attempts, 0)" in expressions


def _composites(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        c["Properties"]["AlarmName"]["Fn::Join"][1][-1]
        if isinstance(c["Properties"]["AlarmName"], dict)
        else c["Properties"]["AlarmName"]: c["Properties"]
        for c in resources_of(template_json, "AWS::CloudWatch::CompositeAlarm").values()
    }


def _children(template_json: dict[str, Any], composite: dict[str, Any]) -> list[dict[str, Any]]:
    rule = json.dumps(composite["AlarmRule"])
    return [
        a["Properties"]
        for alarm_id, a in resources_of(template_json, "AWS::CloudWatch::Alarm").items()
        if f'"{alarm_id}"' in rule
    ]


def _slo(template_json: dict[str, Any], name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (composite,) = [c for n, c in _composites(template_json).items() if n.endswith(f"-slo-{name}")]
    return composite, _children(template_json, composite)


def test_every_slo_is_a_composite_alarm_that_pages(template_json: dict[str, Any]) -> None:
    topic = {"Ref": output_ref(template_json, "AlarmTopicArn")}
    names = {n.rsplit("-slo-", 1)[1] for n in _composites(template_json)}
    assert names == {"DealsPaidWithinAnHour", "Webhook5xx", "OldestPendingFact"}
    for name in names:
        composite, children = _slo(template_json, name)
        assert composite["AlarmActions"] == [topic]
        assert composite["AlarmRule"]["Fn::Join"][1][0].startswith("(ALARM(")  # any of its alarms
        assert len(children) >= 2
        for child in children:
            # a child pages only through the composite (FactWaitingTooLong included)
            assert "AlarmActions" not in child, child


def test_deals_paid_within_an_hour_of_the_card_being_saved(template_json: dict[str, Any]) -> None:
    _, children = _slo(template_json, "DealsPaidWithinAnHour")
    by_period = {c["Period"]: c for c in children}
    assert set(by_period) == {3600, 6 * 3600}
    for period, burn in ((3600, 14.4), (6 * 3600, 6.0)):
        alarm = by_period[period]
        assert alarm["MetricName"] == "CardSavedToPaid" and alarm["Namespace"] == "O2CHub"
        # the share of deals paid within 3,600 s, against a 1 % budget burning `burn` times too fast
        assert alarm["ExtendedStatistic"] == "PR(0:3600)"
        assert alarm["ComparisonOperator"] == "LessThanThreshold"
        assert alarm["Threshold"] == pytest.approx(100 - burn * 1.0)
        assert alarm["TreatMissingData"] == "notBreaching"


def test_webhook_5xx_under_a_tenth_of_a_percent(template_json: dict[str, Any]) -> None:
    _, children = _slo(template_json, "Webhook5xx")
    assert len(children) == 2
    for alarm in children:
        (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
        assert expression["Expression"] == "IF(requests > 0, errors / requests, 0)"
        by_id = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert by_id["errors"]["Metric"]["MetricName"] == "5XXError"
        assert by_id["errors"]["Stat"] == "Sum" and by_id["requests"]["Stat"] == "SampleCount"
        assert by_id["requests"]["Metric"]["Namespace"] == "AWS/ApiGateway"
        burn = {3600: 14.4, 6 * 3600: 6.0}[by_id["errors"]["Period"]]
        assert alarm["Threshold"] == pytest.approx(burn * 0.001)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_oldest_pending_fact_under_a_day(template_json: dict[str, Any]) -> None:
    _, children = _slo(template_json, "OldestPendingFact")
    metrics = {(c["MetricName"], c["Dimensions"][0]["Value"]) for c in children}
    assert metrics == {
        ("OldestPendingFactAge", "operations-sweep"),
        ("OldestWaitingFactAge", "fact-releaser"),
    }
    assert all(
        c["Threshold"] == 86_400 and c["ComparisonOperator"] == "GreaterThanThreshold" for c in children
    )


def test_the_sweep_reads_only_what_it_figures(template_json: dict[str, Any]) -> None:
    function_id, function = function_by_description(template_json, OPERATIONS_SWEEP.description)
    statements = [s for s in role_statements(template_json, function["Properties"]["Role"]["Fn::GetAtt"][0])]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert {
        "states:ListExecutions",
        "states:GetExecutionHistory",
        "sqs:GetQueueAttributes",
        "dynamodb:Scan",
    } <= actions
    # reads only: nothing written, started, answered, sent or published
    assert not {
        a for a in actions if a.split(":")[1].startswith(("Put", "Update", "Delete", "Send", "Start"))
    } - {"logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments"}
    assert not any(a.startswith(("events:", "lambda:")) for a in actions)
    # of the secrets, only the Stripe key (to list Stripe's disputes)
    secret_resources = {
        json.dumps(r)
        for s in statements
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
        for r in as_list(s["Resource"])
    }
    assert secret_resources == {json.dumps({"Ref": output_ref_of_secret(template_json, "StripeApiKey")})}
    (list_executions,) = [s for s in statements if "states:ListExecutions" in as_list(s["Action"])]
    assert as_list(list_executions["Action"]) == ["states:ListExecutions"]
    (queues,) = [s for s in statements if "sqs:GetQueueAttributes" in as_list(s["Action"])]
    dlqs = {r["Fn::GetAtt"][0] for r in as_list(queues["Resource"])}
    # every consumer's DLQ and every schedule's DLQ, and no working queue
    redrive_targets = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in resources_of(template_json, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    schedule_dlqs = {
        s["Properties"]["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        for s in resources_of(template_json, "AWS::Scheduler::Schedule").values()
    }
    assert dlqs == redrive_targets | schedule_dlqs
    env = function["Properties"]["Environment"]["Variables"]
    assert {"QUOTE_TO_CASH_STATE_MACHINE_ARN", "DEAD_LETTER_QUEUE_URLS", "PENDING_TABLE_NAME"} <= set(env)
    (schedule,) = [
        s["Properties"]
        for s in resources_of(template_json, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"] == {"Ref": live_alias_of(template_json, function_id)}
    ]
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
