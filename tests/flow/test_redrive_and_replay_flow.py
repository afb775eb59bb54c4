"""An operator's two ways back, on the local cloud: ``o2c redrive`` resumes a deal a long ERP outage failed,
from the step that failed (Step Functions RedriveExecution), and ``o2c replay`` puts a window of events back
on the bus from its archive (EventBridge StartReplay) — and neither books anything twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from o2c_cli.main import main
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import records, save_card, wait_until
from tests.flow.test_quote_to_cash_flow import won


def intents_of(hub: Hub, deal_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]


def test_a_deal_failed_by_a_long_erp_outage_is_redriven_to_paid(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl

    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    # The state machine retries with full jitter: each wait is drawn from [0, interval]. Drawing the lowest
    # (as AWS may) lets the outage outlast every retry in seconds rather than about a minute.
    monkeypatch.setattr(jitter_strategy_decl, "random", SimpleNamespace(uniform=lambda low, high: low))
    netsuite = hub.cloud.sandboxes["netsuite"]
    deal_id, name = won(hub, name="Initech - through a long ERP outage")
    wait_until(hub, name, state="WaitForPaymentMethod")

    # Given the ERP goes down once the order exists, for longer than every retry
    netsuite.fail_next(503, count=1_000_000)
    try:
        save_card(hub, name)
        failed = wait_until(hub, name, status="FAILED", timeout=120)
    finally:
        netsuite.clear_faults()  # the ERP is back
    assert (failed.current_state, failed.error) == ("CreateInvoice", "TransientError")
    [held] = intents_of(hub, deal_id)
    assert held["status"] == "requires_capture"  # the card authorization is held

    # When the operator redrives the deal
    assert main(["redrive", deal_id]) == 0
    assert capsys.readouterr().out == f"redriving {name} from its failed step\n"

    # Then it goes on from the invoice to paid, on the authorization it had, booked once
    state = wait_until(hub, name, status="SUCCEEDED", timeout=120)
    assert state.current_state == "Paid"
    [paid] = intents_of(hub, deal_id)
    assert (paid["id"], paid["status"]) == (held["id"], "succeeded")
    assert len(records(hub, "salesOrder", externalId=name)) == 1
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["id"] == "B"  # Paid In Full
    assert len(records(hub, "customerPayment", externalId=f"pay-{paid['id']}")) == 1
    sales = [d for d in hub.cloud.sandboxes["avatax"].documents if d["code"] == f"inv-{name}"]
    assert [s["type"] for s in sales] == ["SalesInvoice"]
    described = hub.cloud.client("stepfunctions").describe_execution(executionArn=state.arn)
    assert (described["redriveCount"], described["redriveStatus"]) == (1, "NOT_REDRIVABLE")
    assert [e.detail_type for e in trace(hub.target, deal_id)].count("PaymentAuthorized") == 1

    # A paid deal cannot be redriven: one line, and a non-zero exit
    assert main(["redrive", deal_id]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("o2c: AWS RedriveExecution failed: ExecutionNotRedrivable: ") and err.count("\n") == 1
    )


def _books(hub: Hub) -> dict[str, Any]:
    """Everything the hub has booked anywhere: ERP records, Stripe objects, tax documents, CRM deals."""
    sandboxes = hub.cloud.sandboxes
    netsuite = sandboxes["netsuite"]
    stripe = sandboxes["stripe"]
    return {
        "erp": {kind: netsuite.records(kind) for kind in sorted(netsuite._records)},
        "stripe": {
            "payment_intents": stripe.payment_intents(),
            "charges": stripe.charges(),
            "refunds": stripe.refunds(),
        },
        "tax": sandboxes["avatax"].documents,
        "crm": {d: sandboxes["hubspot"].deal(d)["properties"] for d in sorted(sandboxes["hubspot"]._deals)},
        "crm_writes": [r for r in sandboxes["hubspot"].requests if not r.startswith("GET ")],
        "executions": sorted(
            (e["name"], e["status"])
            for e in hub.cloud.client("stepfunctions").list_executions(
                stateMachineArn=hub.target.state_machine_arn, maxResults=1000
            )["executions"]
        ),
    }


def _logged(hub: Hub, function: str, *needles: str) -> int:
    """How many lines of a function's log hold every needle."""
    path = hub.cloud.logs_dir / f"{function}.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return sum(all(n in line for n in needles) for line in lines)


