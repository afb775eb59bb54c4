"""Stripe's test cards (``TEST_CARDS``: what each one does when charged or saved) and a minted payment
method's record: the data the state (``state``) holds and the payment methods (``payment_methods``) serve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
