"""Time budgets that hold (``infra/topology.py``): every consumer's and state machine task's function timeout,
visibility timeout, batch size and maximum concurrency follow from one budget, the transport's worst case
fits in it, and the ERP-bound paths together stay within the NetSuite account's concurrency limit."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from infra import topology
from infra.config import StageConfig
from infra.statemachine import definition
from infra.topology import (
    AWS_CALLS,
    CONSUMERS,
    ERP_CONCURRENCY_LIMIT_DEFAULT,
    JSON_HTTP_CALLS,
    MIN_ERP_TASK_SLOTS,
    NETSUITE_CALLS,
    SAFETY_MARGIN_S,
    STATE_MACHINE_TASKS,
    STRIPE_CALLS,
    Budget,
    ConsumerSpec,
    FunctionSpec,
    erp_bound,
    erp_concurrency_plan,
)
from shared import deadline
from tests.infra.helpers import live_alias_of, resources_of

BUDGETED: tuple[FunctionSpec, ...] = tuple(
    {fn.id: fn for fn in (*(c.function for c in CONSUMERS), *STATE_MACHINE_TASKS)}.values()
)


def defaults(cls: Any) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_the_call_policies_are_the_connectors_own_defaults() -> None:
    from shared.outbound.erp_gate import ErpGate
    from shared.outbound.http import JsonHttp
    from shared.outbound.netsuite import NetSuiteHttp
    from shared.outbound.stripe_payments import StripePayments

    netsuite, gate = defaults(NetSuiteHttp), defaults(ErpGate)
    assert (NETSUITE_CALLS.connect_s, NETSUITE_CALLS.read_s) == (netsuite["timeout_s"], netsuite["timeout_s"])
    assert NETSUITE_CALLS.attempts == netsuite["max_attempts"]
    assert NETSUITE_CALLS.max_backoff_s == netsuite["max_retry_wait_s"]
    assert NETSUITE_CALLS.gate_wait_s == gate["wait_s"]
    assert gate["lease_s"] > NETSUITE_CALLS.connect_s + NETSUITE_CALLS.read_s  # a slot outlives its request
    http = defaults(JsonHttp)
    assert (JSON_HTTP_CALLS.connect_s, JSON_HTTP_CALLS.read_s) == (http["timeout_s"], http["timeout_s"])
    assert (JSON_HTTP_CALLS.attempts, JSON_HTTP_CALLS.max_backoff_s) == (
        http["max_attempts"],
        http["max_retry_wait_s"],
    )
    stripe = defaults(StripePayments)
    assert (STRIPE_CALLS.connect_s, STRIPE_CALLS.read_s) == (stripe["connect_timeout_s"], stripe["timeout_s"])
    assert (STRIPE_CALLS.attempts, STRIPE_CALLS.max_backoff_s) == (
        stripe["max_attempts"],
        stripe["max_retry_wait_s"],
    )
    source = inspect.getsource(__import__("shared.aws", fromlist=["client"]))
    assert f"connect_timeout={AWS_CALLS.connect_s:g}, read_timeout={AWS_CALLS.read_s:g}" in source
    assert f'"max_attempts": {AWS_CALLS.attempts}' in source
    assert SAFETY_MARGIN_S == deadline.SAFETY_MARGIN_S


def test_a_netsuite_call_s_worst_case_is_what_the_issue_measured() -> None:
    # gate wait 10 + 3 attempts x (10 connect + 10 read) + 2 backoffs of 10: longer than the 60 s ERP functions had
    assert NETSUITE_CALLS.worst_case_s == 10 + 3 * 20 + 2 * 10 == 90


@pytest.mark.parametrize("fn", BUDGETED, ids=lambda f: f.id)
def test_the_worst_call_and_a_usual_batch_fit_in_the_function_timeout(fn: FunctionSpec) -> None:
    budget = fn.budget
    assert isinstance(budget, Budget), f"{fn.id} has no time budget"
    assert fn.timeout_s == budget.timeout_s
    # worst-case call time x attempts + backoff (+ the gate's wait) <= timeout, with the handler's margin kept
    for call in budget.calls:
        assert (
            call.gate_wait_s
            + call.attempts * (call.connect_s + call.read_s)
            + (call.attempts - 1) * call.max_backoff_s
            + budget.margin_s
            <= fn.timeout_s
        ), call.name
    assert budget.batch_size * budget.record_s + budget.margin_s <= fn.timeout_s
    assert fn.timeout_s <= 900  # Lambda's maximum
    # a function that takes ERP slots says so in its budget, and plans for NetSuite's calls
    assert budget.erp == erp_bound(fn) == (NETSUITE_CALLS in budget.calls), fn.id


@pytest.mark.parametrize("spec", CONSUMERS, ids=lambda s: s.id)
def test_a_consumer_s_queue_and_mapping_follow_its_budget(spec: ConsumerSpec) -> None:
    budget = spec.function.budget
    assert budget is not None
    assert (spec.batch_size, spec.max_batching_window_s, spec.max_concurrency) == (
        budget.batch_size,
        budget.batching_window_s,
        budget.max_concurrency,
    )
    # AWS: visibility timeout >= 6 x function timeout, plus the batching window
    assert spec.visibility_timeout_s >= 6 * spec.function.timeout_s + spec.max_batching_window_s
    assert spec.max_concurrency >= 2  # Lambda's floor for MaximumConcurrency
    assert 1 <= spec.batch_size <= 10


def test_erp_bound_paths_stay_within_the_account_s_concurrency_limit() -> None:
    plan = erp_concurrency_plan(ERP_CONCURRENCY_LIMIT_DEFAULT)
    erp_consumers = {c.id for c in CONSUMERS if erp_bound(c.function)}
    assert (
        set(plan.consumers)
        == erp_consumers
        == {"RefundBooker", "PayoutDepositor", "DisputeSync", "RenewalSync"}
    )
    assert plan.scheduled == {"Reconciler": 1}
    assert plan.tasks >= MIN_ERP_TASK_SLOTS
    assert sum(plan.consumers.values()) + sum(plan.scheduled.values()) + plan.tasks == plan.total
    assert plan.total <= ERP_CONCURRENCY_LIMIT_DEFAULT
    assert topology.ERP_TASKS.budget is not None and topology.ERP_TASKS.budget.erp


def test_a_limit_the_erp_bound_paths_do_not_fit_in_is_refused_at_synth() -> None:
    # a NetSuite Standard account (5): four ERP consumers at Lambda's minimum of 2 already need 8
    with pytest.raises(ValueError, match="erpConcurrencyLimit"):
        erp_concurrency_plan(5)
    with pytest.raises(ValueError, match="cannot hold"):
        StageConfig.from_context("prod", {"erpConcurrencyLimit": 5})
    config = StageConfig.from_context("prod", {"erpConcurrencyLimit": 25})
    assert config.stage_settings()["ERP_CONCURRENCY_LIMIT"] == "25"
    assert erp_concurrency_plan(25).tasks == 25 - 8 - 1


def test_the_template_s_erp_bound_mappings_fit_in_the_stage_s_limit(template_json: dict[str, Any]) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    limits = {
        props["Environment"]["Variables"].get("ERP_CONCURRENCY_LIMIT")
        for props in (f["Properties"] for f in functions.values())
        if "ERP_GATE_TABLE_NAME" in props.get("Environment", {}).get("Variables", {})
    }
    [limit] = limits  # every ERP-bound function gates on the same account limit
    erp_functions = {
        logical
        for logical, f in functions.items()
        if "ERP_GATE_TABLE_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    erp_aliases = {live_alias_of(template_json, logical) for logical in erp_functions}
    mapped = [
        m["Properties"]
        for m in resources_of(template_json, "AWS::Lambda::EventSourceMapping").values()
        # mappings invoke the live alias (its Ref, or a name built from it)
        if any(f'"Ref": "{alias}"' in json.dumps(m["Properties"]["FunctionName"]) for alias in erp_aliases)
    ]
    assert len(mapped) == 4
    consumers = sum(m["ScalingConfig"]["MaximumConcurrency"] for m in mapped)
    scheduled = 1  # the Reconciler, once a day
    assert consumers + scheduled + MIN_ERP_TASK_SLOTS <= int(limit)


LAMBDA_ERRORS = {
    "Sandbox.Timedout",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
    "DeadlineExceeded",
}


def test_every_lambda_task_retries_timeouts_and_lambda_service_errors_with_backoff_and_jitter() -> None:
    lambda_tasks = {
        name: state
        for name, state in definition()["States"].items()
        if state["Type"] == "Task"
        and (state["Resource"].startswith("${") or "lambda:invoke" in state["Resource"])
    }
    assert len(lambda_tasks) > 10
    for name, state in lambda_tasks.items():
        named = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert named >= LAMBDA_ERRORS, (name, LAMBDA_ERRORS - named)
        for retrier in state["Retry"]:
            assert retrier["BackoffRate"] > 1 and retrier["JitterStrategy"] == "FULL", name
            assert retrier["MaxAttempts"] >= 2 and retrier["IntervalSeconds"] >= 1, name
