"""Three-way reconciliation of one day, run daily by EventBridge Scheduler and on demand (``o2c reconcile``):
CRM deal ↔ ERP order/invoice/credit memos/deposits ↔ Stripe intents/refunds/payouts. Every exception is
published as a ``ReconciliationException``; the report is returned to the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.aws import client
from shared.events.after_sale import ReconciliationException
from shared.lineage import LineageStore
from shared.money import Money
from shared.observability import lambda_entry, logger
from shared.operations import emit
from shared.order_to_cash.reconciliation import reconcile
from shared.outbound.factories import netsuite_erp, stripe_payments
from shared.publisher import emit as publish_fact
from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler

if TYPE_CHECKING:
    from shared.order_to_cash.ports import Erp, Payments


@dataclass(frozen=True)
class Settings(EnvSettings):
    lineage_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(lineage_table_name=env.required("LINEAGE_TABLE_NAME"))


@dataclass(frozen=True)
class Deps:
    """The ERP and Stripe clients (made on first use), the DynamoDB client the lineage is read with and how a
    ``ReconciliationException`` is published (the hub's bus)."""

    erp: Callable[[], Erp] = netsuite_erp
    payments: Callable[[], Payments] = stripe_payments
    dynamodb: Callable[[], Any] = lambda: client("dynamodb")
    publish: Callable[..., Any] = publish_fact


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


def reconcile_day(event: dict[str, Any], settings: Settings, deps: Deps) -> dict[str, Any]:
    day = (
        date.fromisoformat(event["date"])
        if event.get("date")
        else (datetime.now(UTC) - timedelta(days=1)).date()
    )
    logger.set_correlation_id(f"reconciliation:{day.isoformat()}")
    store = LineageStore(deps.dynamodb(), settings.lineage_table_name)
    report = reconcile(day, facts_of(store, day), erp=deps.erp(), payments=deps.payments())
    if event.get("publish", True):
        emit.reconciliation_exceptions([m.kind for m in report.mismatches])
        for m in report.mismatches:
            deps.publish(
                ReconciliationException(
                    kind=m.kind,
                    detail=m.detail,
                    day=day,
                    opportunityId=m.opportunityId,
                    erpOrderId=m.erpOrderId,
                    erpInvoiceId=m.erpInvoiceId,
                    paymentIntentId=m.paymentIntentId,
                    payoutId=m.payoutId,
                    expected=Money.parse(m.expected) if m.expected else None,
                    actual=Money.parse(m.actual) if m.actual else None,
                ),
                correlation_id=f"reconciliation:{day.isoformat()}",
                causation_id=None,
            )
    logger.info("reconciled", extra={"day": day.isoformat(), "exceptions": len(report.mismatches)})
    return report.as_dict()


def make_handler(settings: Settings, deps: Deps | None = None) -> LambdaHandler:
    the_deps = deps or Deps()

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return reconcile_day(event, settings, the_deps)

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
