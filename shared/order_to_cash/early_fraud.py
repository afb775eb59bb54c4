"""An early fraud warning (Stripe Radar, ``radar.early_fraud_warning.created``) on a captured payment: a CRM
task for the deal's owner, and, when the stage setting ``REFUND_ON_EARLY_FRAUD_WARNING`` is ``true`` and Stripe
says the warning is ``actionable`` (not refunded, not disputed), one full refund asked through the hub's refund
path (``RefundRequested``, request id ``efw-<issfr_...>``, Stripe reason ``fraudulent``), booked in the ERP when
Stripe confirms it. Each of the two is done at most once per warning."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.order_to_cash.bookings import CrmFor, NotOurs, deal_of, known
from shared.order_to_cash.ports import Payments

if TYPE_CHECKING:
    from shared.events.fraud import EarlyFraudWarningCreated


def refund_on_early_fraud_warning(raw: str | None = None) -> bool:
    """The stage setting ``REFUND_ON_EARLY_FRAUD_WARNING`` (default off)."""
    value = raw if raw is not None else os.environ.get("REFUND_ON_EARLY_FRAUD_WARNING", "false")
    return value.strip().lower() in {"true", "1", "yes", "on"}


def record_early_fraud_warning(
    payments: Payments,
    crm_for: CrmFor,
    warning: EarlyFraudWarningCreated,
    once: Callable[[str, Callable[[], str]], str],
    *,
    refund: bool,
    request_refund: Callable[[str, str, str], None],
) -> dict[str, Any]:
    """An early fraud warning on a captured payment: a task for the deal's owner (when the payment is a
    deal's) and, with ``refund`` and an ``actionable`` warning, one full refund asked through
    ``request_refund(request_id, payment_intent_id, correlation_id)``. ``once(key, act)`` runs each at most
    once per warning (again if it failed), so a redelivered warning asks for nothing more. ``NotOurs`` when
    the warning names no payment the platform knows."""
    from datetime import UTC, datetime, timedelta

    warning_id = warning.earlyFraudWarningId
    payment_intent_id = warning.paymentIntentId
    if not payment_intent_id:
        raise NotOurs(f"early fraud warning {warning_id} is not on a payment intent")
    intent = known(payments.retrieve_payment_intent, str(payment_intent_id))
    metadata = intent.get("metadata") or {}
    deal = deal_of(metadata)
    correlation_id = str(metadata.get("o2c_correlation_id") or "") or None
    actionable = warning.actionable
    fraud_type = warning.fraudType or "misc"
    task_id = None
    if deal is not None:
        crm, deal_id = deal
        due = datetime.now(UTC) + timedelta(days=1)
        task_id = once(
            f"efw-task:{warning_id}",
            lambda: crm_for(crm).create_task(
                deal_id,
                subject=f"Early fraud warning on payment {payment_intent_id} ({fraud_type})",
                body=(
                    f"The card issuer reported payment {payment_intent_id} (charge {warning.chargeId}) as "
                    f"possibly fraudulent ({fraud_type}). "
                    + (
                        "The hub refunds it in full to prevent a chargeback."
                        if refund and actionable
                        else "Decide whether to refund it before it becomes a dispute."
                        if actionable
                        else "Stripe says it is no longer actionable (refunded or disputed already)."
                    )
                ),
                due=due,
                owner_id=None,
                idempotency_key=f"o2c-efw-{warning_id}",
            ),
        )
    request_id = None
    if refund and actionable:
        request_id = f"efw-{warning_id}"

        def ask() -> str:
            request_refund(request_id, str(payment_intent_id), correlation_id or "")
            return request_id

        once(f"efw-refund:{warning_id}", ask)
    return {
        "earlyFraudWarningId": warning_id,
        "paymentIntentId": payment_intent_id,
        "actionable": actionable,
        "crmTaskId": task_id,
        "refundRequestId": request_id,
        "opportunityId": deal[1] if deal else None,
    }
