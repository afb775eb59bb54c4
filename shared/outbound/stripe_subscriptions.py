"""Stripe Billing for subscription deals: a Product per recurring line and one Subscription per deal, on the
customer's Stripe customer, over the same client as ``StripePayments`` (its retries, classification and
Idempotency-Key handling). Kept apart from ``stripe_payments`` (cards, refunds, payouts) on purpose.

Stripe's contract (``vendor-specs/stripe/stripe-contract.json``): ``POST /v1/products`` (``name``,
``metadata``), ``POST /v1/subscriptions`` (``customer``, ``items[][price_data]`` — ``currency``, ``product``,
``recurring[interval]``, ``recurring[interval_count]``, ``unit_amount`` —, ``items[][quantity]``,
``default_payment_method``, ``trial_end``, ``metadata``), ``GET /v1/subscriptions?customer=...&status=all``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.money import to_stripe
from shared.order_to_cash.ports import RecurringItem

if TYPE_CHECKING:
    from shared.outbound.stripe_payments import StripePayments


class StripeSubscriptions:
    """The subscription calls, over a ``StripePayments``' client."""

    def __init__(self, payments: StripePayments) -> None:
        self._payments = payments

    def create_product(self, *, name: str, metadata: Mapping[str, str], idempotency_key: str) -> str:
        params = {"name": name[:250], "metadata": dict(metadata)}
        product = self._payments._call(
            "POST /v1/products",
            lambda v1, options: v1.products.create(params, options),
            idempotency_key=idempotency_key,
        )
        return str(product["id"])

    def find_subscription(self, *, customer_id: str, key: str, value: str) -> dict[str, Any] | None:
        """The customer's subscription (any status) whose metadata ``key`` is ``value``, if there is one:
        what an earlier run of the step created, whatever became of the Idempotency-Key since (Stripe keeps
        keys 24 hours)."""
        params: dict[str, Any] = {"customer": customer_id, "status": "all", "limit": 100}
        page = self._payments._call(
            "GET /v1/subscriptions", lambda v1, options: v1.subscriptions.list(params, options)
        )
        for sub in page.get("data") or []:
            if (sub.get("metadata") or {}).get(key) == value:
                return dict(sub)
        return None

    def create_subscription(
        self,
        *,
        customer_id: str,
        items: Sequence[RecurringItem],
        payment_method_id: str | None,
        trial_end: int | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> dict[str, Any]:
        """One Subscription (``POST /v1/subscriptions``) with a Price made inline per item (``price_data``).
        ``trial_end`` (a future Unix time): nothing is billed before it, its first period is billed then
        (``subscription_cycle``); None: the first period is billed at once to ``payment_method_id``."""
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [
                {
                    "price_data": {
                        "currency": item.unit_price.currency.lower(),
                        "product": item.product_id,
                        "recurring": {"interval": item.interval, "interval_count": item.interval_count},
                        "unit_amount": to_stripe(item.unit_price),
                    },
                    "quantity": item.quantity,
                }
                for item in items
            ],
            "metadata": dict(metadata),
        }
        if payment_method_id:
            params["default_payment_method"] = payment_method_id
        if trial_end is not None:
            params["trial_end"] = trial_end
        return self._payments._call(
            "POST /v1/subscriptions",
            lambda v1, options: v1.subscriptions.create(params, options),
            idempotency_key=idempotency_key,
        )
