"""Subscriptions, invoices and invoice payments.

- ``GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=pi_...`` (also
  ``invoice``, ``status`` paid|open|canceled; ``payment[type]`` is required with ``payment[...]`` and must
  name the kind of id given; ``payment_record``s never exist here), paged as balance transactions are;
  ``GET /v1/invoice_payments/{id}``. An unknown ``invoice`` or ``payment_intent`` is a 400
  ``resource_missing``. This is how a PaymentIntent finds its Invoice and an Invoice its payment: at this
  API version neither the PaymentIntent nor the Charge names its invoice, and the Invoice has no
  ``payment_intent`` nor ``charge`` (removed in 2025-03-31.basil; vendor-specs STRIPE_SPEC_NOTES "Answers",
  and the official invoice fixture has neither).
- ``GET /v1/invoices/{id}`` (``expand[]=payments`` adds ``payments``, the list of its InvoicePayments, as
  Stripe includes that field only when asked). A cycle invoice's ``lines.data[].period`` is the service
  period it bills (the new period); its own ``period_start``/``period_end`` are, as Stripe documents them,
  "the earliest/latest timestamp at which invoice items can be associated with this invoice": for a
  ``subscription_cycle`` invoice, the period that just ended.
"""

from __future__ import annotations

import calendar
import copy
import re
import time
from datetime import UTC, datetime
from typing import Any

from localcloud.sandboxes.stripe.cards import TEST_CARDS
from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _int, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_INVOICE_PAYMENT_LIST_PARAMS = _COMMON_PARAMS | {
    "invoice",
    "payment",
    "status",
    "limit",
    "starting_after",
    "ending_before",
}


_INVOICE_PAYMENT_FILTER_PARAMS = frozenset({"type", "payment_intent", "payment_record"})


_INVOICE_PAYMENT_STATUSES = frozenset({"canceled", "open", "paid"})


_INTERVALS = frozenset({"day", "week", "month", "year"})


