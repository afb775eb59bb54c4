"""Disputes (``dp_``): opened and closed from the Python control API (``open_dispute``, ``close_dispute``);
``GET /v1/disputes/{id}``, ``GET /v1/disputes`` (newest first; ``created`` as an integer or ``gt``/``gte``/
``lt``/``lte``, ``limit`` 1..100, ``starting_after``/``ending_before``; the ``status`` and ``transaction``
filters are not served: the sandbox refuses them as unknown). A lost dispute books an ``adjustment`` balance transaction (fee ``DISPUTE_FEE``).

A dispute on a bank debit (``sepa_debit``, ``us_bank_account``: a SEPA chargeback, or an ACH return after the
payment succeeded, which Stripe turns into a dispute) is final, as Stripe documents ("all ACH Direct Debit
disputes are final and there is no process to appeal", support.stripe.com; the same for SEPA):
``charge.dispute.created`` (no evidence due date, no ``payment_method_details``: the contract has no bank
type there) is followed at once by ``charge.dispute.closed`` ``lost``, the funds withdrawn.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _int, _only, _opt_str
from localcloud.sandboxes.stripe.payment_intents import _card_brand
from localcloud.sandboxes.stripe.state import StripeState, _Call

_DISPUTE_LIST_PARAMS = _COMMON_PARAMS | {"created", "limit", "starting_after", "ending_before"}
_RANGE_OPERATORS = {
    "gt": lambda value, bound: value > bound,
    "gte": lambda value, bound: value >= bound,
    "lt": lambda value, bound: value < bound,
    "lte": lambda value, bound: value <= bound,
}

_DISPUTE_REASONS = frozenset(
    {
        "bank_cannot_process",
        "check_returned",
        "credit_not_processed",
        "customer_initiated",
        "debit_not_authorized",
        "duplicate",
        "fraudulent",
        "general",
        "incorrect_account_details",
        "insufficient_funds",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
    }
)


#: What a lost dispute costs, in the smallest unit of the dispute's currency (15.00 USD on Stripe).
DISPUTE_FEE = 1500


class DisputesMixin(StripeState):
    def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> str:
        """The cardholder disputes a captured charge: a ``dp_...`` over what is left of it after refunds,
        status ``needs_response``, evidence due in 7 days; sends ``charge.dispute.created``."""
        if reason not in _DISPUTE_REASONS:
            raise ValueError(f"unknown dispute reason {reason!r}")
        with self._lock:
            charge = self._charges[charge_id]
            if not charge["captured"]:
                raise ValueError(f"{charge_id} was not captured: there is nothing to dispute")
            if any(d["charge"] == charge_id for d in self._disputes.values()):
                raise ValueError(f"{charge_id} is already disputed")
            amount = charge["amount_captured"] - charge["amount_refunded"]
            if amount <= 0:
                raise ValueError(f"{charge_id} was refunded in full: there is nothing to dispute")
            method = (charge.get("payment_method_details") or {}).get("type")
            bank_debit = method in ("sepa_debit", "us_bank_account")
            now = int(time.time())
            dispute: dict[str, Any] = {
                "id": new_id("dp", 24),
                "object": "dispute",
                "amount": amount,
                "balance_transactions": [],
                "charge": charge_id,
                "created": now,
                "currency": charge["currency"],
                "enhanced_eligibility_types": [],
                "evidence": {},
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                # the contract's dispute.payment_method_details types are card/klarna/paypal/amazon_pay:
                # a bank debit's dispute has none (the Charge says what was debited)
                "payment_method_details": None
                if bank_debit
                else {"card": {"brand": _card_brand(charge)}, "type": "card"},
                "reason": reason,
                "status": "needs_response",
            }
            self._disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            if bank_debit:
                # a bank debit's dispute (a return) is final: lost when it opens, no evidence, no appeal
                dispute["evidence_details"].update(due_by=None)
                dispute["status"] = "lost"
                self._book_lost(dispute)
                self._emit("charge.dispute.created", dispute, None)
                self._emit("charge.dispute.closed", dispute, None)
                return str(dispute["id"])
            self._emit("charge.dispute.created", dispute, None)
            return str(dispute["id"])

    def close_dispute(self, dispute_id: str, outcome: str = "won") -> dict[str, Any]:
        """The issuer decides: ``won`` (the funds stay) or ``lost`` (the disputed amount and a 15.00 dispute
        fee, 1500 minor units of the dispute's currency, leave the balance: an ``adjustment`` balance
        transaction). Sends ``charge.dispute.closed``; returns the dispute."""
        if outcome not in ("won", "lost"):
            raise ValueError('outcome is "won" or "lost"')
        with self._lock:
            dispute = self._disputes[dispute_id]
            if dispute["status"] in ("won", "lost", "warning_closed"):
                raise ValueError(f"{dispute_id} is already closed ({dispute['status']})")
            previous = {"status": dispute["status"]}
            if outcome == "lost":
                self._book_lost(dispute)
            dispute["status"] = outcome
            self._emit("charge.dispute.closed", dispute, None, previous)
            return copy.deepcopy(dispute)

    def _book_lost(self, dispute: dict[str, Any]) -> None:
        """The disputed amount and the dispute fee leave the balance (an ``adjustment``)."""
        amount, currency, rate = self._in_balance_of(
            self._charges[dispute["charge"]], dispute["amount"], dispute["currency"]
        )
        txn = self._add_balance_txn(
            "adjustment",
            -amount,
            currency,
            source=dispute["id"],
            fee=DISPUTE_FEE,
            description=f"Chargeback withdrawal for {dispute['charge']}",
            reporting_category="dispute",
            fee_description="Dispute fee",
            exchange_rate=rate,
        )
        dispute["balance_transactions"] = [copy.deepcopy(txn)]

    def disputes(self) -> list[dict[str, Any]]:
        return self._snapshot(self._disputes)

    def _list_disputes(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _DISPUTE_LIST_PARAMS)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        created = _created_filter(params.get("created"))
        after, before = _opt_str(params, "starting_after"), _opt_str(params, "ending_before")
        with self._lock:
            newest_first = list(reversed(self._disputes.values()))
            position = {d["id"]: index for index, d in enumerate(newest_first)}
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor is not None and cursor not in position:
                    raise _missing("dispute", cursor, param=name)
            items = [
                d
                for d in newest_first
                if all(test(d["created"], bound) for test, bound in created)
                and (after is None or position[d["id"]] > position[after])
                and (before is None or position[d["id"]] < position[before])
            ]
            page = items[-limit:] if before is not None and after is None else items[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(items) > limit,
                "url": "/v1/disputes",
            }


def _created_filter(value: Any) -> list[tuple[Any, int]]:
    """``created=<ts>`` or ``created[gt|gte|lt|lte]=<ts>`` as (test, bound) pairs."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [(lambda v, bound: v == bound, _int({"created": value}, "created"))]
    unknown = set(value) - set(_RANGE_OPERATORS)
    if unknown:
        name = sorted(unknown)[0]
        raise _invalid(
            f"Received unknown parameter: created[{name}]", param=f"created[{name}]", code="parameter_unknown"
        )
    return [(_RANGE_OPERATORS[op], _int(value, op)) for op in sorted(value)]
