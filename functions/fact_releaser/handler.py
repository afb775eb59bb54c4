"""Facts that waited for another fact go back on the bus when it arrives (``shared.order_to_cash.pending``).

From its queue: ``InvoicePaid`` / ``RenewalInvoiced`` (a payment is applied in the ERP) and
``DisputeRecorded`` release the refunds, disputes, payouts and dispute outcomes parked for them. Hourly
(EventBridge Scheduler, or ``o2c pending release``): every event parked longer than ``min_age_s`` is put
back on the bus, and how many still wait, and the oldest's age, are published as metrics (alarmed)."""

from __future__ import annotations

from typing import Any

from shared.consumers import Consumer, Delivered, consumer
from shared.observability import MetricUnit, lambda_entry, logger, metrics
from shared.order_to_cash.pending import RELEASED_BY, PendingFacts, released_keys


def release(event: Delivered[Any]) -> None:
    pending = PendingFacts.from_env()
    for key in released_keys(event.data):
        released = pending.release(pending.waiting_for(key))
        if released:
            logger.info("released waiting facts", extra={"awaiting": key, "released": released})


RELEASES = Consumer("FactReleaser", handles=dict.fromkeys(RELEASED_BY, release))

_on_queue = consumer(RELEASES)


def sweep(min_age_s: float) -> dict[str, Any]:
    """Put back on the bus every event parked for longer than ``min_age_s``; what still waits after."""
    import time

    pending = PendingFacts.from_env()
    items = list(pending.all())  # one scan serves both the settling and the release
    settled = pending.settle(items)
    waiting = [p for p in items if p.waiting]
    released = pending.release(p for p in waiting if time.time() - p.parked_at >= min_age_s)
    oldest = max((p.age_s for p in waiting), default=0.0)
    metrics.add_metric(name="FactsWaiting", unit=MetricUnit.Count, value=len(waiting))
    metrics.add_metric(name="OldestWaitingFactAge", unit=MetricUnit.Seconds, value=oldest)
    logger.info(
        "swept waiting facts", extra={"waiting": len(waiting), "released": released, "settled": settled}
    )
    return {
        "waiting": len(waiting),
        "released": released,
        "settled": settled,
        "oldestAgeSeconds": round(oldest),
    }


@lambda_entry
def _on_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sweep(float(event.get("minAgeSeconds", 300)))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batches (a fact arrived) or the scheduler's invocation (the sweep)."""
    if "Records" in event:
        return _on_queue(event, context)
    return _on_schedule(event, context)