def test_replaying_a_day_books_nothing_twice(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    # a deal won the day before (outside the window)
    _, earlier = won(hub, name="Hooli - won the day before")
    wait_until(hub, earlier, state="WaitForPaymentMethod")
    hub.settle()
    time.sleep(2)
    start = datetime.now(UTC) - timedelta(seconds=1)
    # a day's business: a deal won, paid, then partly refunded through the hub and booked in the ERP
    deal_id, name = won(hub, name="Umbrella - replayed day")
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")
    [intent] = intents_of(hub, deal_id)
    assert main(["refund", intent["id"], "--amount", "100.00"]) == 0
    deadline = time.monotonic() + 60
    while "RefundBooked" not in [e.detail_type for e in trace(hub.target, intent["id"])]:
        assert time.monotonic() < deadline, "the refund was not booked"
        time.sleep(0.5)
    hub.settle()
    end = datetime.now(UTC) + timedelta(seconds=2)
    before = _books(hub)
    [refund] = [r for r in before["stripe"]["refunds"] if r["payment_intent"] == intent["id"]]
    assert [r["amount"] for r in before["stripe"]["refunds"] if r["payment_intent"] == intent["id"]] == [
        10000
    ]
    dead_letters = {c: hub.dlq_depth(c) for c in ("LineageRecorder", "RefundBooker", "QuoteToCashStarter")}
    events = hub.cloud.client("events")
    # the shared cloud may hold other tests' replays (the operator-policy flow runs `o2c replay` too)
    earlier_replays = {
        r["ReplayName"] for r in events.list_replays(NamePrefix=hub.target.event_bus_name)["Replays"]
    }

    def seen() -> tuple[int, int, int]:
        """What the consumers logged: wins recorded in the lineage, this refund booked, RefundBooked recorded."""
        return (
            _logged(hub, "LineageRecorder", "event recorded", "OpportunityClosedWon"),
            _logged(hub, "RefundBooker", "event handled", refund["id"]),
            _logged(hub, "LineageRecorder", "event recorded", "RefundBooked"),
        )

    wins, booked, recorded = seen()
    assert booked >= 1 and recorded >= 1
    capsys.readouterr()

    # When the whole window is replayed, to every consumer
    window = ["--from", start.isoformat(), "--to", end.isoformat()]
    assert main(["replay", *window]) == 0
    out = capsys.readouterr().out
    assert ": COMPLETED — events from" in out and out.endswith("to every consumer\n"), out
    hub.settle()
    time.sleep(2)  # a wait a replayed fact might resume, a webhook a sandbox might send
    hub.settle()
    # every consumer got the window's events again (the day-before win is not in it), and did nothing twice
    wins_1, booked_1, recorded_1 = seen()
    assert (wins_1, booked_1) == (wins + 1, 2 * booked) and recorded_1 > recorded
    assert _books(hub) == before

    # When the refund facts are replayed to the ERP booker alone
    assert main(["replay", *window, "--type", "RefundSucceeded", "--consumer", "RefundBooker"]) == 0
    assert capsys.readouterr().out.endswith("to RefundBooker\n")
    hub.settle()
    time.sleep(2)
    hub.settle()
    # only the booker got them, and booked nothing again
    assert seen() == (wins_1, 3 * booked, recorded_1)
    after = _books(hub)
    for part in before:
        assert after[part] == before[part], part
    replays = [
        r
        for r in events.list_replays(NamePrefix=hub.target.event_bus_name)["Replays"]
        if r["ReplayName"] not in earlier_replays
    ]
    assert [r["State"] for r in replays] == ["COMPLETED", "COMPLETED"]
    assert all(start <= r["EventLastReplayedTime"] <= end for r in replays)
    assert {c: hub.dlq_depth(c) for c in dead_letters} == dead_letters
