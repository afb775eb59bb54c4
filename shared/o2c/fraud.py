"""Fraud signals from Stripe Radar, and wallets, as the quote-to-cash flow reads them.

- **Risk on the authorization**: a charge Radar rates ``elevated`` or ``highest`` (``outcome.risk_level``)
  sends the order to the approval wait, whatever its amount, with the reason ``fraud_risk`` and Radar's level
  and score (``radar_of_authorization``).
- **Review**: a charge Radar placed in review (``charge.review``) holds the invoice and the capture until
  ``review.closed``: ``approved`` → the flow goes on; ``refunded``, ``refunded_as_fraud``, ``disputed`` (or
  any other closing) → the order is compensated (authorization voided, ERP order cancelled)
  (``review_outcome``, delivered by the PaymentSignals consumer under the wait key ``review:<prv_...>``).
- **Early fraud warning** on a captured payment: a CRM task for the deal's owner, and, when the stage setting
  ``REFUND_ON_EARLY_FRAUD_WARNING`` is ``true`` and Stripe says the warning is ``actionable`` (not refunded,
  not disputed), one full refund asked through the hub's refund path (``RefundRequested``, request id
  ``efw-<issfr_...>``, Stripe reason ``fraudulent``), booked in the ERP when Stripe confirms it
  (``record_early_fraud_warning``). Each of the two is done at most once per warning.
- **Wallets**: ``payment_method_details.card.wallet.type`` of the charge (``apple_pay``, ``google_pay``) is
  named in the ERP payment's memo and written to the CRM deal (``wallet_label``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

#: Radar's risk levels that send an order to a person, whatever its amount.
RISKY_LEVELS = frozenset({"elevated", "highest"})
FRAUD_RISK = "fraud_risk"
AMOUNT_THRESHOLD = "amount_threshold"

_WALLET_NAMES = {
    "apple_pay": "Apple Pay",
    "google_pay": "Google Pay",
    "samsung_pay": "Samsung Pay",
    "link": "Link",
    "masterpass": "Masterpass",
    "visa_checkout": "Visa Checkout",
    "amex_express_checkout": "Amex Express Checkout",
}


def radar_of_authorization(result: Any, *, authorized: bool, above_threshold: bool) -> dict[str, Any]:
    """The authorization's Radar facts for the state machine: ``needsApproval`` (above the amount threshold
    or risky), ``approvalReason`` (``fraud_risk`` first, else ``amount_threshold``, else None), ``riskLevel``,
    ``riskScore``, ``reviewId``, ``underReview`` (an open review holds the capture) and ``wallet``; every key
    always present (the state machine's paths read them)."""
    risky = bool(authorized and result.risk_level in RISKY_LEVELS)
    reason = FRAUD_RISK if risky else AMOUNT_THRESHOLD if above_threshold else None
    return {
        "needsApproval": bool(above_threshold or risky),
        "fraudRisk": risky,
        "approvalReason": reason,
        "riskLevel": result.risk_level,
        "riskScore": result.risk_score,
        "reviewId": result.review_id,
        "underReview": bool(authorized and result.review_id),
        "wallet": result.wallet,
    }


def review_outcome(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a closed review tells the waiting execution: ``approved`` only when Stripe closed it so."""
    return {
        "reviewId": data["reviewId"],
        "closedReason": data.get("closedReason"),
        "approved": data.get("closedReason") == "approved",
    }


def wallet_label(wallet: str | None) -> str | None:
    """``apple_pay`` → ``Apple Pay``: how the ERP memo and the CRM name the wallet (None: no wallet)."""
    if not wallet:
        return None
    return _WALLET_NAMES.get(wallet, wallet.replace("_", " ").title())


def refund_on_early_fraud_warning(raw: str | None = None) -> bool:
    """The stage setting ``REFUND_ON_EARLY_FRAUD_WARNING`` (default off)."""
    value = raw if raw is not None else os.environ.get("REFUND_ON_EARLY_FRAUD_WARNING", "false")
    return value.strip().lower() in {"true", "1", "yes", "on"}


def record_early_fraud_warning(
    payments: Any,
    crm_for: Callable[[str], Any],
    warning: Mapping[str, Any],
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

    from shared.o2c.after_sale import NotOurs, deal_of, known

    warning_id = str(warning["earlyFraudWarningId"])
    payment_intent_id = warning.get("paymentIntentId")
    if not payment_intent_id:
        raise NotOurs(f"early fraud warning {warning_id} is not on a payment intent")
    intent = known(payments.retrieve_payment_intent, str(payment_intent_id))
    metadata = intent.get("metadata") or {}
    deal = deal_of(metadata)
    correlation_id = str(metadata.get("o2c_correlation_id") or "") or None
    actionable = bool(warning.get("actionable"))
    fraud_type = warning.get("fraudType") or "misc"
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
                    f"The card issuer reported payment {payment_intent_id} (charge {warning.get('chargeId')}) as "
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
