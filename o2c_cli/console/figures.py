"""The business figures the console shows.

The gauges — order aging, pending facts, refunds waiting, dead letters — are the hub's own
(``shared.operations.figures``, what the ``OperationsSweep`` publishes): the console passes them what it has
read and shows what they return, so the page and the dashboard agree by construction. The figures the hub
records as data points where the fact happens (``shared.operations.emit``: time to cash, payment attempts
and failures, capture → ERP lag) have no stored series a page can read on every target (CloudWatch has
them on AWS; the local cloud has none), so the console computes them here from the lineage, with the
same definitions.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.operations import figures as hub

#: How the page names the hub's age buckets.
BUCKET_LABELS = {
    "under_1h": "< 1 h",
    "1h_to_1d": "1 h - 1 day",
    "1d_to_7d": "1 - 7 days",
    "over_7d": "> 7 days",
}


def seconds(iso: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp (``Z`` or an offset)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def order_aging(open_deals: Iterable[hub.OpenExecution], now: float) -> dict[str, Any]:
    """The hub's order aging (open executions by state and age bucket, the oldest per state), for the page."""
    aging = hub.order_aging(open_deals, now)
    labels = [label for label, _ in hub.AGE_BUCKETS]
    return {
        "open": aging.open,
        "oldestS": aging.oldest_age_s,
        "buckets": [BUCKET_LABELS.get(label, label) for label in labels],
        "byState": {st.state: [st.buckets[label] for label in labels] for st in aging.by_state},
        "oldestByStateS": {st.state: st.oldest_age_s for st in aging.by_state},
    }


def time_to_cash(facts: Iterable[Any], started_at: Mapping[str, float]) -> dict[str, Any]:
    """Won → paid, as ``emit.TIME_TO_CASH``: from the execution's start (``started_at``: execution name →
    epoch seconds) to the payment applied to the ERP invoice (its ``InvoicePaid``); p50 and p95."""
    values = [
        max(0.0, seconds(f.occurred_at) - started_at[f.data["executionName"]])
        for f in facts
        if f.detail_type == "InvoicePaid" and f.data.get("executionName") in started_at
    ]
    return {"count": len(values), "p50S": percentile(values, 50), "p95S": percentile(values, 95)}


def _bucket_width(times: Sequence[float]) -> float:
    """A bucket width (60 s .. 1 day) that cuts the span of ``times`` into about 24 buckets."""
    span = (max(times) - min(times)) if times else 0.0
    for width in (60, 300, 900, 3600, 6 * 3600, 24 * 3600):
        if span / width <= 24:
            return float(width)
    return 24 * 3600.0


def payment_failure_rate(facts: Iterable[Any]) -> dict[str, Any]:
    """As ``emit.PAYMENT_ATTEMPTS`` / ``PAYMENT_FAILURES``: failed charge attempts over attempts, by the
    provider's reason (decline code, else failure code), and over time. From the lineage an attempt is an
    authorization: ``PaymentAuthorized`` (the card was authorized) or ``PaymentFailed`` (declined or
    failed)."""
    attempts: list[tuple[float, bool, str | None]] = []
    for fact in facts:
        if fact.detail_type == "PaymentAuthorized":
            attempts.append((seconds(fact.occurred_at), False, None))
        elif fact.detail_type == "PaymentFailed":
            reason = fact.data.get("declineCode") or fact.data.get("failureCode") or "unknown"
            attempts.append((seconds(fact.occurred_at), True, str(reason)))
    failures = [a for a in attempts if a[1]]
    series = []
    if attempts:
        width = _bucket_width([t for t, _, _ in attempts])
        buckets: dict[float, list[int]] = defaultdict(lambda: [0, 0])
        for t, failed, _ in attempts:
            bucket = buckets[math.floor(t / width) * width]
            bucket[0] += 1
            bucket[1] += int(failed)
        series = [
            {"t": t, "widthS": width, "attempts": a, "failures": f, "rate": f / a}
            for t, (a, f) in sorted(buckets.items())
        ]
    return {
        "attempts": len(attempts),
        "failures": len(failures),
        "rate": len(failures) / len(attempts) if attempts else None,
        "byReason": dict(Counter(str(r) for _, _, r in failures).most_common()),
        "series": series,
    }


def _lags(starts: Mapping[str, float], ends: Mapping[str, float], key: str) -> dict[str, Any]:
    points: list[dict[str, Any]] = sorted(
        (
            {"t": starts[k], "lagS": max(0.0, ends[k] - starts[k]), key: k}
            for k in starts.keys() & ends.keys()
        ),
        key=lambda p: (p["t"], p[key]),
    )
    lags = [float(p["lagS"]) for p in points]
    return {
        "count": len(points),
        "p50S": percentile(lags, 50),
        "p95S": percentile(lags, 95),
        "maxS": max(lags) if lags else None,
        "unapplied": len(starts.keys() - ends.keys()),
        "points": points,
    }


