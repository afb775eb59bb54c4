"""The quote-to-cash state machine in the template: the shared definition, its grants, and what an
operator needs to redrive, approve and release."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.statemachine import SUBSTITUTIONS, definition, render
from infra.topology import FUNCTIONS, STATE_MACHINE_TASKS
from tests.infra.helpers import (
    as_list,
    function_by_description,
    live_alias_of,
    output_ref,
    resources_of,
    role_statements,
)

pytestmark = pytest.mark.infra


def state_machine(template_json: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources_of(template_json, "AWS::StepFunctions::StateMachine").values()
    return dict(machine["Properties"])


def test_the_stack_deploys_the_shared_definition_unchanged(template_json: dict[str, Any]) -> None:
    props = state_machine(template_json)
    assert props["StateMachineType"] == "STANDARD"
    assert json.loads(props["DefinitionString"]) == json.loads(render())
    assert set(props["DefinitionSubstitutions"]) == set(SUBSTITUTIONS)
    assert props["StateMachineName"] == "o2c-test-quote-to-cash"  # named after the stage, like the bus
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_state_machine_logs_to_a_vended_logs_group(template_json: dict[str, Any]) -> None:
    # /aws/vendedlogs/ keeps Step Functions log delivery out of the account's size-limited log resource policy
    (destination,) = state_machine(template_json)["LoggingConfiguration"]["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    log_group = template_json["Resources"][log_group_id]["Properties"]
    assert log_group["LogGroupName"] == "/aws/vendedlogs/states/o2c-test-quote-to-cash"
    assert log_group["RetentionInDays"] > 0


def test_every_task_retries_technical_errors_and_names_what_it_catches() -> None:
    for name, state in definition()["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no retry"
        for catcher in state.get("Catch", []):
            assert catcher["ErrorEquals"] != ["States.ALL"] or name in {
                "VoidAuthorization",
                "CancelErpOrder",
            }, name
        if state["Resource"].startswith("${"):  # Lambda tasks pass only what the step needs
            assert "Parameters" in state and state.get("ResultPath"), name


def test_the_failure_states_an_operator_sees_are_named() -> None:
    fails = {name: s["Error"] for name, s in definition()["States"].items() if s["Type"] == "Fail"}
    assert fails == {
        "Cancelled": "O2C.Cancelled",
        "CompensationFailed": "O2C.CompensationFailed",
        "Rejected": "O2C.Rejected",
        "NeedsAttention": "O2C.NeedsAttention",
    }


def test_state_machine_may_invoke_exactly_its_task_functions_and_publish(
    template_json: dict[str, Any],
) -> None:
    props = state_machine(template_json)
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(template_json, role_id)
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    invoked = {json.dumps(r) for s in invoke for r in as_list(s["Resource"])}
    # each task through its live alias only (not $LATEST, not any version)
    tasks = {
        json.dumps(
            {"Ref": live_alias_of(template_json, function_by_description(template_json, s.description)[0])}
        )
        for s in STATE_MACHINE_TASKS
    }
    assert invoked == tasks
    others = [spec for spec in FUNCTIONS if spec not in STATE_MACHINE_TASKS]
    for spec in others:
        logical_id, _ = function_by_description(template_json, spec.description)
        assert json.dumps({"Ref": live_alias_of(template_json, logical_id)}) not in invoked, spec.id
    assert any("events:PutEvents" in as_list(s["Action"]) for s in statements)


@pytest.mark.parametrize(
    ("spec_id", "action"),
    [
        ("QuoteToCashStarter", "states:StartExecution"),
        ("WaitRegistrar", "states:SendTaskSuccess"),
        ("PaymentSignals", "states:SendTaskSuccess"),
    ],
)
def test_functions_get_only_the_state_machine_access_they_need(
    template_json: dict[str, Any], spec_id: str, action: str
) -> None:
    spec = next(s for s in FUNCTIONS if s.id == spec_id)
    _, function = function_by_description(template_json, spec.description)
    statements = role_statements(template_json, function["Properties"]["Role"]["Fn::GetAtt"][0])
    actions = {a for s in statements for a in as_list(s["Action"]) if a.startswith("states:")}
    assert action in actions
    assert not {"states:StartExecution", "states:SendTaskSuccess"} - {action} & actions


def test_operators_can_redrive_approve_and_release(template_json: dict[str, Any]) -> None:
    policy = template_json["Resources"][output_ref(template_json, "OperatorPolicyArn")]
    actions = {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in as_list(s["Action"])}
    assert {"states:RedriveExecution", "states:SendTaskSuccess", "states:DescribeExecution"} <= actions
    assert "OperatorPolicyArn" in template_json["Outputs"] and "StateMachineArn" in template_json["Outputs"]


def _successors(state: dict[str, Any], invoiced: bool) -> set[str]:
    """Where a state can go next. Once the invoice is posted, a Choice on ``$.invoice.erpInvoiceId``
    ``IsPresent`` takes its "present" branch only."""
    nexts = {state[k] for k in ("Next", "Default") if k in state}
    nexts |= {c["Next"] for c in state.get("Catch", [])}
    for choice in state.get("Choices", []):
        if invoiced and choice.get("Variable") == "$.invoice.erpInvoiceId" and "IsPresent" in choice:
            return {choice["Next"]} if choice["IsPresent"] else nexts
        nexts.add(choice["Next"])
    return nexts


def test_once_the_invoice_is_posted_no_path_voids_the_payment_or_cancels_the_order() -> None:
    """A posted invoice is money the customer owes: whatever fails after it (a card declined after a failed
    bank debit and no new method in time, a step refused) holds the order for a person, never voids the
    authorization nor closes the ERP order under its invoice."""
    states = definition()["States"]
    seen: set[str] = set()
    todo = [states["CreateInvoice"]["Next"]]  # the invoice is posted from here on
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_successors(states[name], invoiced=True) - seen)
    assert {"HoldAfterInvoice", "Paid", "WaitForNewPaymentMethod"} <= seen  # the walk covers the late paths
    assert not {"VoidAuthorization", "CancelErpOrder"} & seen
