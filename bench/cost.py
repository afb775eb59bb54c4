"""Issue 6 item 5: what one happy-path quote-to-cash flow costs, counted from a real execution on the
local cloud — state transitions, Lambda invocations, DynamoDB writes, events and SQS messages — and the
resulting price per 1,000 flows at AWS list prices.

Prices (us-east-1, on-demand, as listed on the AWS pricing pages; written down 2026-11-27 — check them
before quoting): Step Functions Standard $0.025 per 1,000 state transitions; Lambda $0.20 per million
requests and $0.0000133334 per GB-second on arm64; DynamoDB on-demand $0.625 per million write request
units; EventBridge $1.00 per million custom events; SQS $0.40 per million requests.

The comparison the budget asks for: the same flow with one Lambda task per step and polling waits (a
Wait + a check Lambda + a Choice per poll) instead of task tokens resumed by webhooks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.results import Results

if TYPE_CHECKING:
    from localcloud import LocalCloud
    from o2c_cli.targets import Target

PRICES = {
    "state_transition": 0.025 / 1_000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second_arm64": 0.0000133334,
    "dynamodb_write": 0.625 / 1_000_000,
    "eventbridge_event": 1.00 / 1_000_000,
    "sqs_request": 0.40 / 1_000_000,
}
PRICES_AS_OF = "2026-11-27"
#: Issue 16 item 4: DynamoDB write requests per happy-path deal.
WRITES_BUDGET = 30

#: The polling design the budget compares with: one Lambda per step, and each wait a loop of
#: Wait → check (Lambda) → Choice every POLL_S seconds. Assumed wait times of a realistic deal.
POLL_S = 60
ASSUMED_WAITS_S = {"payment method saved": 600, "capture confirmed": 5}


def measure_flow(cloud: LocalCloud | None = None, target: Target | None = None) -> dict[str, Any]:
    """One happy-path deal on ``cloud`` (a cloud of its own when none is given), as deltas."""
    if cloud is None or target is None:
        from bench.cloud import deal_cloud

        with deal_cloud("o2c-bench-cost-") as (own, own_target):
            return measure_flow(own, own_target)

    from localcloud import moto_patches
    from o2c_cli import playbook
    from o2c_cli.crm_scenarios import hubspot_deal

    events_before = _lineage_events(cloud)
    invocations_before = {k: p.invocations for k, p in cloud.pools.items()}
    writes_before = moto_patches.dynamodb_writes["count"]
    by_table_before = dict(moto_patches.dynamodb_writes_by_table)
    started = time.perf_counter()
    deal = hubspot_deal(cloud.sandboxes["hubspot"])
    cloud.sandboxes["hubspot"].win(deal)
    name = f"hubspot-{deal}"
    playbook.save_card(cloud, target, name)
    playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    cloud.wait_until_idle(timeout=60)
    elapsed = time.perf_counter() - started
    history = cloud.client("stepfunctions").get_execution_history(
        executionArn=playbook.wait_until(target, name, status="SUCCEEDED").arn, maxResults=1000
    )["events"]
    invocations = {k: p.invocations - invocations_before[k] for k, p in cloud.pools.items()}
    memory = {k: p.fn.memory_mb for k, p in cloud.pools.items()}
    events = len(_lineage_events(cloud) - events_before)
    return {
        "transitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        "task_states": sum(1 for e in history if e["type"] == "TaskStateEntered"),
        "invocations": {k: v for k, v in invocations.items() if v},
        "memory_mb": memory,
        "dynamodb_writes": moto_patches.dynamodb_writes["count"] - writes_before,
        "dynamodb_writes_by_table": {
            table.rsplit("-", 1)[-1]: n - by_table_before.get(table, 0)
            for table, n in sorted(moto_patches.dynamodb_writes_by_table.items())
            if n - by_table_before.get(table, 0)
        },
        "events": events,
        "elapsed_s": elapsed,
    }


def _lineage_events(cloud: LocalCloud) -> set[str]:
    """The canonical events the lineage table has recorded so far."""
    table = cloud.resources["tables"]["LineageTable"]
    items = [
        i
        for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        for i in page["Items"]
    ]
    return {i["eventId"]["S"] for i in items if "entry" in i}


def polling_baseline(steps: int) -> int:
    """Transitions of the polling design: every step a Lambda task state, every wait 3 per poll."""
    polls = sum(max(1, -(-wait // POLL_S)) for wait in ASSUMED_WAITS_S.values())
    return steps + 3 * polls


def run(results: Results, cloud: LocalCloud | None = None, target: Target | None = None) -> None:
    """On ``cloud`` (with ``target``) when given, else on a cloud of its own."""
    flow = measure_flow(cloud, target)
    lambda_requests = sum(flow["invocations"].values())
    # Lambda duration is not measured locally: price it at 300 ms per invocation at each function's memory
    gb_seconds = sum(0.3 * flow["memory_mb"][k] / 1024 * n for k, n in flow["invocations"].items())
    # SQS: one send, one receive and one delete per message a consumer handles (EventBridge → queue)
    consumer_messages = sum(
        n
        for k, n in flow["invocations"].items()
        if k in {"LineageRecorder", "QuoteToCashStarter", "PaymentSignals"}
    )
    per_flow = (
        flow["transitions"] * PRICES["state_transition"]
        + lambda_requests * PRICES["lambda_request"]
        + gb_seconds * PRICES["lambda_gb_second_arm64"]
        + flow["dynamodb_writes"] * PRICES["dynamodb_write"]
        + flow["events"] * PRICES["eventbridge_event"]
        + consumer_messages * 3 * PRICES["sqs_request"]
    )
    results.emit("quote_to_cash.state_transitions", flow["transitions"], "transitions per flow")
    results.emit(
        "quote_to_cash.lambda_invocations",
        lambda_requests,
        "invocations per flow",
        by_function=flow["invocations"],
    )
    results.budget(
        "quote_to_cash.dynamodb_writes",
        flow["dynamodb_writes"],
        "writes per flow",
        budget=f"<= {WRITES_BUDGET}",
        ok=flow["dynamodb_writes"] <= WRITES_BUDGET,
        by_table=flow["dynamodb_writes_by_table"],
    )
    results.emit("quote_to_cash.events", flow["events"], "canonical events per flow")
    results.emit(
        "quote_to_cash.cost",
        round(per_flow * 1000, 4),
        "USD per 1,000 flows",
        prices=PRICES,
        prices_as_of=PRICES_AS_OF,
        note="Lambda duration priced at 300 ms per invocation",
    )
    # the eleven steps, each one Lambda task that also publishes its events, plus the choice after
    # authorization and the approval check: 13 states before any waiting
    baseline = polling_baseline(13)
    results.budget(
        "quote_to_cash.transitions_vs_polling",
        round(flow["transitions"] / baseline, 3),
        "ratio",
        budget="transitions < the one-Lambda-per-step polling design's",
        ok=flow["transitions"] < baseline,
        value_transitions=flow["transitions"],
        polling_transitions=baseline,
        assumptions={"poll_every_s": POLL_S, "waits_s": ASSUMED_WAITS_S},
    )
