"""Radar: the risk Stripe assesses on a charge, reviews and early fraud warnings; and wallet cards.

- **Risk** (``charge.outcome.risk_level`` / ``risk_score``): Stripe's Radar test payment methods
  (https://docs.stripe.com/radar/testing) give a charge its level: ``pm_card_riskLevelElevated`` (card
  4000000000009235) ``elevated``, ``pm_card_riskLevelHighest`` (4000000000004954) ``highest``, every other
  card ``normal``. Stripe publishes no test scores: the sandbox answers a fixed score inside each level's band
  (``RISK_SCORES``: normal below 65, elevated 65-74, highest 75 and above). This account runs Radar's default
  *review* rule (``Review if :risk_level: = 'elevated'``, Radar for Fraud Teams) and has the default *block*
  rule for ``highest`` disabled, which Stripe's test page names as the case where 4000000000004954 is not
  blocked: a highest-risk charge is authorized, with its level on the outcome.
- **Reviews** (``prv_...``, object ``review``): an elevated-risk charge is placed in the manual review queue:
  ``outcome.type`` ``manual_review``, ``outcome.reason`` ``elevated_risk_level`` (the value Stripe documents
  for its default review rule), ``charge.review`` the review's id; a Review ``open`` with ``opened_reason``
  ``rule`` and ``reason`` ``rule``, sent as ``review.opened``. ``GET /v1/reviews/{id}``;
  ``POST /v1/reviews/{id}/approve`` closes it (``closed_reason`` ``approved``, ``reason`` ``approved``,
  ``open`` false; ``review.closed``); a closed review cannot be approved (400). Closing it another way is a
  person's act in the Dashboard: the control ``close_review(prv, "refunded"|"refunded_as_fraud"|"disputed")``
  cancels the still uncaptured PaymentIntent (``payment_intent.canceled``; ``fraudulent`` for
  ``refunded_as_fraud``) and sends ``review.closed``.
- **Early fraud warnings** (``issfr_...``, object ``radar.early_fraud_warning``): the issuer's warning about a
  captured charge. Stripe publishes no test card for them; the control
  ``create_early_fraud_warning(ch_, fraud_type)`` makes one, ``actionable`` as Stripe defines it (not fully
  refunded, not disputed), and sends ``radar.early_fraud_warning.created``.
  ``GET /v1/radar/early_fraud_warnings/{id}``.
- **Wallets**: Stripe mints a wallet card only from a real device's token (Apple Pay, Google Pay; no test
  PaymentMethod exists), so the control ``save_wallet_card(seti, "apple_pay"|"google_pay", card)`` stands in
  for the customer's device: the SetupIntent is confirmed with a card PaymentMethod whose ``card.wallet`` is
  ``{"type": "apple_pay", "apple_pay": {}, "dynamic_last4": ...}`` (every other wallet key null), and its
  charges carry the same in ``payment_method_details.card.wallet``.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import Any

from localcloud.sandboxes.base import BadRequest, Reply, Request, json_reply
from localcloud.sandboxes.stripe.control import _control_body
from localcloud.sandboxes.stripe.errors import ApiError, _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _only
from localcloud.sandboxes.stripe.state import StripeState, _Call

#: The fixed score the sandbox answers for each risk level (Stripe's bands; no test scores are published).
RISK_SCORES = {"normal": 12, "elevated": 67, "highest": 83}
FRAUD_TYPES = frozenset(
    {
        "card_never_received",
        "fraudulent_card_application",
        "made_with_counterfeit_card",
        "made_with_lost_card",
        "made_with_stolen_card",
        "misc",
        "unauthorized_use_of_card",
    }
)
WALLETS = (
    "amex_express_checkout",
    "apple_pay",
    "google_pay",
    "link",
    "masterpass",
    "samsung_pay",
    "visa_checkout",
)
_CLOSED_BY_A_PERSON = frozenset({"refunded", "refunded_as_fraud", "disputed"})


def wallet_of(kind: str, last4: str) -> dict[str, Any]:
    """A card's ``wallet`` hash as Stripe answers it: the type, its own (empty) hash, the others null."""
    if kind not in ("apple_pay", "google_pay"):
        raise ValueError('the sandbox saves "apple_pay" or "google_pay" wallet cards')
    return {
        **{name: None for name in WALLETS},
        kind: {},
        "dynamic_last4": last4,
        "type": kind,
    }


