"""Fraud signals from Stripe Radar, and wallets, as the quote-to-cash flow reads them.

- **Risk on the authorization**: a charge Radar rates ``elevated`` or ``highest`` (``outcome.risk_level``)
  sends the order to the approval wait, whatever its amount, with the reason ``fraud_risk`` and Radar's level
  and score (``radar_of_authorization``).
- **Review**: a charge Radar placed in review (``charge.review``) holds the invoice and the capture until
  ``review.closed``: ``approved`` → the flow goes on; ``refunded``, ``refunded_as_fraud``, ``disputed`` (or
  any other closing) → the order is compensated (authorization voided, ERP order cancelled)
  (``review_outcome``, delivered by the PaymentSignals consumer under the wait key ``review:<prv_...>``).
- **Early fraud warning** on a captured payment: ``shared.order_to_cash.early_fraud``.
- **Wallets**: ``payment_method_details.card.wallet.type`` of the charge (``apple_pay``, ``google_pay``) is
  named in the ERP payment's memo and written to the CRM deal (``wallet_label``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.order_to_cash.ports import AuthorizationResult

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


def radar_of_authorization(
    result: AuthorizationResult, *, authorized: bool, above_threshold: bool
) -> dict[str, Any]:
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
