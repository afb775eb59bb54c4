"""Test payment methods (``TEST_CARDS``): ``pm_card_visa``, ``pm_card_mastercard`` succeed;
``pm_card_chargeDeclined`` (card_declined / generic_decline), ``pm_card_chargeDeclinedInsufficientFunds``,
``pm_card_chargeDeclinedExpiredCard``, ``pm_card_chargeDeclinedLostCard``, ``pm_card_chargeCustomerFail``
decline when charged; ``pm_card_riskLevelElevated`` and ``pm_card_riskLevelHighest`` succeed at Radar's
``elevated`` / ``highest`` risk (``radar``). Using a token mints a fresh ``pm_...`` (as Stripe does); confirming a SetupIntent
(or ``complete_setup``) mints one attached to the customer, and that id behaves like its card afterwards.
Confirming a SetupIntent declines the cards Stripe declines when they are saved (``setup_intents``);
``complete_setup``, the browser's stand-in, saves any of them. ``GET /v1/payment_methods/{id}``.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import Any

from localcloud.sandboxes.stripe.errors import _missing, new_id
from localcloud.sandboxes.stripe.state import StripeState, _Call


@dataclass(frozen=True)
class SandboxCard:
    brand: str
    last4: str
    code: str | None = None  # None: the charge succeeds
    decline_code: str | None = None
    message: str | None = None
    #: Radar's risk level on its charges (``radar``): Stripe's Radar test cards set it
    risk_level: str = "normal"


TEST_CARDS: dict[str, SandboxCard] = {
    "pm_card_visa": SandboxCard("visa", "4242"),
    "pm_card_mastercard": SandboxCard("mastercard", "4444"),
    "pm_card_chargeDeclined": SandboxCard(
        "visa", "0002", "card_declined", "generic_decline", "Your card was declined."
    ),
    "pm_card_chargeDeclinedInsufficientFunds": SandboxCard(
        "visa", "9995", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": SandboxCard(
        "visa", "0069", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedLostCard": SandboxCard(
        "visa", "9987", "card_declined", "lost_card", "Your card was declined."
    ),
    "pm_card_chargeCustomerFail": SandboxCard(
        "visa", "0341", "card_declined", "generic_decline", "Your card was declined."
    ),
    # https://docs.stripe.com/radar/testing: 4000000000009235 and 4000000000004954
    "pm_card_riskLevelElevated": SandboxCard("visa", "9235", risk_level="elevated"),
    "pm_card_riskLevelHighest": SandboxCard("visa", "4954", risk_level="highest"),
}


@dataclass
class _PaymentMethod:
    obj: dict[str, Any]
    card: SandboxCard


class PaymentMethodsMixin(StripeState):
    def _card_for(self, payment_method: str, *, param: str) -> SandboxCard:
        if payment_method in TEST_CARDS:
            return TEST_CARDS[payment_method]
        minted = self._payment_methods.get(payment_method)
        if minted is None:
            raise _missing("PaymentMethod", payment_method, param=param)
        return minted.card

    def _payment_method_for(self, pm_param: str, card: SandboxCard) -> dict[str, Any]:
        """The stored PaymentMethod, or a fresh one for a test token (Stripe mints one per use)."""
        minted = self._payment_methods.get(pm_param)
        if minted is not None:
            return minted.obj
        return self._mint_payment_method(card, customer=None)

    def _mint_payment_method(self, card: SandboxCard, *, customer: str | None) -> dict[str, Any]:
        pm: dict[str, Any] = {
            "id": new_id("pm", 24),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 4,
                "fingerprint": new_id("x", 16)[2:],
                "funding": "credit",
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "wallet": None,
            },
            "created": int(time.time()),
            "customer": customer,
            "customer_account": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self._payment_methods[pm["id"]] = _PaymentMethod(pm, card)
        return pm

    def _get_payment_method(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            minted = self._payment_methods.get(match.group(1))
            if minted is None and self.is_bank_method(match.group(1)):
                return copy.deepcopy(self.bank_method(match.group(1)))
            if minted is None:
                raise _missing("payment_method", match.group(1))
            return copy.deepcopy(minted.obj)
