"""PaymentIntents and their Charges.

- ``POST /v1/payment_intents`` (``confirm=true`` charges/authorizes at once; a decline is HTTP 402
  ``card_error`` with the PaymentIntent in the error), ``GET /v1/payment_intents/{id}``,
  ``POST /v1/payment_intents/{id}/capture``, ``POST /v1/payment_intents/{id}/cancel`` (any other status
  than the allowed ones → 400 ``payment_intent_unexpected_state`` with the PaymentIntent)
- ``GET /v1/charges/{id}``

Amounts as Stripe takes them (``currencies``): at least Stripe's minimum charge (400 ``amount_too_small``);
in a three-decimal currency (KWD, BHD, JOD, OMR, TND) the last digit 0, for ``amount`` and
``amount_to_capture`` alike (400 on the parameter); ISK and UGX in whole units.

A confirmed PaymentIntent has a Charge (``ch_``; ``captured`` once captured); what a captured charge books
is in ``balance``.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from localcloud.sandboxes.stripe.balance import conversion_fee, processing_fee
from localcloud.sandboxes.stripe.cards import SandboxCard
from localcloud.sandboxes.stripe.currencies import MINIMUM_CHARGE, _converted, _format, amount_error
from localcloud.sandboxes.stripe.errors import _DOC, ApiError, _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _bool, _int, _list, _metadata, _only, _opt_str
from localcloud.sandboxes.stripe.radar import risk_outcome
from localcloud.sandboxes.stripe.state import StripeState, _Call

_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"}
)


_CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})


_PAYMENT_INTENT_PARAMS = _COMMON_PARAMS | {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "allowed_payment_method_types",
    "automatic_payment_methods",
    "capture_method",
    "confirm",
    "off_session",
    "metadata",
    "description",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor_suffix",
    "error_on_requires_action",
    "mandate",
    "mandate_data",
}


_CAPTURE_PARAMS = _COMMON_PARAMS | {"amount_to_capture", "metadata"}


_CANCEL_PARAMS = _COMMON_PARAMS | {"cancellation_reason"}


#: A card PaymentIntent's ``payment_method_options`` as Stripe answers it (3-D Secure when the bank asks).
_CARD_OPTIONS: dict[str, Any] = {
    "card": {
        "installments": None,
        "mandate_options": None,
        "network": None,
        "request_three_d_secure": "automatic",
    }
}


class PaymentIntentsMixin(StripeState):
    def payment_intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._payment_intents.values()))

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._payment_intents[payment_intent_id])

    def charges(self) -> list[dict[str, Any]]:
        return self._snapshot(self._charges)

    def charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._charges[charge_id])

    def _create_payment_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _PAYMENT_INTENT_PARAMS)
        metadata = _metadata(params)
        amount = _int(params, "amount")
        currency = _opt_str(params, "currency")
        if not currency:
            raise _invalid("Missing required param: currency.", param="currency", code="parameter_missing")
        currency = currency.lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(f"Invalid currency: {currency}.", param="currency")
        minimum = MINIMUM_CHARGE.get(currency, 1)
        if amount < minimum:
            raise _invalid(
                f"Amount must be at least {_format(minimum, currency)}.",
                param="amount",
                code="amount_too_small",
            )
        refused = amount_error(amount, currency)
        if refused is not None:
            raise _invalid(refused, param="amount")
        capture_method = _opt_str(params, "capture_method") or "automatic_async"
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise _invalid(
                f"Invalid capture_method: {capture_method}",
                param="capture_method",
            )
        confirm = _bool(params, "confirm")
        if "off_session" in params and not confirm:
            raise _invalid(
                "You can only use off_session with confirm=true.",
                param="off_session",
            )
        with self._lock:
            customer = self._customer_param(params)
            pm_param = _opt_str(params, "payment_method")
            if self.is_bank_method(pm_param):
                return self._create_debit_intent(params, call, amount, currency, capture_method, customer)
            if params.get("mandate") or params.get("mandate_data"):
                name = "mandate" if params.get("mandate") else "mandate_data"
                raise _invalid(
                    f"The Stripe sandbox serves {name} for bank debits (sepa_debit, us_bank_account) only.",
                    param=name,
                )
            card = self._card_for(pm_param, param="payment_method") if pm_param else None
            if confirm and card is None:
                raise _invalid(
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                    code="payment_intent_unexpected_state",
                )
            pi = _payment_intent_object(
                amount,
                currency,
                customer=customer,
                capture_method=capture_method,
                description=_opt_str(params, "description"),
                metadata=metadata,
                allowed_payment_method_types=_list(params, "allowed_payment_method_types"),
                payment_method_types=_list(params, "allowed_payment_method_types") or ["card"],
                receipt_email=_opt_str(params, "receipt_email"),
                setup_future_usage=_opt_str(params, "setup_future_usage"),
                statement_descriptor_suffix=_opt_str(params, "statement_descriptor_suffix"),
                status="requires_confirmation" if card else "requires_payment_method",
            )
            pi_id = pi["id"]
            self._payment_intents[pi_id] = pi
            if not confirm or card is None or pm_param is None:
                return copy.deepcopy(pi)
            pm = self._payment_method_for(pm_param, card)
            charge_id = new_id("ch", 24)
            pi["latest_charge"] = charge_id
            if card.code is not None:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {
                    "type": "card_error",
                    "code": card.code,
                    "decline_code": card.decline_code,
                    "charge": charge_id,
                    "doc_url": _DOC + card.code.replace("_", "-"),
                    "message": card.message,
                    "payment_method": copy.deepcopy(pm),
                }
                self._emit("payment_intent.payment_failed", pi, call)
                raise ApiError(
                    402,
                    {
                        "type": "card_error",
                        "code": card.code,
                        "decline_code": card.decline_code,
                        "charge": charge_id,
                        "doc_url": _DOC + card.code.replace("_", "-"),
                        "message": card.message,
                        "payment_intent": copy.deepcopy(pi),
                        "payment_method": copy.deepcopy(pm),
                    },
                    executed=True,
                )
            pi["payment_method"] = pm["id"]
            charge = self._new_charge(pi, pm)
            if capture_method == "manual":
                pi.update(status="requires_capture", amount_capturable=amount)
                self._emit("payment_intent.amount_capturable_updated", pi, call)
            else:
                self._capture_charge(charge, amount)
                pi.update(status="succeeded", amount_received=amount)
                self._emit("payment_intent.succeeded", pi, call)
            return copy.deepcopy(pi)

    def _create_debit_intent(
        self,
        params: dict[str, Any],
        call: _Call,
        amount: int,
        currency: str,
        capture_method: str,
        customer: str | None,
    ) -> dict[str, Any]:
        """A PaymentIntent on a saved bank account (``debits``): refused as Stripe refuses it, else
        ``processing`` when confirmed."""
        pm = self.bank_method(str(params["payment_method"]))
        mandate = self._check_debit(pm, params, currency, capture_method)
        if pm["customer"] is not None and customer != pm["customer"]:
            raise _invalid(
                f"The provided PaymentMethod {pm['id']} belongs to another customer.",
                param="payment_method",
            )
        pi = _payment_intent_object(
            amount,
            currency,
            customer=customer,
            capture_method=capture_method,
            description=_opt_str(params, "description"),
            metadata=_metadata(params),
            allowed_payment_method_types=_list(params, "allowed_payment_method_types"),
            payment_method_types=[pm["type"]],
            receipt_email=_opt_str(params, "receipt_email"),
            statement_descriptor_suffix=_opt_str(params, "statement_descriptor_suffix"),
            payment_method=pm["id"],
            payment_method_options={},
            status="requires_confirmation",
        )
        self._payment_intents[pi["id"]] = pi
        if _bool(params, "confirm"):
            self._start_debit(pi, pm, mandate, call)
        return copy.deepcopy(pi)

    def _get_payment_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._payment_intent(match.group(1)))

    def _capture(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CAPTURE_PARAMS)
        with self._lock:
            pi = self._payment_intent(match.group(1))
            if pi["status"] != "requires_capture":
                raise _unexpected_state(
                    pi,
                    f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
                    "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                )
            amount = _int(params, "amount_to_capture", default=pi["amount_capturable"])
            refused = amount_error(amount, pi["currency"])
            if refused is not None:
                raise _invalid(refused.replace("amount", "amount_to_capture", 1), param="amount_to_capture")
            if not 1 <= amount <= pi["amount_capturable"]:
                raise _invalid(
                    "The amount_to_capture must be at least 1 and no more than the amount_capturable.",
                    param="amount_to_capture",
                    code="amount_too_large",
                )
            if "metadata" in params:
                pi["metadata"] = {**pi["metadata"], **_metadata(params)}
                pi["metadata"] = {k: v for k, v in pi["metadata"].items() if v != ""}
            charge = self._charges.get(pi["latest_charge"] or "")
            if charge is not None:
                self._capture_charge(charge, amount)
            pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
            self._emit("payment_intent.succeeded", pi, call)
            return copy.deepcopy(pi)

    def _cancel(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CANCEL_PARAMS)
        reason = _opt_str(params, "cancellation_reason")
        if reason is not None and reason not in _CANCELLATION_REASONS:
            raise _invalid(
                f"Invalid cancellation_reason: {reason}",
                param="cancellation_reason",
            )
        with self._lock:
            pi = self._payment_intent(match.group(1))
            if pi["status"] not in _CANCELABLE:
                raise _unexpected_state(
                    pi,
                    f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
                    "PaymentIntent with one of the following statuses may be canceled: "
                    "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
                    "processing.",
                )
            pi.update(
                status="canceled",
                canceled_at=int(time.time()),
                cancellation_reason=reason,
                amount_capturable=0,
            )
            self._emit("payment_intent.canceled", pi, call)
            return copy.deepcopy(pi)

    def _payment_intent_param(self, payment_intent_id: str) -> dict[str, Any]:
        pi = self._payment_intents.get(payment_intent_id)
        if pi is None:
            raise _missing("payment_intent", payment_intent_id, param="payment_intent")
        return pi

    def _new_payment_intent(
        self, amount: int, currency: str, *, customer: str, pm: dict[str, Any]
    ) -> dict[str, Any]:
        """A PaymentIntent confirmed off session with automatic capture (a renewal's), status
        ``processing`` until the caller settles it."""
        pi = _payment_intent_object(
            amount,
            currency,
            customer=customer,
            capture_method="automatic",
            latest_charge=new_id("ch", 24),
            payment_method=pm["id"],
            status="processing",
        )
        pi_id = pi["id"]
        self._payment_intents[pi_id] = pi
        return pi

    def _decline(
        self, pi: dict[str, Any], charge: dict[str, Any], card: SandboxCard, pm: dict[str, Any]
    ) -> None:
        assert card.code is not None
        charge.update(
            status="failed",
            paid=False,
            failure_code=card.code,
            failure_message=card.message,
            outcome={
                "network_status": "declined_by_network",
                "reason": card.decline_code,
                "type": "issuer_declined",
            },
        )
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = {
            "type": "card_error",
            "code": card.code,
            "decline_code": card.decline_code,
            "charge": charge["id"],
            "doc_url": _DOC + card.code.replace("_", "-"),
            "message": card.message,
            "payment_method": copy.deepcopy(pm),
        }

    def _new_charge(
        self, pi: dict[str, Any], pm: dict[str, Any], *, description: str | None = None
    ) -> dict[str, Any]:
        """The charge ``pi["latest_charge"]`` names: authorized (``captured`` false) until ``_capture_charge``;
        its Radar outcome from the card (``radar``): an elevated risk is placed in review."""
        card = pm.get("card") or {}
        minted = self._payment_methods.get(pm["id"])
        risk_level = minted.card.risk_level if minted is not None else "normal"
        charge: dict[str, Any] = {
            "id": pi["latest_charge"],
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "O2C HUB",
            "captured": False,
            "created": int(time.time()),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": description if description is not None else pi.get("description"),
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": False,
            "metadata": copy.deepcopy(pi["metadata"]),
            "on_behalf_of": None,
            "outcome": risk_outcome(risk_level, reviewed=risk_level == "elevated"),
            "paid": True,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "brand": card.get("brand"),
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                    "funding": card.get("funding"),
                    "last4": card.get("last4"),
                    "wallet": copy.deepcopy(card.get("wallet")),
                },
                "type": "card",
            },
            "receipt_email": pi.get("receipt_email"),
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": pi.get("statement_descriptor_suffix"),
            "status": "succeeded",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._charges[charge["id"]] = charge
        if risk_level == "elevated":
            self._open_review(charge, None)
        return charge

    def _capture_charge(self, charge: dict[str, Any], amount: int) -> None:
        currency, rate = charge["currency"], None
        settlement = self._settlement.get(currency)
        booked = amount
        if settlement is not None:
            currency, rate = settlement
            booked = _converted(amount, charge["currency"], rate, currency)
        txn = self._add_balance_txn(
            "charge",
            booked,
            currency,
            source=charge["id"],
            fee=processing_fee(booked),
            description=charge["description"],
            reporting_category="charge",
            fee_description="Stripe processing fees",
            exchange_rate=rate,
            conversion_fee=0 if rate is None else conversion_fee(booked),
        )
        charge.update(captured=True, amount_captured=amount, balance_transaction=txn["id"])

    def _payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        pi = self._payment_intents.get(payment_intent_id)
        if pi is None:
            raise _missing("payment_intent", payment_intent_id)
        return pi


def _card_brand(charge: dict[str, Any]) -> str | None:
    return ((charge.get("payment_method_details") or {}).get("card") or {}).get("brand")


def _unexpected_state(pi: dict[str, Any], message: str) -> ApiError:
    error = _invalid(message, code="payment_intent_unexpected_state")
    error.error["payment_intent"] = copy.deepcopy(pi)
    error.executed = True
    return error


def _payment_intent_object(
    amount: int, currency: str, *, customer: str | None, capture_method: str, **fields: Any
) -> dict[str, Any]:
    """A new PaymentIntent with every field Stripe answers (API 2026-10-28.endive); ``fields`` set the rest."""
    pi_id = new_id("pi", 24)
    pi: dict[str, Any] = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{pi_id}_secret_{new_id('x', 25)[2:]}",
        "confirmation_method": "automatic",
        "created": int(time.time()),
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": copy.deepcopy(_CARD_OPTIONS),
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    pi.update(fields)
    return pi
