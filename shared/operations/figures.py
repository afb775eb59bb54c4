"""The business figures of the order-to-cash process, computed from what the hub and its vendors hold.

One module for every reader: the ``OperationsSweep`` function publishes them as CloudWatch metrics every few
minutes (``shared.operations.emit``), and an operations console shows the same numbers from the same
functions. Each figure has two halves:

- a **reader** that takes a boto3 client (or a connector) and returns the raw items — the only code here
  that calls out: ``open_executions`` (Step Functions ``ListExecutions`` + ``GetExecutionHistory``),
  ``dead_letter_depths`` (SQS ``GetQueueAttributes``), ``recent_disputes`` (Stripe ``GET /v1/disputes``);
  pending facts are read with ``shared.order_to_cash.pending.PendingFacts.all`` (one DynamoDB ``Scan``);
- a **pure** function that takes those items and a clock (``now``, epoch seconds) and returns a frozen
  dataclass of plain numbers: ``order_aging``, ``pending_figures``, ``refunds_waiting``, ``dispute_figures``.

Every figure's definition (what is counted, from when to when) is in the README's *Business metrics* table;
keep the two together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.order_to_cash.pending import Parked

#: Age buckets of open executions (upper bound exclusive, seconds): the dashboard's aging histogram.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under_1h", 3600.0),
    ("1h_to_1d", 86_400.0),
    ("1d_to_7d", 7 * 86_400.0),
    ("over_7d", math.inf),
)
#: Stripe dispute statuses in which the dispute is still open (Stripe API reference, ``dispute.status``).
OPEN_DISPUTE_STATUSES = frozenset(
    {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}
)
#: Statuses in which Stripe waits for the merchant's evidence (``evidence_details.due_by`` applies).
EVIDENCE_NEEDED_STATUSES = frozenset({"warning_needs_response", "needs_response"})
#: Evidence due within this long counts as "due soon" (the dashboard's attention figure).
EVIDENCE_DUE_SOON_S = 3 * 86_400.0
#: Disputes created this long ago or less are read: longer than card networks take to decide a dispute
#: under review (up to about 75 days), so an open dispute is never left out.
DISPUTE_LOOKBACK_S = 180 * 86_400.0
#: The detail type of the facts that are refunds waiting to be booked in the ERP.
REFUND_FACT = "RefundSucceeded"


def age_bucket(age_s: float) -> str:
    """The ``AGE_BUCKETS`` label an age (seconds) falls in."""
    for label, upper in AGE_BUCKETS:
        if age_s < upper:
            return label
    return AGE_BUCKETS[-1][0]


# --- order aging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenExecution:
    """A quote-to-cash execution still running: the deal's name, the state it is in, when it started."""

    name: str
    state: str
    started_at: float


@dataclass(frozen=True)
class StateAging:
    """Open executions in one state: how many, the oldest's age, and how many per ``AGE_BUCKETS`` label."""

    state: str
    count: int
    oldest_age_s: float
    buckets: Mapping[str, int]


@dataclass(frozen=True)
class OrderAging:
    """Every open execution, by state (sorted by name of state) and by age bucket over all states."""

    open: int
    oldest_age_s: float
    buckets: Mapping[str, int]
    by_state: tuple[StateAging, ...]


def _bucket_counts(ages: Iterable[float]) -> dict[str, int]:
    counts = {label: 0 for label, _ in AGE_BUCKETS}
    for age in ages:
        counts[age_bucket(age)] += 1
    return counts


def order_aging(executions: Iterable[OpenExecution], now: float) -> OrderAging:
    """Open executions by state and age (since the execution started, i.e. since the hub received the won
    deal)."""
    by_state: dict[str, list[float]] = {}
    for execution in executions:
        by_state.setdefault(execution.state, []).append(max(0.0, now - execution.started_at))
    every_age = [age for ages in by_state.values() for age in ages]
    return OrderAging(
        open=len(every_age),
        oldest_age_s=max(every_age, default=0.0),
        buckets=_bucket_counts(every_age),
        by_state=tuple(
            StateAging(state=state, count=len(ages), oldest_age_s=max(ages), buckets=_bucket_counts(ages))
            for state, ages in sorted(by_state.items())
        ),
    )


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def current_state(stepfunctions: Any, execution_arn: str) -> str:
    """The state an execution is in: the latest ``…StateEntered`` event of its history, read newest first
    (one page in practice). Events are ordered by ``id``, so the highest id wins whatever order a page has."""
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": 100}
    while True:
        page = stepfunctions.get_execution_history(**kwargs)
        entered = [e for e in page["events"] if "stateEnteredEventDetails" in e]
        if entered:
            return str(max(entered, key=lambda e: int(e["id"]))["stateEnteredEventDetails"]["name"])
        if not page.get("nextToken"):
            return "NotStarted"
        kwargs["nextToken"] = page["nextToken"]


def open_executions(stepfunctions: Any, state_machine_arn: str) -> list[OpenExecution]:
    """Every RUNNING execution of the state machine, with the state it is in (reader)."""
    found: list[OpenExecution] = []
    kwargs: dict[str, Any] = {
        "stateMachineArn": state_machine_arn,
        "statusFilter": "RUNNING",
        "maxResults": 1000,
    }
    while True:
        page = stepfunctions.list_executions(**kwargs)
        for execution in page["executions"]:
            found.append(
                OpenExecution(
                    name=execution["name"],
                    state=current_state(stepfunctions, execution["executionArn"]),
                    started_at=_epoch(execution["startDate"]),
                )
            )
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


