"""The business figures (shared.operations.figures) from items as the hub's tables and AWS hold them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.operations.figures import (
    DisputeFigures,
    OpenExecution,
    age_bucket,
    current_state,
    dispute_figures,
    open_executions,
    order_aging,
    pending_figures,
    refunds_waiting,
)
from shared.order_to_cash.pending import Parked

NOW = 1_800_000_000.0
HOUR, DAY = 3600.0, 86_400.0


def test_age_buckets_have_exclusive_upper_bounds() -> None:
    assert [age_bucket(a) for a in (0, HOUR - 1, HOUR, DAY, 7 * DAY - 1, 7 * DAY, 400 * DAY)] == [
        "under_1h",
        "under_1h",
        "1h_to_1d",
        "1d_to_7d",
        "1d_to_7d",
        "over_7d",
        "over_7d",
    ]


def test_order_aging_by_state_and_age() -> None:
    executions = [
        OpenExecution("hubspot-1", "WaitForPaymentMethod", NOW - 10),
        OpenExecution("hubspot-2", "WaitForPaymentMethod", NOW - 2 * DAY),
        OpenExecution("salesforce-3", "WaitForApproval", NOW - 3 * HOUR),
    ]
    aging = order_aging(executions, NOW)
    assert aging.open == 3 and aging.oldest_age_s == 2 * DAY
    assert aging.buckets == {"under_1h": 1, "1h_to_1d": 1, "1d_to_7d": 1, "over_7d": 0}
    approval, payment = aging.by_state
    assert (approval.state, approval.count, approval.oldest_age_s) == ("WaitForApproval", 1, 3 * HOUR)
    assert (payment.state, payment.count, payment.oldest_age_s) == ("WaitForPaymentMethod", 2, 2 * DAY)
    assert payment.buckets == {"under_1h": 1, "1h_to_1d": 0, "1d_to_7d": 1, "over_7d": 0}
    empty = order_aging([], NOW)
    assert (empty.open, empty.oldest_age_s, empty.by_state) == (0, 0.0, ())


class FakeStepFunctions:
    """ListExecutions pages and histories as Step Functions returns them (reverseOrder: newest first)."""

    def __init__(self, histories: dict[str, list[dict[str, Any]]], *, honours_reverse: bool) -> None:
        self.histories = histories
        self.honours_reverse = honours_reverse
        self.calls: list[dict[str, Any]] = []

    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["statusFilter"] == "RUNNING"
        names = sorted(self.histories)
        page = names[:1] if "nextToken" not in kwargs else names[1:]
        return {
            "executions": [
                {
                    "name": n,
                    "executionArn": f"arn:exec:{n}",
                    "startDate": datetime.fromtimestamp(NOW - HOUR, UTC),
                }
                for n in page
            ],
            **({"nextToken": "t"} if "nextToken" not in kwargs else {}),
        }

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        events = self.histories[kwargs["executionArn"].removeprefix("arn:exec:")]
        if self.honours_reverse and kwargs.get("reverseOrder"):
            events = list(reversed(events))
        return {"events": events}


def _history(*states: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"id": 1, "type": "ExecutionStarted"}]
    for state in states:
        events.append({"id": len(events) + 1, "stateEnteredEventDetails": {"name": state}})
        events.append({"id": len(events) + 1, "type": "TaskScheduled"})
    return events


@pytest.mark.parametrize("honours_reverse", [True, False], ids=["aws", "emulator-ignoring-reverseOrder"])
def test_open_executions_are_in_their_latest_state(honours_reverse: bool) -> None:
    sfn = FakeStepFunctions(
        {
            "hubspot-1": _history("ValidateAccount", "EnsureErpCustomer", "WaitForPaymentMethod"),
            "hubspot-2": _history("ValidateAccount", "HoldIncompleteAccount", "WaitForAccountFix"),
        },
        honours_reverse=honours_reverse,
    )
    found = open_executions(sfn, "arn:sm")
    assert [(e.name, e.state, e.started_at) for e in found] == [
        ("hubspot-1", "WaitForPaymentMethod", NOW - HOUR),
        ("hubspot-2", "WaitForAccountFix", NOW - HOUR),
    ]
    assert all(c["reverseOrder"] is True for c in sfn.calls)
    assert (
        current_state(FakeStepFunctions({"x": _history()}, honours_reverse=True), "arn:exec:x")
        == "NotStarted"
    )


def _parked(detail_type: str, first_parked_at: float, *, released_at: float | None = None) -> Parked:
    return Parked(
        awaiting="payment:pi_1",
        consumer="RefundBooker",
        event_id=f"e-{detail_type}-{first_parked_at}",
        detail_type=detail_type,
        reason="invoice not paid yet",
        parked_at=first_parked_at + 60,
        event={},
        first_parked_at=first_parked_at,
        released_at=released_at,
    )


def test_pending_figures_count_only_what_still_waits() -> None:
    items = [
        _parked("RefundSucceeded", NOW - 2 * DAY),
        _parked("RefundSucceeded", NOW - HOUR),
        _parked("PayoutPaid", NOW - 10 * DAY, released_at=NOW - 5),  # released since: not waiting
        _parked("DisputeOpened", NOW - 3 * HOUR),
    ]
    figures = pending_figures(items, NOW)
    assert figures.waiting == 3 and figures.oldest_age_s == 2 * DAY  # from when it first waited
    assert [(k.kind, k.count, k.oldest_age_s) for k in figures.by_kind] == [
        ("DisputeOpened", 1, 3 * HOUR),
        ("RefundSucceeded", 2, 2 * DAY),
    ]
    refunds = refunds_waiting(figures)
    assert (refunds.count, refunds.oldest_age_s) == (2, 2 * DAY)
    assert refunds_waiting(pending_figures([], NOW)).count == 0


def test_dispute_figures_from_stripe_disputes() -> None:
    def dispute(status: str, due_in: float | None) -> dict[str, Any]:
        details = {"due_by": int(NOW + due_in)} if due_in is not None else {}
        return {"object": "dispute", "status": status, "evidence_details": details}

    figures = dispute_figures(
        [
            dispute("needs_response", 5 * DAY),
            dispute("needs_response", DAY),  # due soon
            dispute("warning_needs_response", -HOUR),  # past due
            dispute("under_review", 2 * DAY),  # evidence given: open, nothing due
            dispute("won", DAY),
            dispute("lost", -DAY),
        ],
        NOW,
    )
    assert figures == DisputeFigures(
        open=4, evidence_needed=3, evidence_due_soon=1, evidence_past_due=1, next_evidence_due_in_s=-HOUR
    )
    assert dispute_figures([dispute("won", DAY)], NOW).next_evidence_due_in_s is None
