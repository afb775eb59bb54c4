"""SetupIntents (saving a card for later).

- ``POST /v1/setup_intents`` (``usage`` defaults to ``off_session``)
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from localcloud.sandboxes.stripe.errors import _invalid, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _list, _metadata, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_SETUP_INTENT_PARAMS = _COMMON_PARAMS | {
    "customer",
    "usage",
    "metadata",
    "description",
    "payment_method_types",
    "automatic_payment_methods",
}


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
            seti.update(status="succeeded", payment_method=pm["id"], latest_attempt=new_id("setatt", 24))
            self._emit("setup_intent.succeeded", seti, None)
            return copy.deepcopy(seti)

    def setup_intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._setup_intents.values()))

    def _create_setup_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _SETUP_INTENT_PARAMS)
        metadata = _metadata(params)
        usage = _opt_str(params, "usage") or "off_session"
        if usage not in ("off_session", "on_session"):
            raise _invalid(f"Invalid usage: {usage}", param="usage", code="parameter_invalid_string")
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
                "last_setup_error": None,
                "latest_attempt": None,
                "livemode": False,
                "mandate": None,
                "metadata": metadata,
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_types": _list(params, "payment_method_types") or ["card"],
                "single_use_mandate": None,
                "status": "requires_payment_method",
                "usage": usage,
            }
            self._setup_intents[seti_id] = seti
            return copy.deepcopy(seti)
