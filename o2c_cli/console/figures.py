"""The business figures the console shows, computed from what the stack's tables and APIs hold.

The console does not compute a figure of its own: every number on the page comes from here, and this module
only adapts the inputs the console has read (executions, lineage facts, parked facts, DLQ depths) to the
hub's business-figures module when it is there (``shared.operations.figures``), so the page and the
metrics the hub emits agree by construction.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Open deals are counted in these age buckets (upper bound in seconds, label).
AGE_BUCKETS: tuple[tuple[float, str], ...] = (
    (5 * 60, "< 5 min"),
    (3600, "5 min - 1 h"),
    (24 * 3600, "1 h - 1 day"),
    (7 * 24 * 3600, "1 - 7 days"),
    (math.inf, "> 7 days"),
)


@dataclass(frozen=True)
class OpenDeal:
    state: str
    age_s: float


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


def order_aging(open_deals: Iterable[OpenDeal]) -> dict[str, Any]:
    """Open executions by state and age bucket, and the oldest per state."""
    labels = [label for _, label in AGE_BUCKETS]
    by_state: dict[str, list[int]] = defaultdict(lambda: [0] * len(AGE_BUCKETS))
    oldest: dict[str, float] = {}
    for deal in open_deals:
        index = next(i for i, (bound, _) in enumerate(AGE_BUCKETS) if deal.age_s < bound)
        by_state[deal.state][index] += 1
        oldest[deal.state] = max(oldest.get(deal.state, 0.0), deal.age_s)
    return {"buckets": labels, "byState": dict(sorted(by_state.items())), "oldestS": oldest}


def time_to_cash(durations_s: Iterable[float]) -> dict[str, Any]:
    """Won → paid (the execution's start to its Paid end), p50 and p95."""
    values = list(durations_s)
    return {"count": len(values), "p50S": percentile(values, 50), "p95S": percentile(values, 95)}


def _bucket_width(times: Sequence[float]) -> float:
    """A bucket width (60 s .. 1 day) that cuts the span of ``times`` into about 24 buckets."""
    span = (max(times) - min(times)) if times else 0.0
    for width in (60, 300, 900, 3600, 6 * 3600, 24 * 3600):
        if span / width <= 24:
            return float(width)
    return 24 * 3600.0


def payment_failure_rate(facts: Iterable[Any]) -> dict[str, Any]:
    """Failed payment attempts over attempts (``PaymentFailed`` / ``PaymentFailed`` + ``PaymentCaptured``),
    by the provider's reason (decline code, else failure code), and over time."""
    attempts: list[tuple[float, bool, str | None]] = []
    for fact in facts:
        if fact.detail_type == "PaymentCaptured":
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


def invoice_sync_lag(facts: Iterable[Any]) -> dict[str, Any]:
    """Stripe captured → ERP applied: per payment, ``PaymentCaptured`` to the ``InvoicePaid`` of the same
    payment intent; p50, p95, max and every point (capture time, lag)."""
    captured: dict[str, float] = {}
    applied: dict[str, float] = {}
    for fact in facts:
        intent = fact.data.get("paymentIntentId")
        if not isinstance(intent, str):
            continue
        if fact.detail_type == "PaymentCaptured":
            captured[intent] = min(captured.get(intent, math.inf), seconds(fact.occurred_at))
        elif fact.detail_type == "InvoicePaid":
            applied[intent] = min(applied.get(intent, math.inf), seconds(fact.occurred_at))
    points = sorted(
        (
            {"t": captured[i], "lagS": max(0.0, applied[i] - captured[i]), "paymentIntentId": i}
            for i in captured.keys() & applied.keys()
        ),
        key=lambda p: (p["t"], p["paymentIntentId"]),
    )
    lags = [p["lagS"] for p in points]
    return {
        "count": len(points),
        "p50S": percentile(lags, 50),
        "p95S": percentile(lags, 95),
        "maxS": max(lags) if lags else None,
        "unapplied": len(captured.keys() - applied.keys()),
        "points": points,
    }


def pending_ages(parked: Iterable[Any], now: float) -> dict[str, Any]:
    """Facts waiting for another fact: how many, the oldest's age, how many per awaited kind."""
    items = list(parked)
    ages = [max(0.0, now - (p.first_parked_at or p.parked_at)) for p in items]
    return {
        "count": len(items),
        "oldestS": max(ages) if ages else None,
        "byAwaiting": dict(Counter(p.awaiting.split(":", 1)[0] for p in items)),
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


def dlq_depth(statuses: Iterable[Any]) -> dict[str, Any]:
    by_queue = {s.consumer: s.depth for s in statuses}
    return {"total": sum(by_queue.values()), "byQueue": by_queue}
