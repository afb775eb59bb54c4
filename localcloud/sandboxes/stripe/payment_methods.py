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
from typing import Any

from localcloud.sandboxes.stripe.cards import TEST_CARDS, SandboxCard, _PaymentMethod
from localcloud.sandboxes.stripe.errors import _missing, new_id
from localcloud.sandboxes.stripe.state import StripeState, _Call


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
