"""The EMF lines of the business metrics: names, units, dimensions, one line per data point."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.operations import emit
from shared.operations.figures import (
    DeadLetterDepth,
    DisputeFigures,
    Figures,
    KindWaiting,
    OrderAging,
    PendingFigures,
    RefundsWaiting,
    StateAging,
)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def points(docs: list[dict[str, Any]]) -> set[tuple[str, float, frozenset[tuple[str, str]]]]:
    out = set()
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "O2CHub"
        ((name, unit),) = [(m["Name"], m["Unit"]) for m in directive["Metrics"]]
        (dims,) = directive["Dimensions"]
        durations = ("Age", "TimeToCash", "CardSavedToPaid", "Applied")
        assert unit == ("Seconds" if name.endswith(durations) else "Count"), (name, unit)
        out.add((name, doc[name][0], frozenset((d, doc[d]) for d in dims if d != "service")))
    return out


@pytest.fixture(autouse=True)
def service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "operations-sweep")


def test_the_sweep_publishes_each_gauge_in_total_and_by_its_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = Figures(
        at=0.0,
        orders=OrderAging(
            open=2,
            oldest_age_s=7200.0,
            buckets={"under_1h": 1, "1h_to_1d": 1, "1d_to_7d": 0, "over_7d": 0},
            by_state=(
                StateAging(
                    "WaitForApproval", 2, 7200.0, {"under_1h": 1, "1h_to_1d": 1, "1d_to_7d": 0, "over_7d": 0}
                ),
            ),
        ),
        pending=PendingFigures(1, 60.0, (KindWaiting("RefundSucceeded", 1, 60.0),)),
        refunds=RefundsWaiting(1, 60.0),
        dead_letters=(DeadLetterDepth("RefundBooker", 3), DeadLetterDepth("ReconcilerSchedule", 0)),
        disputes=DisputeFigures(
            open=2, evidence_needed=1, evidence_due_soon=1, evidence_past_due=0, next_evidence_due_in_s=10.0
        ),
    )
    written = emit.publish_figures(figures)
    docs = lines(capsys)
    assert written == len(docs)
    got = points(docs)
    for expected in [
        ("OpenOrders", 2, frozenset()),
        ("OpenOrders", 1, frozenset({("age", "under_1h")})),
        ("OpenOrders", 2, frozenset({("state", "WaitForApproval")})),
        ("OpenOrders", 1, frozenset({("state", "WaitForApproval"), ("age", "1h_to_1d")})),
        ("OldestOpenOrderAge", 7200.0, frozenset({("state", "WaitForApproval")})),
        ("PendingFacts", 1, frozenset({("kind", "RefundSucceeded")})),
        ("OldestPendingFactAge", 60.0, frozenset()),
        ("RefundsWaitingToBeBooked", 1, frozenset()),
        ("DeadLetterMessages", 3, frozenset()),
        ("DeadLetterMessages", 3, frozenset({("queue", "RefundBooker")})),
        ("DeadLetterMessages", 0, frozenset({("queue", "ReconcilerSchedule")})),
        ("DisputesOpen", 2, frozenset()),
        ("DisputeEvidenceDueSoon", 1, frozenset()),
    ]:
        assert expected in got, expected


def test_a_reconciliation_without_exceptions_still_writes_a_zero(capsys: pytest.CaptureFixture[str]) -> None:
    emit.reconciliation_exceptions([])
    assert points(lines(capsys)) == {("ReconciliationExceptions", 0, frozenset())}
    emit.reconciliation_exceptions(["amount_differs", "missing_in_erp", "amount_differs"])
    assert points(lines(capsys)) == {
        ("ReconciliationExceptions", 3, frozenset()),
        ("ReconciliationExceptions", 2, frozenset({("kind", "amount_differs")})),
        ("ReconciliationExceptions", 1, frozenset({("kind", "missing_in_erp")})),
    }


def test_a_paid_deal_writes_the_durations_it_knows(capsys: pytest.CaptureFixture[str]) -> None:
    durations = emit.deal_paid(
        execution="hubspot-1",
        paid_at=1_000.0,
        won_at="1970-01-01T00:00:00Z",
        card_saved_at=None,  # unknown: not written
        invoice_posted_at=900.0,
        captured_at="1970-01-01T00:16:30+00:00",
    )
    assert durations == {
        "TimeToCash": 1000.0,
        "InvoicePostedToPaymentApplied": 100.0,
        "CapturedToErpApplied": 10.0,
    }
    docs = lines(capsys)
    assert {doc["execution"] for doc in docs} == {"hubspot-1"}  # a property, not a dimension
    assert points(docs) == {
        ("DealsPaid", 1, frozenset()),
        ("TimeToCash", 1000.0, frozenset()),
        ("InvoicePostedToPaymentApplied", 100.0, frozenset()),
        ("CapturedToErpApplied", 10.0, frozenset()),
    }