def risk_outcome(risk_level: str, reviewed: bool) -> dict[str, Any]:
    """A successful charge's ``outcome`` at a risk level; ``reviewed``: placed in the review queue."""
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": "elevated_risk_level" if reviewed else None,
        "risk_level": risk_level,
        "risk_score": RISK_SCORES[risk_level],
        "rule": None,
        "seller_message": (
            "Stripe evaluated this payment as having elevated risk, and placed it in your manual review queue."
            if reviewed
            else "Payment complete."
        ),
        "type": "manual_review" if reviewed else "authorized",
    }


class RadarMixin(StripeState):
    # --- control ---------------------------------------------------------------------------------------

    def save_wallet_card(
        self, setup_intent_id: str, wallet: str = "apple_pay", payment_method: str = "pm_card_visa"
    ) -> dict[str, Any]:
        """The customer saves a card from a wallet (their device's Apple Pay / Google Pay sheet): the
        SetupIntent is confirmed with a card PaymentMethod carrying ``card.wallet``; ``setup_intent.succeeded``
        follows as for any card."""
        with self._lock:
            seti = self._setup_intents[setup_intent_id]
            if seti["status"] == "succeeded":
                raise ValueError(f"{setup_intent_id} already succeeded")
            card = self._card_for(payment_method, param="payment_method")
            pm = self._mint_payment_method(card, customer=seti["customer"])
            pm["card"]["wallet"] = wallet_of(wallet, f"{secrets.randbelow(10000):04d}")
            self._setup_succeeded(seti, pm, None)
            return copy.deepcopy(seti)

    def close_review(self, review_id: str, reason: str = "refunded_as_fraud") -> dict[str, Any]:
        """A person closes the review in the Dashboard by refunding the payment (``refunded``,
        ``refunded_as_fraud``) or as ``disputed``: the uncaptured PaymentIntent is canceled (its funds
        released) and ``review.closed`` is sent."""
        if reason not in _CLOSED_BY_A_PERSON:
            raise ValueError(f"a review is closed here as one of {sorted(_CLOSED_BY_A_PERSON)}")
        with self._lock:
            review = self._review(review_id)
            if not review["open"]:
                raise ValueError(f"{review_id} is already closed ({review['closed_reason']})")
            pi = self._payment_intents.get(review["payment_intent"] or "")
            if pi is not None and pi["status"] == "requires_capture":
                pi.update(
                    status="canceled",
                    canceled_at=int(time.time()),
                    cancellation_reason="fraudulent"
                    if reason == "refunded_as_fraud"
                    else "requested_by_customer",
                    amount_capturable=0,
                )
                self._emit("payment_intent.canceled", pi, None)
            return self._close(review, reason, None)

    def create_early_fraud_warning(self, charge_id: str, fraud_type: str = "unauthorized_use_of_card") -> str:
        """The card's issuer warns that a charge may be fraudulent: an ``issfr_...``, ``actionable`` unless the
        charge is fully refunded or disputed; sends ``radar.early_fraud_warning.created``."""
        if fraud_type not in FRAUD_TYPES:
            raise ValueError(f"unknown fraud_type {fraud_type!r}")
        with self._lock:
            charge = self._charges[charge_id]
            if not charge["captured"]:
                raise ValueError(f"{charge_id} was not captured: issuers warn about settled charges")
            warning: dict[str, Any] = {
                "id": new_id("issfr", 24),
                "object": "radar.early_fraud_warning",
                "actionable": not (charge["refunded"] or charge["disputed"]),
                "charge": charge_id,
                "created": int(time.time()),
                "fraud_type": fraud_type,
                "livemode": False,
                "payment_intent": charge.get("payment_intent"),
            }
            self._early_fraud_warnings[warning["id"]] = warning
            self._emit("radar.early_fraud_warning.created", warning, None)
            return str(warning["id"])

    def reviews(self) -> list[dict[str, Any]]:
        return self._snapshot(self._reviews)

    def early_fraud_warnings(self) -> list[dict[str, Any]]:
        return self._snapshot(self._early_fraud_warnings)

    # --- control over HTTP (``/_sandbox``) -------------------------------------------------------------

    def _c_save_wallet_card(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        return self._c_call(
            lambda: self.save_wallet_card(
                match.group(1),
                str(spec.get("wallet") or "apple_pay"),
                str(spec.get("payment_method") or "pm_card_visa"),
            )
        )

    def _c_close_review(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        return self._c_call(lambda: self.close_review(match.group(1), str(spec.get("reason") or "")))

    def _c_early_fraud_warning(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        fraud_type = str(spec.get("fraud_type") or "unauthorized_use_of_card")
        return self._c_call(
            lambda: self._early_fraud_warnings[self.create_early_fraud_warning(match.group(1), fraud_type)]
        )

    def _c_call(self, act: Any) -> Reply:
        try:
            return json_reply(200, copy.deepcopy(act()))
        except (ApiError, KeyError, ValueError) as exc:
            raise BadRequest(str(exc)) from None

    def control_routes_radar(self) -> list[tuple[str, re.Pattern[str], Any]]:
        """``POST /_sandbox/setup_intents/{id}/wallet`` ``{"wallet": "apple_pay", "payment_method"}`` → the
        SetupIntent; ``POST /_sandbox/reviews/{id}/close`` ``{"reason": "refunded_as_fraud"}`` → the review;
        ``POST /_sandbox/charges/{id}/early_fraud_warning`` ``{"fraud_type"}`` → the warning;
        ``GET /_sandbox/reviews`` | ``/_sandbox/early_fraud_warnings`` → ``{"data": [...]}``."""
        return [
            ("POST", re.compile(r"^/_sandbox/setup_intents/([^/]+)/wallet$"), self._c_save_wallet_card),
            ("POST", re.compile(r"^/_sandbox/reviews/([^/]+)/close$"), self._c_close_review),
            (
                "POST",
                re.compile(r"^/_sandbox/charges/([^/]+)/early_fraud_warning$"),
                self._c_early_fraud_warning,
            ),
            (
                "GET",
                re.compile(r"^/_sandbox/reviews$"),
                lambda r, m: json_reply(200, {"data": self.reviews()}),
            ),
            (
                "GET",
                re.compile(r"^/_sandbox/early_fraud_warnings$"),
                lambda r, m: json_reply(200, {"data": self.early_fraud_warnings()}),
            ),
        ]

    # --- API -------------------------------------------------------------------------------------------

    def _get_review(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._review(match.group(1)))

    def _approve_review(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        _only(call.params, _COMMON_PARAMS)
        with self._lock:
            review = self._review(match.group(1))
            if not review["open"]:
                raise _invalid(f"This review is already closed ({review['closed_reason']}).")
            return self._close(review, "approved", call)

    def _get_early_fraud_warning(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            warning = self._early_fraud_warnings.get(match.group(1))
            if warning is None:
                raise _missing("radar.early_fraud_warning", match.group(1))
            return copy.deepcopy(warning)

    # --- internals -------------------------------------------------------------------------------------

    def _open_review(self, charge: dict[str, Any], call: _Call | None) -> dict[str, Any]:
        """Radar's review rule placed the charge in the queue (caller holds the lock)."""
        review: dict[str, Any] = {
            "id": new_id("prv", 24),
            "object": "review",
            "billing_zip": None,
            "charge": charge["id"],
            "closed_reason": None,
            "created": int(time.time()),
            "ip_address": None,
            "ip_address_location": None,
            "livemode": False,
            "open": True,
            "opened_reason": "rule",
            "payment_intent": charge.get("payment_intent"),
            "reason": "rule",
            "session": None,
        }
        self._reviews[review["id"]] = review
        charge["review"] = review["id"]
        pi = self._payment_intents.get(charge.get("payment_intent") or "")
        if pi is not None:
            pi["review"] = review["id"]
        self._emit("review.opened", review, call)
        return review

    def _close(self, review: dict[str, Any], reason: str, call: _Call | None) -> dict[str, Any]:
        review.update(open=False, closed_reason=reason, reason=reason)
        self._emit("review.closed", review, call)
        return copy.deepcopy(review)

    def _review(self, review_id: str) -> dict[str, Any]:
        review = self._reviews.get(review_id)
        if review is None:
            raise _missing("review", review_id)
        return review