class BillingMixin(StripeState):
    def create_subscription(
        self,
        customer_id: str,
        amount: int,
        currency: str,
        interval: str = "month",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """An active ``sub_...`` billing ``amount`` (Stripe's smallest unit) every ``interval`` (day, week,
        month, year), its first period starting now and taken as paid (no invoice is made for it). Sends
        ``customer.subscription.created``. ``renew`` bills the following periods."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError("amount is a positive integer in Stripe's smallest unit")
        currency = currency.lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise ValueError(f"invalid currency {currency!r}")
        if interval not in _INTERVALS:
            raise ValueError(f"interval is one of {sorted(_INTERVALS)}")
        with self._lock:
            if customer_id not in self._customers:
                raise KeyError(customer_id)
            now = int(time.time())
            sub_id = new_id("sub", 24)
            price = {
                "id": new_id("price", 24),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "currency": currency,
                "product": new_id("prod", 14),
                "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
                "type": "recurring",
                "unit_amount": amount,
            }
            sub: dict[str, Any] = {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": now,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "collection_method": "charge_automatically",
                "created": now,
                "currency": currency,
                "customer": customer_id,
                "default_payment_method": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("si", 14),
                            "object": "subscription_item",
                            "created": now,
                            "current_period_start": now,
                            "current_period_end": _add_interval(now, interval),
                            "metadata": {},
                            "price": price,
                            "quantity": 1,
                            "subscription": sub_id,
                        }
                    ],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": dict(metadata or {}),
                "start_date": now,
                "status": "active",
            }
            self._subscriptions[sub_id] = sub
            self._emit("customer.subscription.created", sub, None)
            return sub_id

    def renew(self, subscription_id: str, *, succeed: bool = True) -> str:
        """The subscription reaches the end of its period (a trial's end too): the period moves on, and an
        invoice for the new period (``billing_reason`` ``subscription_cycle``) is charged off session by a
        new PaymentIntent, which an InvoicePayment links to the invoice (``paid``, or ``open`` if declined).
        Paid: the charge books a balance transaction, and ``payment_intent.succeeded``, ``invoice.paid`` and
        ``invoice.payment_succeeded`` are sent (``customer.subscription.updated`` too if it was past due or
        trialing). Declined (``succeed=False``): ``payment_intent.payment_failed``, ``invoice.payment_failed``
        (the invoice stays ``open``, ``attempt_count`` 1, ``next_payment_attempt`` in 3 days) and, if it was
        active or trialing, ``customer.subscription.updated`` to ``past_due``. The subscription's default
        payment method pays when it has one (and ``succeed``). Returns the ``in_...`` id."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            if sub["status"] == "canceled":
                raise ValueError(f"{subscription_id} is canceled")
            return self._bill(sub, billing_reason="subscription_cycle", succeed=succeed)

    def _bill(
        self, sub: dict[str, Any], *, billing_reason: str, succeed: bool = True, trial: bool = False
    ) -> str:
        """The invoice of the subscription's next period (every item's), charged as ``renew`` says; with
        ``trial``: the 0 invoice Stripe makes when a subscription starts with a trial (paid, no payment)."""
        subscription_id = sub["id"]
        items = sub["items"]["data"]
        currency = str(items[0]["price"]["currency"])
        previous_start = int(items[0]["current_period_start"])
        start = int(items[0]["current_period_end"])
        if trial:
            start, end = previous_start, start
        else:
            recurring = items[0]["price"]["recurring"]
            end = start
            for _ in range(int(recurring.get("interval_count") or 1)):
                end = _add_interval(end, recurring["interval"])
            for item in items:
                item.update(current_period_start=start, current_period_end=end)
        amounts = [0 if trial else int(i["price"]["unit_amount"]) * int(i["quantity"]) for i in items]
        amount = sum(amounts)
        customer = self._customers[sub["customer"]]
        now = int(time.time())
        invoice_id = new_id("in", 24)
        number = 1 + sum(1 for i in self._invoices.values() if i["customer"] == sub["customer"])
        lines = [
            {
                "id": new_id("il", 24),
                "object": "line_item",
                "amount": line_amount,
                "currency": currency,
                "description": (
                    f"Trial period for {item['quantity']} x Subscription"
                    if trial
                    else f"{item['quantity']} x Subscription (at {item['price']['unit_amount']} {currency} / "
                    f"{item['price']['recurring']['interval']})"
                ),
                "invoice": invoice_id,
                "metadata": {},
                "parent": {
                    "type": "subscription_item_details",
                    "subscription_item_details": {
                        "subscription": subscription_id,
                        "subscription_item": item["id"],
                    },
                },
                "period": {"start": start, "end": end},
                "pricing": {
                    "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]}
                },
                "quantity": item["quantity"],
            }
            for item, line_amount in zip(items, amounts, strict=True)
        ]
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "amount_due": amount,
            "amount_paid": 0,
            "amount_remaining": amount,
            "attempt_count": 0 if trial else 1,
            "attempted": not trial,
            "auto_advance": True,
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": currency,
            "customer": sub["customer"],
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None,
            "number": f"{customer['invoice_prefix']}-{number:04d}",
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "metadata": copy.deepcopy(sub["metadata"]),
                    "subscription": subscription_id,
                },
            },
            # the period that just ended (items of it could still be billed here); the service
            # period this invoice bills is its line's
            "period_end": start,
            "period_start": previous_start,
            "status": "open",
            "status_transitions": {
                "finalized_at": now,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": amount,
            "total": amount,
        }
        self._invoices[invoice_id] = invoice
        sub["latest_invoice"] = invoice_id
        if trial:  # nothing to charge: paid at once
            invoice.update(status="paid")
            invoice["status_transitions"]["paid_at"] = now
            self._emit("invoice.paid", invoice, None)
            self._emit("invoice.payment_succeeded", invoice, None)
            return invoice_id
        default_pm = self._payment_methods.get(str(sub.get("default_payment_method") or ""))
        if succeed and default_pm is not None:
            pm, card = default_pm.obj, default_pm.card
        else:
            card = TEST_CARDS["pm_card_visa" if succeed else "pm_card_chargeDeclinedInsufficientFunds"]
            pm = self._mint_payment_method(card, customer=sub["customer"])
        pi = self._new_payment_intent(amount, currency, customer=sub["customer"], pm=pm)
        pi["description"] = (
            "Subscription creation" if billing_reason == "subscription_create" else ("Subscription update")
        )
        payment: dict[str, Any] = {
            "id": new_id("inpay", 24),
            "object": "invoice_payment",
            "amount_paid": None,
            "amount_requested": amount,
            "created": now,
            "currency": currency,
            "invoice": invoice_id,
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
            "status": "open",
            "status_transitions": {"canceled_at": None, "paid_at": None},
        }
        self._invoice_payments[payment["id"]] = payment
        charge = self._new_charge(pi, pm, description=pi["description"])
        if card.code is None:
            self._capture_charge(charge, amount)
            pi.update(status="succeeded", amount_received=amount)
            invoice.update(status="paid", amount_paid=amount, amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = now
            payment.update(status="paid", amount_paid=amount)
            payment["status_transitions"]["paid_at"] = now
            self._emit("payment_intent.succeeded", pi, None)
            self._emit("invoice.paid", invoice, None)
            self._emit("invoice.payment_succeeded", invoice, None)
            if sub["status"] != "active":
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                if billing_reason != "subscription_create":  # a new one is created active
                    self._emit("customer.subscription.updated", sub, None, previous)
        else:
            self._decline(pi, charge, card, pm)
            invoice["next_payment_attempt"] = now + 3 * 86400  # its InvoicePayment stays open
            self._emit("payment_intent.payment_failed", pi, None)
            self._emit("invoice.payment_failed", invoice, None)
            if sub["status"] in ("active", "trialing"):
                previous = {"status": sub["status"]}
                sub["status"] = "past_due"
                self._emit("customer.subscription.updated", sub, None, previous)
        return invoice_id

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._snapshot(self._subscriptions)

    def invoices(self) -> list[dict[str, Any]]:
        return self._snapshot(self._invoices)

    def invoice_payments(self) -> list[dict[str, Any]]:
        """Every InvoicePayment (one per invoice charged), oldest first (the API lists newest first)."""
        return self._snapshot(self._invoice_payments)

    def _get_invoice(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        """``GET /v1/invoices/{id}``; ``expand[]=payments`` includes ``payments`` (its InvoicePayments,
        newest first), which Stripe returns only when asked."""
        params = _only(call.params, _COMMON_PARAMS)
        expand = params.get("expand") or []
        if isinstance(expand, str):
            expand = [expand]
        with self._lock:
            invoice = self._invoices.get(match.group(1))
            if invoice is None:
                raise _missing("invoice", match.group(1))
            reply = copy.deepcopy(invoice)
            if "payments" in expand:
                payments = [
                    copy.deepcopy(p)
                    for p in reversed(self._invoice_payments.values())
                    if p["invoice"] == invoice["id"]
                ]
                reply["payments"] = {
                    "object": "list",
                    "data": payments,
                    "has_more": False,
                    "url": f"/v1/invoice_payments?invoice={invoice['id']}",
                }
            return reply

    def _list_invoice_payments(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _INVOICE_PAYMENT_LIST_PARAMS)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        invoice, status = _opt_str(params, "invoice"), _opt_str(params, "status")
        if status is not None and status not in _INVOICE_PAYMENT_STATUSES:
            raise _invalid(
                f"Invalid status: must be one of {', '.join(sorted(_INVOICE_PAYMENT_STATUSES))}",
                param="status",
                code="parameter_invalid_string",
            )
        kind, payment_intent, payment_record = _payment_filter(params)
        after, before = _opt_str(params, "starting_after"), _opt_str(params, "ending_before")
        with self._lock:
            if invoice is not None and invoice not in self._invoices:
                raise _missing("invoice", invoice, param="invoice")
            if payment_intent is not None and payment_intent not in self._payment_intents:
                raise _missing("payment_intent", payment_intent, param="payment[payment_intent]")
            if payment_record is not None:  # the sandbox records no payments outside Stripe
                raise _missing("payment_record", payment_record, param="payment[payment_record]")
            newest_first = list(reversed(self._invoice_payments.values()))
            position = {inpay["id"]: index for index, inpay in enumerate(newest_first)}
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor is not None and cursor not in position:
                    raise _missing("invoice_payment", cursor, param=name)
            items = [
                inpay
                for inpay in newest_first
                if (invoice is None or inpay["invoice"] == invoice)
                and (status is None or inpay["status"] == status)
                and (kind is None or inpay["payment"]["type"] == kind)
                and (payment_intent is None or inpay["payment"].get("payment_intent") == payment_intent)
                and (after is None or position[inpay["id"]] > position[after])
                and (before is None or position[inpay["id"]] < position[before])
            ]
            page = items[-limit:] if before is not None and after is None else items[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(items) > limit,
                "url": "/v1/invoice_payments",
            }


def _add_interval(ts: int, interval: str) -> int:
    """``ts`` moved on by one ``interval``; months and years keep the day of month where it exists."""
    moment = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return ts + 86400
    if interval == "week":
        return ts + 7 * 86400
    months = 1 if interval == "month" else 12
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def _payment_filter(params: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``payment[type]``, ``payment[payment_intent]``, ``payment[payment_record]`` of an invoice payment
    list, as Stripe checks them: ``type`` is required in the hash, one of ``payment_intent`` /
    ``payment_record``, and names the kind of id given with it."""
    payment = params.get("payment")
    if payment is None or payment == "":
        return None, None, None
    if not isinstance(payment, dict):
        raise _invalid("Invalid hash: payment", param="payment", code="parameter_invalid_hash")
    for name in payment:
        if name not in _INVOICE_PAYMENT_FILTER_PARAMS:
            raise _invalid(
                f"Received unknown parameter: payment[{name}]",
                param=f"payment[{name}]",
                code="parameter_unknown",
            )
    fields = {name: _opt_str(payment, name) for name in sorted(_INVOICE_PAYMENT_FILTER_PARAMS)}
    kind = fields["type"]
    if kind is None:
        raise _invalid(
            "Missing required param: payment[type].", param="payment[type]", code="parameter_missing"
        )
    if kind not in ("payment_intent", "payment_record"):
        raise _invalid(
            "Invalid payment[type]: must be one of payment_intent or payment_record",
            param="payment[type]",
            code="parameter_invalid_string",
        )
    for other in ("payment_intent", "payment_record"):
        if fields[other] is not None and kind != other:
            raise _invalid(
                f"payment[{other}] can only be used with payment[type]={other}.",
                param=f"payment[{other}]",
                code="parameter_invalid",
            )
    return kind, fields["payment_intent"], fields["payment_record"]
