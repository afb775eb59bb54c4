"""Quote-to-cash ERP steps: ensure customer, create sales order, invoice, apply payment, activate, cancel;
a failed bank debit's dunning (in and out)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from shared.observability import logger
from shared.operations import emit
from shared.order_to_cash import steps
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import netsuite_erp, stripe_payments


def ensure_customer(event: dict[str, Any]) -> dict[str, Any]:
    return steps.ensure_erp_customer(netsuite_erp(), opportunity_of(event), steps.subsidiaries_from_env())


def create_order(event: dict[str, Any]) -> dict[str, Any]:
    return steps.create_sales_order(netsuite_erp(), opportunity_of(event), event["customer"], event["tax"])


def create_invoice(event: dict[str, Any]) -> dict[str, Any]:
    # when the invoice was posted: the start of the invoice synchronization lag (``apply_payment``)
    return {**steps.create_invoice(netsuite_erp(), event["order"]), "postedAt": time.time()}


def apply_payment(event: dict[str, Any]) -> dict[str, Any]:
    payment_intent_id = event["authorization"]["paymentIntentId"]
    foreign = event["order"]["total"]["currency"] != event["customer"].get("subsidiaryCurrency")
    applied = steps.apply_payment(
        netsuite_erp(),
        event["customer"],
        event["invoice"],
        event["order"],
        payment_intent_id,
        # only a payment in another currency than the subsidiary's needs Stripe's exchange rate
        settlement=stripe_payments().settlement_of(payment_intent_id) if foreign else None,
        wallet=event["authorization"].get("wallet"),
    )
    # the deal is paid: time to cash and the synchronization lags, once per deal (a step that succeeded is
    # not run again)
    durations = emit.deal_paid(
        execution=event.get("execution"),
        paid_at=time.time(),
        won_at=event.get("startedAt"),
        card_saved_at=(event.get("method") or {}).get("savedAt"),
        invoice_posted_at=event["invoice"].get("postedAt"),
        captured_at=(event.get("captureConfirmation") or {}).get("capturedAt"),
    )
    logger.info("deal paid", extra={"durations": durations})
    return applied


def activate_order(event: dict[str, Any]) -> dict[str, Any]:
    netsuite_erp().release_sales_order(event["order"]["erpOrderId"])
    return {"status": "released"}


def cancel_order(event: dict[str, Any]) -> dict[str, Any]:
    order = event.get("order") or {}
    if not order.get("erpOrderId"):
        return {"status": "nothing_to_cancel"}
    netsuite_erp().cancel_sales_order(order["erpOrderId"])
    return {"status": "cancelled"}


def debit_dunning(event: dict[str, Any]) -> dict[str, Any]:
    return steps.start_debit_dunning(netsuite_erp(), event["customer"])


def leave_dunning(event: dict[str, Any]) -> dict[str, Any]:
    return steps.leave_dunning(netsuite_erp(), event["customer"])


def one_slot(step: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The step's NetSuite requests, sent one after another, share one slot of the ERP gate: taken at the
    first, given back when the step ends (two gate writes per step instead of two per request)."""

    @functools.wraps(step)
    def run(event: dict[str, Any]) -> dict[str, Any]:
        with netsuite_erp().session():
            return step(event)

    return run


lambda_handler = task_handler(
    {
        name: one_slot(step)
        for name, step in {
            "ensure_customer": ensure_customer,
            "create_order": create_order,
            "create_invoice": create_invoice,
            "apply_payment": apply_payment,
            "activate_order": activate_order,
            "cancel_order": cancel_order,
            "debit_dunning": debit_dunning,
            "leave_dunning": leave_dunning,
        }.items()
    }
)