# --- facts waiting for another fact ------------------------------------------------------------


@dataclass(frozen=True)
class KindWaiting:
    """Facts of one detail type waiting: how many and the oldest's age (since it first waited)."""

    kind: str
    count: int
    oldest_age_s: float


@dataclass(frozen=True)
class PendingFigures:
    waiting: int
    oldest_age_s: float
    by_kind: tuple[KindWaiting, ...] = field(default=())


def _age(parked: Parked, now: float) -> float:
    return max(0.0, now - (parked.first_parked_at or parked.parked_at))


def pending_figures(items: Iterable[Parked], now: float) -> PendingFigures:
    """Facts parked in the ``PendingTable`` and still waiting (not released since parked), by detail type."""
    by_kind: dict[str, list[float]] = {}
    for parked in items:
        if parked.waiting:
            by_kind.setdefault(parked.detail_type, []).append(_age(parked, now))
    ages = [a for kind_ages in by_kind.values() for a in kind_ages]
    return PendingFigures(
        waiting=len(ages),
        oldest_age_s=max(ages, default=0.0),
        by_kind=tuple(
            KindWaiting(kind=kind, count=len(kind_ages), oldest_age_s=max(kind_ages))
            for kind, kind_ages in sorted(by_kind.items())
        ),
    )


@dataclass(frozen=True)
class RefundsWaiting:
    """Refunds Stripe confirmed that the ERP has not booked yet because they wait for another fact."""

    count: int
    oldest_age_s: float


def refunds_waiting(pending: PendingFigures) -> RefundsWaiting:
    """The refunds among the waiting facts (``RefundSucceeded`` parked until its invoice's payment is in the
    ERP)."""
    for kind in pending.by_kind:
        if kind.kind == REFUND_FACT:
            return RefundsWaiting(count=kind.count, oldest_age_s=kind.oldest_age_s)
    return RefundsWaiting(count=0, oldest_age_s=0.0)


# --- disputes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeFigures:
    """Open disputes (Stripe's statuses in ``OPEN_DISPUTE_STATUSES``), those still needing evidence, how
    many of those are due within ``EVIDENCE_DUE_SOON_S`` or past due, and the time to the next due date
    (negative if one is past due; ``None`` when nothing needs evidence)."""

    open: int
    evidence_needed: int
    evidence_due_soon: int
    evidence_past_due: int
    next_evidence_due_in_s: float | None


def recent_disputes(payments: Any, now: float) -> list[dict[str, Any]]:
    """Stripe's disputes created in the last ``DISPUTE_LOOKBACK_S`` (reader; ``payments`` is a
    ``shared.outbound.stripe_payments.StripePayments``)."""
    return list(payments.list_disputes(created_since=int(now - DISPUTE_LOOKBACK_S)))


def dispute_figures(disputes: Iterable[Mapping[str, Any]], now: float) -> DisputeFigures:
    """From Stripe dispute objects (``GET /v1/disputes`` items, or the ``DisputeOpened`` facts' data mapped to
    ``status`` and ``evidence_details.due_by``)."""
    open_count = needed = soon = past = 0
    next_due: float | None = None
    for dispute in disputes:
        status = str(dispute.get("status"))
        if status not in OPEN_DISPUTE_STATUSES:
            continue
        open_count += 1
        due_by = (dispute.get("evidence_details") or {}).get("due_by")
        if status not in EVIDENCE_NEEDED_STATUSES or due_by is None:
            continue
        needed += 1
        due_in = float(due_by) - now
        past += due_in < 0
        soon += 0 <= due_in < EVIDENCE_DUE_SOON_S
        next_due = due_in if next_due is None else min(next_due, due_in)
    return DisputeFigures(open_count, needed, soon, past, next_due)


# --- dead letters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterDepth:
    """Messages in one dead-letter queue (visible + in flight: a message being inspected still counts)."""

    queue: str
    messages: int


def dead_letter_depths(sqs: Any, queue_urls: Mapping[str, str]) -> tuple[DeadLetterDepth, ...]:
    """The depth of every dead-letter queue named in ``queue_urls`` (name → URL), sorted by name (reader)."""
    depths = []
    for name, url in sorted(queue_urls.items()):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths.append(
            DeadLetterDepth(
                queue=name,
                messages=int(attributes["ApproximateNumberOfMessages"])
                + int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            )
        )
    return tuple(depths)


# --- all of it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What the sweep publishes (and a console shows), read at ``at`` (epoch seconds)."""

    at: float
    orders: OrderAging
    pending: PendingFigures
    refunds: RefundsWaiting
    dead_letters: tuple[DeadLetterDepth, ...]
    disputes: DisputeFigures | None = None


def read_figures(
    *,
    stepfunctions: Any,
    state_machine_arn: str,
    pending_items: Iterable[Parked],
    sqs: Any,
    dead_letter_queue_urls: Mapping[str, str],
    disputes: Iterable[Mapping[str, Any]] | None = None,
    now: float,
) -> Figures:
    """Read and compute every figure at once (what the ``OperationsSweep`` publishes)."""
    pending = pending_figures(pending_items, now)
    return Figures(
        at=now,
        orders=order_aging(open_executions(stepfunctions, state_machine_arn), now),
        pending=pending,
        refunds=refunds_waiting(pending),
        dead_letters=dead_letter_depths(sqs, dead_letter_queue_urls),
        disputes=dispute_figures(disputes, now) if disputes is not None else None,
    )
