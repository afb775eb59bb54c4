"""The ``/_sandbox`` control endpoints: the Python control API over HTTP, so that another process (the demo,
a flow test) can drive the sandbox. The Python methods live on the resource mixins.

Python control after the sale: ``fail_next_refund(count=1)`` (the next refunds end ``failed``,
``expired_or_canceled_card``), ``open_dispute(charge_id, reason) -> dp_``, ``close_dispute(dp, "won"|"lost")``,
``create_subscription(customer_id, amount, currency, interval="month", metadata) -> sub_`` (active, first
period taken as paid: no invoice, no PaymentIntent), ``renew(sub_id, succeed=True) -> in_`` (the next
period's invoice, charged by a new PaymentIntent and linked to it by an InvoicePayment: ``inpay_...``,
``is_default`` true, ``payment`` ``{"type": "payment_intent", "payment_intent": "pi_..."}``, status
``paid`` with ``amount_paid`` and ``status_transitions.paid_at``, or ``open`` with ``amount_paid`` null
when declined; listed in the invoice's ``payments`` when it is retrieved with ``expand[]=payments``; no
``invoice_payment.*`` event is sent), ``create_payout(currency=None, automatic=True) -> po_`` (reconciled
``reconciliation_delay_s`` after ``payout.paid``; ``hold_reconciliation()``, ``complete_reconciliation(po_)``,
``release_reconciliation()``), ``create_payouts() -> [po_...]`` (one per currency with a positive
balance), ``settle_into(currency, into, rate)`` (``into`` equal to ``currency`` or None, or ``rate`` None:
settle in itself again; also the constructor's ``settlement={"jpy": ("usd", "0.0067")}``); inspection
``charges()``, ``refunds()``, ``disputes()``, ``subscriptions()``, ``invoices()``, ``invoice_payments()``,
``payouts()``, ``balance_transactions()`` (oldest first), ``balance()`` (net per currency),
``settlements()``.

Control (JSON; see also ``base``):
- ``GET /_sandbox/customers`` | ``/_sandbox/setup_intents`` | ``/_sandbox/payment_intents`` |
  ``/_sandbox/events`` | ``/_sandbox/webhooks`` | ``/_sandbox/webhook_endpoints`` | ``/_sandbox/api_calls``
  → ``{"data": [...]}``
- ``POST /_sandbox/setup_intents/{id}/complete`` ``{"payment_method": "pm_card_visa"}`` → the SetupIntent
- ``POST /_sandbox/webhooks/hold`` | ``/_sandbox/webhooks/release`` → ``{"held"}``
- ``POST /_sandbox/webhooks/wait`` ``{"timeout_s": 5}`` → ``{"pending": 0}`` (504 if not drained in time)
- ``POST /_sandbox/events/{id}/redeliver`` → ``{"status", "body"}``
- ``POST /_sandbox/faults/commit_then_timeout`` ``{"count": 1, "delay_s": null}`` → ``{"queued": true}``
- ``GET /_sandbox/charges`` | ``/refunds`` | ``/disputes`` | ``/subscriptions`` | ``/invoices`` |
  ``/invoice_payments`` | ``/payouts`` | ``/balance_transactions`` → ``{"data": [...]}`` (oldest first)
- ``POST /_sandbox/refunds/fail_next`` ``{"count": 1}`` → ``{"queued": true}``
- ``POST /_sandbox/charges/{id}/dispute`` ``{"reason": "fraudulent"}`` → the dispute
- ``POST /_sandbox/disputes/{id}/close`` ``{"outcome": "won"|"lost"}`` → the dispute
- ``POST /_sandbox/subscriptions`` ``{"customer", "amount", "currency", "interval", "metadata"}`` → the
  subscription; ``POST /_sandbox/subscriptions/{id}/renew`` ``{"succeed": true}`` → the invoice
- ``POST /_sandbox/payouts`` ``{"currency": null, "automatic": true}`` → the payout;
  ``POST /_sandbox/payouts/every_currency`` → ``{"data": [payouts]}``
- ``POST /_sandbox/payouts/reconciliation/hold`` | ``/_sandbox/payouts/reconciliation/release`` →
  ``{"held", "completed": [po_...]}``; ``POST /_sandbox/payouts/{id}/reconcile`` → the payout (completed)
- ``POST /_sandbox/settlement`` ``{"currency": "jpy", "into": "usd", "rate": "0.0067"}`` (``into`` null or
  equal to ``currency``, or ``rate`` null: no conversion) and ``GET /_sandbox/settlement`` →
  ``{"data": {"jpy": {"into": "usd", "rate": "0.0067"}}}``
- ``POST /_sandbox/clock/advance`` ``{"seconds": 432000}`` → ``{"now", "settled": [pi_...]}``: the
  sandbox's clock moves ahead and the bank debits that came due settle (``debits``); ``GET
  /_sandbox/mandates`` → ``{"data": [...]}``
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.base import BadRequest, Reply, Request, json_reply
from localcloud.sandboxes.stripe.errors import ApiError
from localcloud.sandboxes.stripe.state import StripeState


class ControlMixin(StripeState):
    def _c_list(
        self, source: Callable[[], list[dict[str, Any]]]
    ) -> Callable[[Request, re.Match[str]], Reply]:
        return lambda request, match: json_reply(200, {"data": source()})

    def _c_complete_setup(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        try:
            seti = self.complete_setup(match.group(1), str(spec.get("payment_method") or "pm_card_visa"))
        except ApiError as exc:
            raise BadRequest(str(exc)) from None
        return json_reply(200, seti)

    def _c_hold(self, request: Request, match: re.Match[str]) -> Reply:
        self.hold_webhooks()
        return json_reply(200, {"held": True})

    def _c_release(self, request: Request, match: re.Match[str]) -> Reply:
        self.release_webhooks()
        return json_reply(200, {"held": False})

    def _c_wait(self, request: Request, match: re.Match[str]) -> Reply:
        timeout_s = float(_control_body(request).get("timeout_s", 5))
        try:
            self.wait_for_webhooks(timeout_s)
        except TimeoutError as exc:
            return json_reply(504, {"error": str(exc)})
        return json_reply(200, {"pending": 0})

    def _c_redeliver_event(self, request: Request, match: re.Match[str]) -> Reply:
        status, body = self.redeliver(match.group(1))
        return json_reply(200, {"status": status, "body": body})

    def _c_commit_then_timeout(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        delay_s = spec.get("delay_s")
        self.commit_then_timeout_next(
            int(spec.get("count", 1)), delay_s=None if delay_s is None else float(delay_s)
        )
        return json_reply(200, {"queued": True})

    def _c_fail_next_refund(self, request: Request, match: re.Match[str]) -> Reply:
        self.fail_next_refund(int(_control_body(request).get("count", 1)))
        return json_reply(200, {"queued": True})

    def _c_open_dispute(self, request: Request, match: re.Match[str]) -> Reply:
        reason = str(_control_body(request).get("reason") or "fraudulent")
        dispute_id = self.open_dispute(match.group(1), reason)
        with self._lock:
            return json_reply(200, copy.deepcopy(self._disputes[dispute_id]))

    def _c_close_dispute(self, request: Request, match: re.Match[str]) -> Reply:
        outcome = str(_control_body(request).get("outcome") or "won")
        return json_reply(200, self.close_dispute(match.group(1), outcome))

    def _c_create_subscription(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        metadata = spec.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise BadRequest('"metadata" must be an object')
        amount = spec.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise BadRequest('"amount" must be an integer (Stripe\'s smallest unit)')
        sub_id = self.create_subscription(
            str(spec["customer"]),
            amount,
            str(spec.get("currency") or ""),
            str(spec.get("interval") or "month"),
            {str(k): str(v) for k, v in metadata.items()},
        )
        with self._lock:
            return json_reply(200, copy.deepcopy(self._subscriptions[sub_id]))

    def _c_renew(self, request: Request, match: re.Match[str]) -> Reply:
        succeed = _control_body(request).get("succeed", True)
        if not isinstance(succeed, bool):
            raise BadRequest('"succeed" must be true or false')
        invoice_id = self.renew(match.group(1), succeed=succeed)
        with self._lock:
            return json_reply(200, copy.deepcopy(self._invoices[invoice_id]))

    def _c_create_payout(self, request: Request, match: re.Match[str]) -> Reply:
        body = _control_body(request)
        currency, automatic = body.get("currency"), body.get("automatic", True)
        if not isinstance(automatic, bool):
            raise BadRequest('"automatic" must be true or false')
        payout_id = self.create_payout(None if currency is None else str(currency), automatic=automatic)
        with self._lock:
            return json_reply(200, copy.deepcopy(self._payouts[payout_id]))

    def _c_hold_reconciliation(self, request: Request, match: re.Match[str]) -> Reply:
        self.hold_reconciliation()
        return json_reply(200, {"held": True, "completed": []})

    def _c_release_reconciliation(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"held": False, "completed": self.release_reconciliation()})

    def _c_reconcile_payout(self, request: Request, match: re.Match[str]) -> Reply:
        with self._lock:
            if match.group(1) not in self._payouts:
                raise BadRequest(f"no payout {match.group(1)}")
        self.complete_reconciliation(match.group(1))
        with self._lock:
            return json_reply(200, copy.deepcopy(self._payouts[match.group(1)]))

    def _c_settlements(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"data": self.settlements()})

    def _c_settle_into(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        currency, into, rate = spec.get("currency"), spec.get("into"), spec.get("rate")
        if not isinstance(currency, str) or not (into is None or isinstance(into, str)):
            raise BadRequest('"currency" and "into" are currency codes ("into" may be null)')
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, str | int | Decimal)):
            raise BadRequest('"rate" is a decimal string such as "0.0067", or null')
        try:
            self.settle_into(currency, into, rate)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return json_reply(200, {"data": self.settlements()})

    def _c_advance_clock(self, request: Request, match: re.Match[str]) -> Reply:
        seconds = _control_body(request).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise BadRequest('"seconds" is a number of seconds, at least 0')
        settled = self.advance_clock(float(seconds))
        return json_reply(200, {"now": int(self.now()), "settled": settled})

    def _c_create_payouts(self, request: Request, match: re.Match[str]) -> Reply:
        ids = self.create_payouts()
        with self._lock:
            return json_reply(200, {"data": [copy.deepcopy(self._payouts[i]) for i in ids]})


def _control_body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    body = request.json()
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
