"""Business metrics on the local cloud, read from the EMF lines the functions write (what CloudWatch turns into
metrics): time to cash once per paid deal, a declined card counted as a payment failure by Stripe's decline
code, and the OperationsSweep's gauges equal to what the executions, tables, queues and Stripe hold."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.executions import ExecutionState, state_of
from shared.order_to_cash.pending import PendingFacts
from tests.flow.conftest import Hub
from tests.flow.q2c import save_card, wait_until


def won(hub: Hub) -> tuple[str, str]:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)
    assert sandbox.win(deal_id)[0] == 200
    return deal_id, f"hubspot-{deal_id}"


def log_of(hub: Hub, function_id: str) -> Path:
    return hub.cloud.logs_dir / f"{function_id}.log"


def emf_lines(path: Path, metric: str, *, offset: int = 0, **match: str) -> list[dict[str, Any]]:
    """The EMF documents in a function's log that carry ``metric`` (and the given properties)."""
    found = []
    if not path.exists():
        return found
    with path.open(encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        for line in f:
            if '"_aws"' not in line:
                continue
            doc = json.loads(line)
            names = {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
            if metric in names and all(doc.get(k) == v for k, v in match.items()):
                found.append(doc)
    return found


def eventually(read: Any, check: Any, timeout: float = 10) -> Any:
    """The worker's output reaches its log file a moment after the invocation returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def dimensions(doc: dict[str, Any]) -> dict[str, str]:
    (names,) = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    return {n: doc[n] for n in names}


@pytest.fixture(scope="module")
def paid_deal(hub: Hub) -> tuple[str, str, ExecutionState]:
    """A HubSpot deal carried to paid: its id, its execution's name and final state."""
    deal_id, name = won(hub)
    save_card(hub, name)
    return deal_id, name, wait_until(hub, name, status="SUCCEEDED")


def test_a_paid_deal_records_its_time_to_cash_once(
    hub: Hub, paid_deal: tuple[str, str, ExecutionState]
) -> None:
    _, name, state = paid_deal
    described = hub.cloud.client("stepfunctions").describe_execution(executionArn=state.arn)
    ran_for = (described["stopDate"] - described["startDate"]).total_seconds()

    erp_log = log_of(hub, "ErpTasks")
    [paid] = eventually(lambda: emf_lines(erp_log, "DealsPaid", execution=name), bool)
    [time_to_cash] = emf_lines(erp_log, "TimeToCash", execution=name)
    assert time_to_cash["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "O2CHub"
    assert dimensions(time_to_cash) == {"service": "q2c-erp-tasks"}
    assert time_to_cash["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "TimeToCash", "Unit": "Seconds"}
    ]
    # measured from the execution's start (the won deal received) to the payment applied: within its run
    assert 0 < time_to_cash["TimeToCash"][0] <= ran_for + 1
    [card_to_paid] = emf_lines(erp_log, "CardSavedToPaid", execution=name)
    [invoice_lag] = emf_lines(erp_log, "InvoicePostedToPaymentApplied", execution=name)
    [capture_lag] = emf_lines(erp_log, "CapturedToErpApplied", execution=name)
    # each later fact is nearer to the payment than the win was (Stripe's event times are whole seconds)
    for later in (card_to_paid["CardSavedToPaid"], invoice_lag["InvoicePostedToPaymentApplied"]):
        assert 0 <= later[0] <= time_to_cash["TimeToCash"][0] + 1
    assert 0 <= capture_lag["CapturedToErpApplied"][0] <= invoice_lag["InvoicePostedToPaymentApplied"][0] + 1
    # one charge attempt, which succeeded
    payment_log = log_of(hub, "PaymentTasks")
    assert len(emf_lines(payment_log, "PaymentAttempts", execution=name)) == 1
    assert emf_lines(payment_log, "PaymentFailures", execution=name) == []
    assert paid["DealsPaid"] == [1.0]


def test_a_declined_card_is_a_payment_failure_by_its_decline_code(hub: Hub) -> None:
    _, name = won(hub)
    save_card(hub, name, "pm_card_chargeCustomerFail")  # Stripe's 4000 0000 0000 0341: declined when charged
    wait_until(hub, name, state="WaitForNewPaymentMethod")
    payment_log = log_of(hub, "PaymentTasks")
    failures = eventually(
        lambda: emf_lines(payment_log, "PaymentFailures", execution=name), lambda f: len(f) == 2
    )
    by_dimensions = {tuple(sorted(dimensions(f).items())): f["PaymentFailures"] for f in failures}
    assert by_dimensions == {
        (("provider", "stripe"), ("service", "q2c-payment-tasks")): [1.0],
        (("provider", "stripe"), ("reason", "generic_decline"), ("service", "q2c-payment-tasks")): [1.0],
    }

    save_card(hub, name, "pm_card_visa", state="WaitForNewPaymentMethod")
    wait_until(hub, name, status="SUCCEEDED")
    attempts = eventually(
        lambda: emf_lines(payment_log, "PaymentAttempts", execution=name), lambda a: len(a) == 2
    )
    assert [a["PaymentAttempts"] for a in attempts] == [[1.0], [1.0]]  # declined, then charged
    assert len(emf_lines(payment_log, "PaymentFailures", execution=name)) == 2  # still the one failure
    assert (
        len(eventually(lambda: emf_lines(log_of(hub, "ErpTasks"), "TimeToCash", execution=name), bool)) == 1
    )


def test_the_sweep_publishes_the_open_orders_waiting_facts_disputes_and_dead_letters(
    hub: Hub, paid_deal: tuple[str, str, ExecutionState]
) -> None:
    _, waiting_deal = won(hub)
    wait_until(hub, waiting_deal, state="WaitForPaymentMethod")
    sqs = hub.cloud.client("sqs")
    dlq_url = hub.target.consumers["PayoutDepositor"].dlq_url
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"detail-type": "PayoutPaid", "test": "sweep"}))
    try:
        check_the_sweep(hub, paid_deal[0], waiting_deal)
    finally:  # leave the dead-letter queue as it was, and no deal waiting for later tests
        for message in sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", []):
            if json.loads(message["Body"]).get("test") == "sweep":
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        waiting = state_of(hub.target, waiting_deal)
        if waiting is not None and waiting.status == "RUNNING":
            hub.cloud.client("stepfunctions").stop_execution(executionArn=waiting.arn)