def invoice_sync_lag(facts: Iterable[Any]) -> dict[str, Any]:
    """The invoice synchronization lags, each with p50, p95, max and every point (start time, lag):

    - ``captured``: Stripe captured → ERP applied, as ``emit.CAPTURE_TO_ERP_LAG``: per payment, its
      ``PaymentCaptured`` (when Stripe captured it) to the ``InvoicePaid`` of the same payment intent;
    - ``posted``: ERP invoice posted → payment applied, as ``emit.INVOICE_TO_PAYMENT_LAG``: per invoice, its
      ``InvoicePosted`` (the ERP's webhook) to the ``InvoicePaid`` of the same ERP invoice.
    """
    captured: dict[str, float] = {}
    posted: dict[str, float] = {}
    paid_intent: dict[str, float] = {}
    paid_invoice: dict[str, float] = {}

    def first(into: dict[str, float], key: Any, at: str) -> None:
        if isinstance(key, str) and key:
            into[key] = min(into.get(key, math.inf), seconds(at))

    for fact in facts:
        if fact.detail_type == "PaymentCaptured":
            first(captured, fact.data.get("paymentIntentId"), fact.occurred_at)
        elif fact.detail_type == "InvoicePosted":
            first(posted, fact.data.get("erpInvoiceId"), fact.occurred_at)
        elif fact.detail_type == "InvoicePaid":
            first(paid_intent, fact.data.get("paymentIntentId"), fact.occurred_at)
            first(paid_invoice, fact.data.get("erpInvoiceId"), fact.occurred_at)
    return {
        "captured": _lags(captured, paid_intent, "paymentIntentId"),
        "posted": _lags(posted, paid_invoice, "erpInvoiceId"),
    }


def pending(parked: Iterable[Any], now: float) -> dict[str, Any]:
    """The hub's pending facts and refunds waiting to be booked."""
    figures = hub.pending_figures(parked, now)
    refunds = hub.refunds_waiting(figures)
    return {
        "count": figures.waiting,
        "oldestS": figures.oldest_age_s if figures.waiting else None,
        "byKind": {k.kind: k.count for k in figures.by_kind},
        "refundsWaiting": refunds.count,
        "oldestRefundS": refunds.oldest_age_s if refunds.count else None,
    }


def reconciliation_exceptions(facts: Iterable[Any]) -> dict[str, Any]:
    """``ReconciliationException`` facts by kind, for the latest day reconciled with exceptions."""
    by_day: dict[str, list[Any]] = defaultdict(list)
    for fact in facts:
        if fact.detail_type == "ReconciliationException":
            by_day[str(fact.data.get("day") or fact.occurred_at[:10])].append(fact)
    if not by_day:
        return {"count": 0, "day": None, "byKind": {}}
    day = max(by_day)
    return {
        "count": len(by_day[day]),
        "day": day,
        "byKind": dict(Counter(str(f.data.get("kind")) for f in by_day[day])),
    }


def disputes(facts: Iterable[Any], now: float) -> dict[str, Any]:
    """The hub's dispute figures over the disputes the lineage holds: each ``DisputeOpened`` (Stripe's
    status and evidence due date), closed by its ``DisputeClosed``."""
    by_id: dict[str, dict[str, Any]] = {}
    for fact in facts:
        dispute = fact.data.get("disputeId")
        if fact.detail_type == "DisputeOpened" and isinstance(dispute, str):
            due = fact.data.get("evidenceDueBy")
            by_id.setdefault(dispute, {}).update(
                status=by_id.get(dispute, {}).get("status") or fact.data.get("status"),
                evidence_details={"due_by": seconds(due) if isinstance(due, str) else None},
            )
        elif fact.detail_type == "DisputeClosed" and isinstance(dispute, str):
            by_id.setdefault(dispute, {})["status"] = str(fact.data.get("outcome"))
    figures = hub.dispute_figures(by_id.values(), now)
    return {
        "open": figures.open,
        "evidenceNeeded": figures.evidence_needed,
        "evidenceDueSoon": figures.evidence_due_soon,
        "evidencePastDue": figures.evidence_past_due,
        "nextEvidenceDueInS": figures.next_evidence_due_in_s,
    }


def dead_letters(sqs: Any, dlq_urls: Mapping[str, str]) -> dict[str, Any]:
    """The hub's dead-letter depths (visible + in flight), by consumer."""
    by_queue = {d.queue: d.messages for d in hub.dead_letter_depths(sqs, dlq_urls)}
    return {"total": sum(by_queue.values()), "byQueue": by_queue}
