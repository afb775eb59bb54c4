"""Three-way reconciliation of one day, run daily by EventBridge Scheduler and on demand (``o2c reconcile``):
CRM deal ↔ ERP order/invoice/credit memos/deposits ↔ Stripe intents/refunds/payouts. Every exception is
published as a ``ReconciliationException``; the report is returned to the caller."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.aws import client
from shared.events.after_sale import ReconciliationException
from shared.lineage import LineageStore
from shared.money import Money
from shared.observability import logger, metrics, tracer
from shared.operations import emit
from shared.order_to_cash.facts import publish
from shared.order_to_cash.reconciliation import reconcile
from shared.outbound.factories import netsuite_erp, stripe_payments


def facts_of(store: LineageStore, day: date) -> list[dict[str, Any]]:
    """The day's won deals and payouts, with every later fact of the same flows."""
    anchors = store.entries_on(day.isoformat(), {"OpportunityClosedWon", "PayoutPaid"})
    facts: dict[str, Any] = {}
    for anchor in anchors:
        key = anchor.data.get("opportunityId") or anchor.data.get("payoutId")
        for entry in store.trace(str(key)):
            facts[entry.event_id] = {
                "detailType": entry.detail_type,
                "occurredAt": entry.occurred_at,
                "data": entry.data,
            }
    return list(facts.values())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    day = (
        date.fromisoformat(event["date"])
        if event.get("date")
        else (datetime.now(UTC) - timedelta(days=1)).date()
    )
    logger.set_correlation_id(f"reconciliation:{day.isoformat()}")
    store = LineageStore(client("dynamodb"), os.environ["LINEAGE_TABLE_NAME"])
    report = reconcile(day, facts_of(store, day), erp=netsuite_erp(), payments=stripe_payments())
    if event.get("publish", True):
        emit.reconciliation_exceptions([m.kind for m in report.mismatches])
        for m in report.mismatches:
            publish(
                ReconciliationException(
                    kind=m.kind,
                    detail=m.detail,
                    day=day,
                    opportunityId=m.opportunityId,
                    erpOrderId=m.erpOrderId,
                    erpInvoiceId=m.erpInvoiceId,
                    paymentIntentId=m.paymentIntentId,
                    payoutId=m.payoutId,
                    expected=Money.model_validate(m.expected) if m.expected else None,
                    actual=Money.model_validate(m.actual) if m.actual else None,
                ),
                correlation_id=f"reconciliation:{day.isoformat()}",
                causation_id=None,
            )
    logger.info("reconciled", extra={"day": day.isoformat(), "exceptions": len(report.mismatches)})
    return report.as_dict()
