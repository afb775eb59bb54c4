"""Refunds.

- ``POST /v1/refunds`` (``payment_intent`` or ``charge``; ``amount`` defaults to what remains; partial and
  repeated refunds; more than remains → 400 ``amount_too_large``, nothing left → ``charge_already_refunded``,
  a charge under (or lost to) a dispute → ``charge_disputed``; a three-decimal ``amount`` must end in 0),
  ``GET /v1/refunds/{id}``
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import time
from typing import Any

from localcloud.sandboxes.stripe.currencies import _format, amount_error
from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _int, _metadata, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_REFUND_PARAMS = _COMMON_PARAMS | {"payment_intent", "charge", "amount", "metadata", "reason"}


_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


class RefundsMixin(StripeState):
    def fail_next_refund(self, count: int = 1) -> None:
        """The next ``count`` refunds end ``failed`` (``failure_reason`` ``expired_or_canceled_card``): the
        API answers the refund with that status, ``refund.created`` and ``refund.failed`` are sent, and
        neither the charge nor the balance changes."""
        if count < 1:
            raise ValueError("fail_next_refund needs count >= 1")
        with self._lock:
            self._failing_refunds += count

    def refunds(self) -> list[dict[str, Any]]:
        return self._snapshot(self._refunds)

    def _create_refund(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _REFUND_PARAMS)
        metadata = _metadata(params)
        reason = _opt_str(params, "reason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise _invalid(f"Invalid reason: {reason}", param="reason")
        amount = _int(params, "amount") if "amount" in params else None
        if amount is not None and amount < 1:
            raise _invalid("Amount must be at least 1.", param="amount", code="amount_too_small")
        pi_id, charge_id = _opt_str(params, "payment_intent"), _opt_str(params, "charge")
        if pi_id is None and charge_id is None:
            raise _invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        with self._lock:
            if pi_id is not None:
                pi = self._payment_intent_param(pi_id)
                charge = self._charges.get(pi["latest_charge"] or "")
                if charge is None or not charge["captured"] or pi["status"] != "succeeded":
                    raise _invalid(
                        f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                        param="payment_intent",
                        code="charge_not_refundable",
                    )
                if charge_id is not None and charge_id != charge["id"]:
                    raise _invalid(
                        f"The charge {charge_id} does not belong to PaymentIntent {pi_id}.", param="charge"
                    )
            else:
                assert charge_id is not None
                found = self._charges.get(charge_id)
                if found is None:
                    raise _missing("charge", charge_id, param="charge")
                charge = found
            if any(
                d["charge"] == charge["id"] and d["status"] not in ("won", "warning_closed")
                for d in self._disputes.values()
            ):
                error = _invalid(
                    f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
                error.executed = True
                raise error
            remaining = charge["amount_captured"] - charge["amount_refunded"]
            if remaining <= 0:
                error = _invalid(
                    f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
                )
                error.executed = True
                raise error
            refused = None if amount is None else amount_error(amount, charge["currency"])
            if refused is not None:
                raise _invalid(refused, param="amount")
            if amount is None:
                amount = remaining
            elif amount > remaining:
                error = _invalid(
                    f"Refund amount ({_format(amount, charge['currency'])}) is greater than unrefunded amount "
                    f"on charge ({_format(remaining, charge['currency'])})",
                    param="amount",
                    code="amount_too_large",
                )
                error.executed = True
                raise error
            failing = self._failing_refunds > 0
            if failing:
                self._failing_refunds -= 1
            refund: dict[str, Any] = {
                "id": new_id("re", 24),
                "object": "refund",
                "amount": amount,
                "balance_transaction": None,
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "customer": charge["customer"],
                "customer_account": None,
                "destination_details": {
                    "card": {
                        "reference": None,
                        "reference_status": "pending",
                        "reference_type": "acquirer_reference_number",
                        "type": "refund",
                    },
                    "type": "card",
                },
                "failure_balance_transaction": None,
                "failure_reason": None,
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "payment_method": charge["payment_method"],
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            self._refunds[refund["id"]] = refund
            if failing:  # as on Stripe: created pending, then failed (the reply already says so)
                refund["status"] = "pending"
                self._emit("refund.created", refund, call)
                refund.update(status="failed", failure_reason="expired_or_canceled_card")
                refund["destination_details"]["card"]["reference_status"] = "unavailable"
                self._emit("refund.failed", refund, call, {"status": "pending", "failure_reason": None})
                return copy.deepcopy(refund)
            booked, currency, rate = self._in_balance_of(charge, amount, charge["currency"])
            txn = self._add_balance_txn(
                "refund",
                -booked,
                currency,
                source=refund["id"],
                fee=0,
                description="REFUND FOR CHARGE"
                + (f" ({charge['description']})" if charge["description"] else ""),
                reporting_category="refund",
                exchange_rate=rate,
            )
            refund["balance_transaction"] = txn["id"]
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
            reply = copy.deepcopy(refund)
            self._emit("refund.created", refund, call)
            self._emit(
                "charge.refunded", charge, call, {"amount_refunded": charge["amount_refunded"] - amount}
            )
            previous = {"destination_details": copy.deepcopy(refund["destination_details"])}
            refund["destination_details"]["card"].update(
                reference="".join(secrets.choice(string.digits) for _ in range(23)),
                reference_status="available",
            )
            self._emit("refund.updated", refund, call, previous)
            return reply