def check_the_sweep(hub: Hub, paid_deal_id: str, waiting_deal: str) -> None:
    # the customer's bank disputes the paid deal's charge (the hub books the dispute hold as usual)
    stripe = hub.cloud.sandboxes["stripe"]
    [intent] = [
        p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == paid_deal_id
    ]
    stripe.open_dispute(intent["latest_charge"])
    hub.settle()
    sweep_log = log_of(hub, "OperationsSweep")
    offset = sweep_log.stat().st_size if sweep_log.exists() else 0

    answer = hub.cloud.invoke("OperationsSweep", {})

    assert answer["ok"], answer
    figures = answer["result"]
    gauges = eventually(lambda: emf_lines(sweep_log, "OpenOrders", offset=offset), bool)

    # what the executions hold, read another way (o2c status: each history read forward)
    sfn = hub.cloud.client("stepfunctions")
    running = sfn.list_executions(stateMachineArn=hub.target.state_machine_arn, statusFilter="RUNNING")
    expected_states: dict[str, int] = {}
    for execution in running["executions"]:
        current = state_of(hub.target, execution["name"])
        assert current is not None and current.current_state
        expected_states[current.current_state] = expected_states.get(current.current_state, 0) + 1
    assert expected_states.get("WaitForPaymentMethod", 0) >= 1
    open_by_state = {
        g["state"]: g["OpenOrders"][0] for g in gauges if set(dimensions(g)) == {"service", "state"}
    }
    assert open_by_state == expected_states
    [total] = [g for g in gauges if set(dimensions(g)) == {"service"}]
    assert total["OpenOrders"] == [float(sum(expected_states.values()))]
    by_age = {g["age"]: g["OpenOrders"][0] for g in gauges if set(dimensions(g)) == {"service", "age"}}
    assert sum(by_age.values()) == sum(expected_states.values()) and by_age["under_1h"] >= 1
    assert {dimensions(g)["service"] for g in gauges} == {"operations-sweep"}

    # the facts waiting in the PendingTable
    pending = PendingFacts(hub.cloud.client("dynamodb"), hub.cloud.resources["tables"]["PendingTable"])
    waiting = [p for p in pending.all() if p.waiting]
    [pending_total] = [g for g in emf_lines(sweep_log, "PendingFacts", offset=offset) if "kind" not in g]
    assert pending_total["PendingFacts"] == [float(len(waiting))] and figures["pending"]["waiting"] == len(
        waiting
    )

    # every dead-letter queue's depth, the one message put in PayoutDepositor's included
    dead = {
        g["queue"]: g["DeadLetterMessages"][0]
        for g in emf_lines(sweep_log, "DeadLetterMessages", offset=offset)
        if "queue" in g
    }
    assert set(dead) == set(hub.target.consumers)
    for consumer, depth in dead.items():
        assert depth == hub.dlq_depth(consumer), consumer
    assert dead["PayoutDepositor"] >= 1

    # the open disputes, as Stripe lists them, and their evidence due dates (7 days on: none due soon)
    open_disputes = [d for d in stripe.disputes() if d["status"] in ("needs_response", "under_review")]
    [disputes_open] = emf_lines(sweep_log, "DisputesOpen", offset=offset)
    assert disputes_open["DisputesOpen"] == [float(len(open_disputes))] and len(open_disputes) >= 1
    assert figures["disputes"]["open"] == len(open_disputes)
    assert figures["disputes"]["evidence_needed"] == sum(
        d["status"] == "needs_response" for d in open_disputes
    )
    [due_soon] = emf_lines(sweep_log, "DisputeEvidenceDueSoon", offset=offset)
    assert due_soon["DisputeEvidenceDueSoon"] == [0.0]
