"""Products and subscriptions over the API (``POST /v1/products``, ``POST /v1/subscriptions``,
``GET /v1/subscriptions``), as Stripe's contract (``vendor-specs/stripe/stripe-contract.json``:
``ProductCreateParams``, ``SubscriptionCreateParams``, ``SubscriptionListParams``; the ``product`` and
``subscription`` resources) has them. The contract check has already refused unknown or mistyped
parameters; here the sandbox refuses what Stripe refuses on top of it, and what it does not implement:

- ``POST /v1/products``: ``name`` (required by Stripe), ``description``, ``metadata``, ``active``, ``type``
  (``service``, the default; ``good``), ``id`` (a custom id; taken: ``resource_already_exists``).
- ``POST /v1/subscriptions``: ``customer`` and ``items`` (1 to 20; each ``price_data`` with ``currency``,
  ``product`` — an existing product, else ``resource_missing`` —, ``recurring[interval]`` and
  ``[interval_count]``, ``unit_amount``; ``quantity``, ``metadata``). Items of one subscription share a
  currency and a billing interval ("Currency and interval fields must match across all plans on this
  subscription"); an interval is at most three years. ``default_payment_method`` must be attached to the
  customer. ``trial_end`` (a future timestamp, at most 730 days ahead, or ``now``): the subscription is
  ``trialing`` until then and its first invoice is a paid 0 invoice (``billing_reason``
  ``subscription_create``, ``invoice.paid``); at ``trial_end`` (``renew``) Stripe bills the first period,
  ``subscription_cycle``. Without a trial the first period is billed at once (``subscription_create``) to
  the default payment method (the subscription's, else the customer's ``invoice_settings``; none: Stripe's
  "This customer has no attached payment source or default payment method."). Sends
  ``customer.subscription.created`` (and the invoice's events). ``metadata``, ``description``,
  ``collection_method`` (``charge_automatically`` only here), ``payment_behavior`` (``allow_incomplete``
  only here: a declined first payment leaves the subscription ``incomplete``), ``proration_behavior``, ``off_session``. Not implemented, refused:
  ``billing_cycle_anchor`` and the other scheduling and pricing parameters (``price``: the sandbox keeps no
  Price objects of their own; use ``price_data``).
- ``GET /v1/subscriptions?customer=cus_...&status=all`` (``status`` defaults to every status but
  ``canceled``; ``limit``), newest first.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING, Any

from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _bool, _int, _metadata, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_SUBSCRIPTION_PARAMS = frozenset(
    {
        "customer",
        "items",
        "default_payment_method",
        "trial_end",
        "metadata",
        "description",
        "collection_method",
        "payment_behavior",
        "proration_behavior",
        "off_session",
        "expand",
    }
)
_ITEM_PARAMS = frozenset({"price_data", "quantity", "metadata"})
_PRODUCT_PARAMS = frozenset({"name", "description", "metadata", "active", "type", "id", "expand"})
#: Stripe's longest billing interval: three years (36 months, 156 weeks; 1095 days)
_MAX_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
_STATUSES = frozenset(
    {"active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due", "paused"}
    | {"trialing", "unpaid"}
)


def _unsupported(name: str) -> Exception:
    return _invalid(f"The Stripe sandbox does not implement {name}.", param=name)


class SubscriptionsMixin(StripeState):
    if TYPE_CHECKING:  # BillingMixin's

        def _bill(
            self, sub: dict[str, Any], *, billing_reason: str, succeed: bool = True, trial: bool = False
        ) -> str: ...

    def _create_product(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = call.params
        for given in params:
            if given not in _PRODUCT_PARAMS:
                raise _unsupported(given)
        name = _opt_str(params, "name")
        if name is None:
            raise _invalid("Missing required param: name.", param="name", code="parameter_missing")
        kind = _opt_str(params, "type") or "service"
        metadata = _metadata(params)
        with self._lock:
            products = self._products
            product_id = _opt_str(params, "id") or new_id("prod", 14)
            if product_id in products:
                raise _invalid(
                    f"Product already exists: {product_id}", param="id", code="resource_already_exists"
                )
            now = int(time.time())
            product = {
                "id": product_id,
                "object": "product",
                "active": params.get("active", "true") == "true",
                "created": now,
                "default_price": None,
                "description": _opt_str(params, "description"),
                "images": [],
                "livemode": False,
                "marketing_features": [],
                "metadata": metadata,
                "name": name,
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": None,
                "tax_code": None,
                "type": kind,
                "unit_label": None,
                "updated": now,
                "url": None,
            }
            products[product_id] = product
            self._emit("product.created", product, call)
            return copy.deepcopy(product)

    def products(self) -> list[dict[str, Any]]:
        return self._snapshot(self._products)

    def _price_of(self, number: int, item: dict[str, Any], now: int) -> tuple[dict[str, Any], int]:
        for name in item:
            if name not in _ITEM_PARAMS:
                raise _unsupported(f"items[{number}][{name}]")
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise _invalid(
                f"Missing required param: items[{number}][price_data].",
                param=f"items[{number}][price_data]",
                code="parameter_missing",
            )
        where = f"items[{number}][price_data]"
        for name in ("tax_behavior", "unit_amount_decimal"):
            if name in data:
                raise _unsupported(f"{where}[{name}]")
        product = str(data["product"])
        if product not in self._products:
            raise _missing("product", product, param=f"{where}[product]")
        if "unit_amount" not in data:
            raise _invalid(
                f"Missing required param: {where}[unit_amount].",
                param=f"{where}[unit_amount]",
                code="parameter_missing",
            )
        amount = _int(data, "unit_amount")
        if amount < 0:
            raise _invalid("Invalid non-negative integer", param=f"{where}[unit_amount]")
        recurring = data["recurring"]
        interval = str(recurring["interval"])
        count = _int(recurring, "interval_count", default=1)
        if count < 1 or count > _MAX_COUNT[interval]:
            raise _invalid(
                "The maximum billing interval is 3 years (36 months, 156 weeks or 1095 days).",
                param=f"{where}[recurring][interval_count]",
            )
        quantity = _int(item, "quantity", default=1)
        if quantity < 0:
            raise _invalid("Invalid non-negative integer", param=f"items[{number}][quantity]")
        price = {
            "id": new_id("price", 24),
            "object": "price",
            "active": False,  # Stripe: a price made inline with price_data is not active for reuse
            "billing_scheme": "per_unit",
            "created": now,
            "currency": str(data["currency"]).lower(),
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": product,
            "recurring": {
                "interval": interval,
                "interval_count": count,
                "meter": None,
                "usage_type": "licensed",
            },
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
        }
        return price, quantity

    def _create_api_subscription(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = call.params
        for name in params:
            if name not in _SUBSCRIPTION_PARAMS:
                raise _unsupported(name)
        items = params.get("items")
        if not items:
            raise _invalid("Missing required param: items.", param="items", code="parameter_missing")
        if len(items) > 20:
            raise _invalid("You may pass up to 20 items.", param="items")
        metadata = _metadata(params)
        collection = _opt_str(params, "collection_method") or "charge_automatically"
        if collection != "charge_automatically":
            raise _unsupported("collection_method=send_invoice")
        behavior = _opt_str(params, "payment_behavior") or "allow_incomplete"
        if behavior != "allow_incomplete":
            raise _unsupported(f"payment_behavior={behavior}")
        _bool(params, "off_session")
        now = int(time.time())
        trial_end = _trial_end(params.get("trial_end"), now)
        with self._lock:
            customer_id = self._customer_param(params)
            if customer_id is None:
                raise _invalid(
                    "Missing required param: customer.", param="customer", code="parameter_missing"
                )
            customer = self._customers[customer_id]
            prices = [self._price_of(n, item, now) for n, item in enumerate(items)]
            first = prices[0][0]
            for price, _quantity in prices[1:]:
                if price["currency"] != first["currency"] or price["recurring"] != first["recurring"]:
                    raise _invalid(
                        "Currency and interval fields must match across all plans on this subscription. "
                        f"Found mismatch in {'currency' if price['currency'] != first['currency'] else 'interval'}.",
                        param="items",
                    )
            pm_id = _opt_str(params, "default_payment_method")
            if pm_id is not None:
                minted = self._payment_methods.get(pm_id)
                # a bank account saved with its mandate (debits) is a payment method of the customer too
                owner = (
                    minted.obj.get("customer")
                    if minted is not None
                    else self.bank_method(pm_id).get("customer")
                    if self.is_bank_method(pm_id)
                    else None
                )
                if owner is None or owner != customer_id:
                    raise _invalid(
                        f"The customer does not have a payment method with the ID {pm_id}. The payment "
                        "method must be attached to the customer.",
                        param="default_payment_method",
                        code="resource_missing",
                    )
            charge_pm = pm_id or ((customer.get("invoice_settings") or {}).get("default_payment_method"))
            if trial_end is None and charge_pm is None:
                raise _invalid(
                    "This customer has no attached payment source or default payment method. Please "
                    "consider adding a default payment method.",
                    code="resource_missing",
                )
            sub_id = new_id("sub", 24)
            period_end = trial_end if trial_end is not None else now
            sub: dict[str, Any] = {
                "id": sub_id,
                "object": "subscription",
                "application": None,
                "billing_cycle_anchor": trial_end if trial_end is not None else now,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "collection_method": collection,
                "created": now,
                "currency": first["currency"],
                "customer": customer_id,
                "default_payment_method": pm_id,
                "description": _opt_str(params, "description"),
                "ended_at": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("si", 14),
                            "object": "subscription_item",
                            "created": now,
                            "current_period_start": now,
                            # the first period: the trial, or (no trial) billed below from now on
                            "current_period_end": period_end,
                            "metadata": _metadata(item),
                            "price": price,
                            "quantity": quantity,
                            "subscription": sub_id,
                        }
                        for item, (price, quantity) in zip(items, prices, strict=True)
                    ],
                    "has_more": False,
                    "total_count": len(prices),
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": metadata,
                "start_date": now,
                "status": "trialing" if trial_end is not None else "incomplete",
                "trial_end": trial_end,
                "trial_start": now if trial_end is not None else None,
            }
            self._subscriptions[sub_id] = sub
            # the first invoice: a paid 0 one for a trial; else the first period, charged now (a decline
            # leaves the subscription ``incomplete``, its invoice open)
            self._bill(sub, billing_reason="subscription_create", trial=trial_end is not None)
            self._emit("customer.subscription.created", sub, call)
            return copy.deepcopy(sub)

    def _list_subscriptions(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = call.params
        for name in params:
            if name not in ("customer", "status", "limit", "expand"):
                raise _unsupported(name)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        status = _opt_str(params, "status")
        if status is not None and status not in _STATUSES:
            raise _invalid(f"Invalid status: {status}", param="status")
        with self._lock:
            customer = self._customer_param(params)
            found = [
                sub
                for sub in reversed(self._subscriptions.values())
                if (customer is None or sub["customer"] == customer)
                and (
                    status == "all"
                    or (status is None and sub["status"] != "canceled")
                    or (status == "ended" and sub["status"] in ("canceled", "incomplete_expired"))
                    or sub["status"] == status
                )
            ]
            return {
                "object": "list",
                "data": copy.deepcopy(found[:limit]),
                "has_more": len(found) > limit,
                "url": "/v1/subscriptions",
            }


def _trial_end(value: Any, now: int) -> int | None:
    if value is None:
        return None
    if value == "now":  # Stripe: the trial ends at once, the first period is billed now
        return None
    stamp = int(value)  # the contract check made it an integer or "now"
    if stamp <= now:
        raise _invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
        )
    if stamp > now + 730 * 86400:
        raise _invalid("trial_end can be no more than 730 days in the future.", param="trial_end")
    return stamp
