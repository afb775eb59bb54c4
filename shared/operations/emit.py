"""The business metrics as CloudWatch Embedded Metric Format lines (Powertools Metrics, namespace ``O2CHub``).

Two kinds:

- **facts**, recorded by the function where the fact happens (``deal_paid``, ``payment_attempted``,
  ``reconciliation_exceptions``): one data point per deal, payment attempt or exception, so CloudWatch
  computes sums, rates and percentiles (p50/p95 of time to cash) over any period;
- **gauges**, the state of the process at one moment (``publish_figures``), published by the
  ``OperationsSweep`` from ``shared.operations.figures``.

Each metric set carries the dimensions named here plus Powertools' ``service`` (the emitting function's
service name, as every metric of the hub). The names, dimensions and emitting services are a contract with
``infra/constructs/dashboard.py`` (``BUSINESS_METRICS``) and the README's metric table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shared.operations.figures import Figures

NAMESPACE = "O2CHub"

# facts
TIME_TO_CASH = "TimeToCash"
CARD_SAVED_TO_PAID = "CardSavedToPaid"
INVOICE_TO_PAYMENT_LAG = "InvoicePostedToPaymentApplied"
CAPTURE_TO_ERP_LAG = "CapturedToErpApplied"
DEALS_PAID = "DealsPaid"
PAYMENT_ATTEMPTS = "PaymentAttempts"
PAYMENT_FAILURES = "PaymentFailures"
RECONCILIATION_EXCEPTIONS = "ReconciliationExceptions"
# gauges
OPEN_ORDERS = "OpenOrders"
OLDEST_OPEN_ORDER_AGE = "OldestOpenOrderAge"
PENDING_FACTS = "PendingFacts"
OLDEST_PENDING_FACT_AGE = "OldestPendingFactAge"
REFUNDS_WAITING = "RefundsWaitingToBeBooked"
OLDEST_REFUND_WAITING_AGE = "OldestRefundWaitingAge"
DISPUTES_OPEN = "DisputesOpen"
DISPUTE_EVIDENCE_DUE_SOON = "DisputeEvidenceDueSoon"
DISPUTE_EVIDENCE_PAST_DUE = "DisputeEvidencePastDue"
DEAD_LETTERS = "DeadLetterMessages"


def _put(
    name: str,
    value: float,
    unit: MetricUnit,
    dimensions: Mapping[str, str] | None = None,
    execution: str | None = None,
) -> None:
    """One EMF line with these dimensions (and ``service``); none: the metric's total. ``execution`` (the
    deal's execution name) is a property of the line, not a dimension: Logs Insights finds a deal's data
    points by it, and it costs no metric."""
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        for key, dim in (dimensions or {}).items():
            metric.add_dimension(name=key, value=dim)
        if execution:
            metric.add_metadata(key="execution", value=execution)


def seconds_between(start: str | float | None, end: float) -> float | None:
    """Seconds from ``start`` (an ISO 8601 timestamp or epoch seconds; None: unknown) to ``end`` (epoch)."""
    if start is None or start == "":
        return None
    begun = (
        float(start)
        if isinstance(start, int | float)
        else datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp()
    )
    return max(0.0, end - begun)


def deal_paid(
    *,
    execution: str | None,
    paid_at: float,
    won_at: str | float | None,
    card_saved_at: str | float | None,
    invoice_posted_at: str | float | None,
    captured_at: str | float | None,
) -> dict[str, float]:
    """A deal's payment is applied to its ERP invoice: one data point of each duration known (seconds);
    returns them (for the log line)."""
    durations = {
        TIME_TO_CASH: seconds_between(won_at, paid_at),
        CARD_SAVED_TO_PAID: seconds_between(card_saved_at, paid_at),
        INVOICE_TO_PAYMENT_LAG: seconds_between(invoice_posted_at, paid_at),
        CAPTURE_TO_ERP_LAG: seconds_between(captured_at, paid_at),
    }
    _put(DEALS_PAID, 1, MetricUnit.Count, execution=execution)
    known = {name: value for name, value in durations.items() if value is not None}
    for name, value in known.items():
        _put(name, value, MetricUnit.Seconds, execution=execution)
    return known


def payment_attempted(*, provider: str, failure_reason: str | None, execution: str | None = None) -> None:
    """One charge attempt (an authorization) at ``provider``; ``failure_reason`` (the provider's decline or
    failure code) when it was declined or failed. Failures are counted twice: in total (for the rate,
    failures / attempts) and by reason."""
    _put(PAYMENT_ATTEMPTS, 1, MetricUnit.Count, {"provider": provider}, execution)
    if failure_reason is None:
        return
    _put(PAYMENT_FAILURES, 1, MetricUnit.Count, {"provider": provider}, execution)
    _put(PAYMENT_FAILURES, 1, MetricUnit.Count, {"provider": provider, "reason": failure_reason}, execution)


def reconciliation_exceptions(kinds: list[str]) -> None:
    """Exceptions a reconciliation (or a payout's deposit) found: one data point per exception, total and by
    kind. A run with none records a 0, so the dashboard shows that reconciliation ran."""
    _put(RECONCILIATION_EXCEPTIONS, len(kinds), MetricUnit.Count)
    for kind in sorted(set(kinds)):
        _put(RECONCILIATION_EXCEPTIONS, kinds.count(kind), MetricUnit.Count, {"kind": kind})


def publish_figures(figures: Figures) -> int:
    """The sweep's gauges; returns how many data points were written."""
    points: list[tuple[str, float, MetricUnit, dict[str, str]]] = [
        (OPEN_ORDERS, figures.orders.open, MetricUnit.Count, {}),
        (OLDEST_OPEN_ORDER_AGE, figures.orders.oldest_age_s, MetricUnit.Seconds, {}),
        (PENDING_FACTS, figures.pending.waiting, MetricUnit.Count, {}),
        (OLDEST_PENDING_FACT_AGE, figures.pending.oldest_age_s, MetricUnit.Seconds, {}),
        (REFUNDS_WAITING, figures.refunds.count, MetricUnit.Count, {}),
        (OLDEST_REFUND_WAITING_AGE, figures.refunds.oldest_age_s, MetricUnit.Seconds, {}),
        (DEAD_LETTERS, sum(d.messages for d in figures.dead_letters), MetricUnit.Count, {}),
    ]
    for label, count in figures.orders.buckets.items():
        points.append((OPEN_ORDERS, count, MetricUnit.Count, {"age": label}))
    for state in figures.orders.by_state:
        points.append((OPEN_ORDERS, state.count, MetricUnit.Count, {"state": state.state}))
        points.append((OLDEST_OPEN_ORDER_AGE, state.oldest_age_s, MetricUnit.Seconds, {"state": state.state}))
        for label, count in state.buckets.items():
            points.append((OPEN_ORDERS, count, MetricUnit.Count, {"state": state.state, "age": label}))
    for kind in figures.pending.by_kind:
        points.append((PENDING_FACTS, kind.count, MetricUnit.Count, {"kind": kind.kind}))
        points.append((OLDEST_PENDING_FACT_AGE, kind.oldest_age_s, MetricUnit.Seconds, {"kind": kind.kind}))
    for depth in figures.dead_letters:
        points.append((DEAD_LETTERS, depth.messages, MetricUnit.Count, {"queue": depth.queue}))
    if figures.disputes is not None:
        points += [
            (DISPUTES_OPEN, figures.disputes.open, MetricUnit.Count, {}),
            (DISPUTE_EVIDENCE_DUE_SOON, figures.disputes.evidence_due_soon, MetricUnit.Count, {}),
            (DISPUTE_EVIDENCE_PAST_DUE, figures.disputes.evidence_past_due, MetricUnit.Count, {}),
        ]
    for name, value, unit, dimensions in points:
        _put(name, value, unit, dimensions)
    return len(points)
