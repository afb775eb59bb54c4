"""SetupIntents (saving a card for later).

- ``POST /v1/setup_intents`` (``usage`` defaults to ``off_session``), ``GET /v1/setup_intents/{id}``
- ``POST /v1/setup_intents/{id}/confirm`` with ``payment_method`` (a test payment method such as
  ``pm_card_visa``, from which a fresh ``pm_...`` is minted, or a ``pm_...`` of this account): the
  SetupIntent goes ``requires_payment_method`` → ``succeeded``, the PaymentMethod is attached to its
  customer, and ``setup_intent.succeeded`` is sent. A card Stripe's test cards decline (every declining test
  card but ``pm_card_chargeCustomerFail``, 4000 0000 0000 0341, which Stripe documents as "attaching
  succeeds, charges fail") is refused as Stripe refuses it: HTTP 402 ``card_error`` carrying the
  SetupIntent, back in ``requires_payment_method`` with ``last_setup_error``, and ``setup_intent.setup_failed``.
  A SetupIntent that is ``succeeded``, ``canceled`` or ``processing`` answers 400
  ``setup_intent_unexpected_state``. Parameters are Stripe's ``SetupIntentConfirmParams`` (API
  2026-10-28.endive); of those the sandbox serves ``payment_method``, ``return_url``, ``use_stripe_sdk`` and
  ``expand``, and refuses the rest by name (``confirmation_token``, ``payment_method_data``, ...) rather
  than pretend to apply them.

``complete_setup`` (control API) stands in for the customer's browser and saves any test card.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any, NoReturn

from localcloud.sandboxes.stripe.cards import SandboxCard
from localcloud.sandboxes.stripe.errors import _DOC, ApiError, _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _bool, _list, _metadata, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_SETUP_INTENT_PARAMS = _COMMON_PARAMS | {
    "customer",
    "usage",
    "metadata",
    "description",
    "allowed_payment_method_types",
    "automatic_payment_methods",
}

#: ``SetupIntentConfirmParams`` at API 2026-10-28.endive (Stripe's Python SDK 16.1.0).
_CONFIRM_PARAMS = _COMMON_PARAMS | {
    "allowed_payment_method_types",
    "confirmation_token",
    "mandate_data",
    "payment_method",
    "payment_method_data",
    "payment_method_options",
    "return_url",
    "use_stripe_sdk",
}
#: Those the sandbox applies; the others are Stripe's but not served here, and refused by name.
_CONFIRM_SERVED = _COMMON_PARAMS | {"payment_method", "return_url", "use_stripe_sdk"}
#: Served for a bank debit only (``debits``): the account's details and the customer's mandate acceptance.
_DEBIT_SERVED = _CONFIRM_SERVED | {"payment_method_data", "mandate_data"}
_CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
#: Stripe's test card that is saved (attached) fine and declined only when charged.
_SAVED_THEN_DECLINED = frozenset({"0341"})


class SetupIntentsMixin(StripeState):
    def complete_setup(self, setup_intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """What the customer does in the browser: confirm the SetupIntent with a card. Mints a PaymentMethod
        attached to the customer, marks the SetupIntent succeeded and sends ``setup_intent.succeeded``."""
        with self._lock:
            seti = self._setup_intents[setup_intent_id]
            if seti["status"] == "succeeded":
                raise ValueError(f"{setup_intent_id} already succeeded")
            card = self._card_for(payment_method, param="payment_method")
            pm = self._mint_payment_method(card, customer=seti["customer"])
            self._setup_succeeded(seti, pm, None)
            return copy.deepcopy(seti)

    def setup_intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._setup_intents.values()))

    def _create_setup_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _SETUP_INTENT_PARAMS)
        metadata = _metadata(params)
        usage = _opt_str(params, "usage") or "off_session"
        if usage not in ("off_session", "on_session"):
            raise _invalid(f"Invalid usage: {usage}", param="usage")
        with self._lock:
            customer = self._customer_param(params)
            seti_id = new_id("seti", 24)
            seti: dict[str, Any] = {
                "id": seti_id,
                "object": "setup_intent",
                "application": None,
                "automatic_payment_methods": None,
                "cancellation_reason": None,
                "client_secret": f"{seti_id}_secret_{new_id('x', 24)[2:]}",
                "created": int(time.time()),
                "customer": customer,
                "description": _opt_str(params, "description"),
                "excluded_payment_method_types": None,
                "flow_directions": None,
                "last_setup_error": None,
                "latest_attempt": None,
                "livemode": False,
                "mandate": None,
                "metadata": metadata,
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_configuration_details": None,
                "payment_method_options": {
                    "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
                },
                "allowed_payment_method_types": _list(params, "allowed_payment_method_types"),
                "payment_method_types": _list(params, "allowed_payment_method_types") or ["card"],
                "single_use_mandate": None,
                "status": "requires_payment_method",
                "usage": usage,
            }
            self._setup_intents[seti_id] = seti
            return copy.deepcopy(seti)

    def _get_setup_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            seti = self._setup_intents.get(match.group(1))
            if seti is None:
                raise _missing("setup_intent", match.group(1))
            return copy.deepcopy(seti)

    def _confirm_setup_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CONFIRM_PARAMS)
        debit = "payment_method_data" in params
        unserved = sorted(set(params) - (_DEBIT_SERVED if debit else _CONFIRM_SERVED))
        if unserved:
            raise _invalid(
                f"The Stripe sandbox does not implement {unserved[0]} when confirming a SetupIntent "
                "(Stripe accepts it); send payment_method.",
                param=unserved[0],
            )
        _opt_str(params, "return_url")
        _bool(params, "use_stripe_sdk")
        pm_param = _opt_str(params, "payment_method")
        with self._lock:
            seti = self._setup_intents.get(match.group(1))
            if seti is None:
                raise _missing("setup_intent", match.group(1))
            if seti["status"] not in _CONFIRMABLE:
                raise _setup_unexpected_state(
                    seti,
                    f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
                )
            if debit:
                if pm_param is not None:
                    raise _invalid(
                        "You cannot provide both payment_method and payment_method_data.",
                        param="payment_method_data",
                    )
                self._save_bank_account(seti, params, call)
                return copy.deepcopy(seti)
            if pm_param is None:
                raise _setup_unexpected_state(
                    seti,
                    "You cannot confirm this SetupIntent because it's missing a payment method. Update the "
                    "SetupIntent with a payment method and then confirm it again.",
                )
            card = self._card_for(pm_param, param="payment_method")
            pm = self._payment_method_for(pm_param, card)
            if card.code is not None and card.last4 not in _SAVED_THEN_DECLINED:
                self._setup_failed(seti, pm, card, call)
            if pm["customer"] is None and seti["customer"] is not None:
                pm["customer"] = seti["customer"]
            self._setup_succeeded(seti, pm, call)
            return copy.deepcopy(seti)

    def _setup_succeeded(self, seti: dict[str, Any], pm: dict[str, Any], call: _Call | None) -> None:
        seti.update(
            status="succeeded",
            payment_method=pm["id"],
            latest_attempt=new_id("setatt", 24),
            last_setup_error=None,
            next_action=None,
        )
        self._emit("setup_intent.succeeded", seti, call)

    def _setup_failed(
        self, seti: dict[str, Any], pm: dict[str, Any], card: SandboxCard, call: _Call
    ) -> NoReturn:
        """The bank declined the card: nothing is saved; Stripe answers 402 with the SetupIntent."""
        assert card.code is not None
        error: dict[str, Any] = {
            "type": "card_error",
            "code": card.code,
            "decline_code": card.decline_code,
            "doc_url": _DOC + card.code.replace("_", "-"),
            "message": card.message,
            "payment_method": copy.deepcopy(pm),
        }
        seti.update(
            status="requires_payment_method",
            payment_method=None,
            latest_attempt=new_id("setatt", 24),
            last_setup_error=copy.deepcopy(error),
        )
        self._emit("setup_intent.setup_failed", seti, call)
        raise ApiError(402, {**error, "setup_intent": copy.deepcopy(seti)}, executed=True)


def _setup_unexpected_state(seti: dict[str, Any], message: str) -> ApiError:
    error = _invalid(message, code="setup_intent_unexpected_state")
    error.error["setup_intent"] = copy.deepcopy(seti)
    error.executed = True
    return error
