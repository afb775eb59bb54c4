"""Balance transactions, payouts, settlement in another currency (FX) and Stripe's fees.

- ``GET /v1/balance_transactions?payout=po_...`` (also ``type``, ``currency``, ``source``), newest first,
  cursor-paged: ``limit`` (1..100, default 10), ``starting_after`` / ``ending_before``, ``has_more``

Money after the sale. A confirmed PaymentIntent has a Charge (``ch_``; ``captured`` once captured). Every
captured charge, succeeded refund and lost dispute books a balance transaction (``txn_``, ``available`` at
once): ``charge`` (fee ``processing_fee``: 2.9% rounded half up + 30 of the smallest unit; net = amount -
fee), ``refund`` (minus the amount, fee 0), ``adjustment`` (a lost dispute: minus the disputed amount, fee
``DISPUTE_FEE`` = 1500 of the smallest unit). By default each currency settles in itself (``exchange_rate``
null). ``settle_into(currency, into, rate)`` makes later charges in ``currency`` settle in the ``into``
balance, as Stripe converts into an account's settlement currency: the transaction's ``amount`` is the
charge's times ``rate`` (major units, rounded half up, in Stripe's smallest unit of ``into``), its
``currency`` is ``into`` and ``exchange_rate`` the rate (a JSON number: amount in ``currency`` x
``exchange_rate`` = amount in ``into``); the fees are in ``into``: the processing fee on the converted
amount plus, as a second ``fee_details`` entry, a "Currency conversion fee" (``conversion_fee``: 1% of the
converted amount, rounded half up); ``fee`` is their sum. Refunds and lost disputes of a converted charge
come out of the balance it went to, converted at the rate in force when they are booked (a lost dispute:
when it is closed), or the charge's own rate if the conversion has ended since; the dispute fee is in
``into``. The Charge, PaymentIntent, Refund and Dispute keep their own amount and currency; the charge's
``balance_transaction`` is the converted one. ``create_payout(currency=None)`` pays out every transaction
not yet paid out in one balance currency (converted ones included): amount = the sum of their nets, a
``payout`` transaction of minus that. No ``charge.*`` event is sent for a charge itself.

The exchange rate is in major units (vendor-specs STRIPE_SPEC_NOTES "Answers": ``amount`` in the source
currency x ``exchange_rate`` = ``amount`` in the balance currency; Stripe's FX quotes give KRW -> CHF as
0.000617274, a rate between whole won and whole francs): ¥1,000 at 0.0067 is 6.70 USD (``670``), 10.00
USD at 150.5 is ¥1,505, 10.00 USD at 0.3075 is 3.075 KWD (``3075``). Computed here from Stripe's own
currency table (``currencies``), not the hub's.

Payout reconciliation (Payout ``reconciliation_status``, vendor-specs STRIPE_SPEC_NOTES "Answers";
docs.stripe.com/payouts/reconciliation): a scheduled payout (``automatic`` true) is ``paid`` with
``reconciliation_status`` ``in_progress``; ``reconciliation_delay_s`` later it is ``completed`` and
``payout.reconciliation_completed`` is sent. Only then does ``?payout=`` list every transaction it paid out;
while ``in_progress`` it lists the payout's own transaction only (Stripe's list is not complete before).
``hold_reconciliation()`` keeps new payouts ``in_progress`` until ``complete_reconciliation(po_)`` or
``release_reconciliation()``. A manual payout (``create_payout(currency, automatic=False)``, as
``POST /v1/payouts`` makes one) is ``not_applicable``: Stripe cannot tell which transactions it paid out, and
``?payout=`` on it is a 400 ("Balance transaction history can only be filtered on automatic transfers, not
manual.", param ``payout``), as the ``payout`` filter is "for automatic Stripe payouts only".
"""

from __future__ import annotations

import copy
import re
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from localcloud.sandboxes.stripe.currencies import _converted
from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _int, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_BALANCE_TXN_LIST_PARAMS = _COMMON_PARAMS | {
    "payout",
    "limit",
    "starting_after",
    "ending_before",
    "type",
    "currency",
    "source",
}


class BalanceMixin(StripeState):
    def settle_into(self, currency: str, into: str | None, rate: Decimal | str | float | None) -> None:
        """From now on, charges in ``currency`` settle into the ``into`` balance at ``rate`` (major units:
        1 ``currency`` = ``rate`` ``into``; a float is read through its repr): their balance transactions
        (and those of their refunds and lost disputes) are in ``into``, with ``exchange_rate`` = ``rate``
        and a 1% currency conversion fee on a charge. Calling again changes the rate for later
        transactions; ``into`` equal to ``currency``, or None, or ``rate`` None ends the conversion."""
        code = currency.lower()
        target = (into or code).lower()
        for value in (code, target):
            if not re.fullmatch(r"[a-z]{3}", value):
                raise ValueError(f"invalid currency {value!r}")
        with self._lock:
            if target == code or rate is None:
                self._settlement.pop(code, None)
                return
            exact = _rate(rate)
            self._settlement[code] = (target, exact)

    def settlements(self) -> dict[str, dict[str, str]]:
        """The conversions in force: ``{"jpy": {"into": "usd", "rate": "0.0067"}}``."""
        with self._lock:
            return {c: {"into": into, "rate": str(rate)} for c, (into, rate) in self._settlement.items()}

    def create_payout(self, currency: str | None = None, *, automatic: bool = True) -> str:
        """Stripe's scheduled payout: every available balance transaction in ``currency`` not yet paid out
        goes out in one ``po_...`` of the sum of their nets, with its own ``payout`` balance transaction
        (minus that sum); sends ``payout.created`` and ``payout.paid`` (``reconciliation_status``
        ``in_progress``), then ``payout.reconciliation_completed`` (see the module). Without ``currency``:
        the one currency with unpaid transactions (``ValueError`` if there are several: see
        ``create_payouts``), also when their sum is not positive. ``automatic=False``: a manual payout of
        that balance (``reconciliation_status`` ``not_applicable``, ``?payout=`` refused)."""
        with self._lock:
            currencies = self._unpaid_currencies()
            if currency is None:
                if len(currencies) != 1:
                    raise ValueError(
                        f"unpaid balance transactions in {currencies or 'no currency'}: name the currency "
                        "or call create_payouts()"
                    )
                currency = currencies[0]
            return self._pay_out(currency.lower(), automatic=automatic)

    def create_payouts(self) -> list[str]:
        """One payout per currency whose unpaid balance is positive (a negative balance stays, as on Stripe)."""
        with self._lock:
            ids: list[str] = []
            for currency in self._unpaid_currencies():
                if sum(t["net"] for t in self._unpaid(currency)) > 0:
                    ids.append(self._pay_out(currency))
            return ids

    def payouts(self) -> list[dict[str, Any]]:
        return self._snapshot(self._payouts)

    def hold_reconciliation(self) -> None:
        """Payouts from now on stay ``in_progress`` until ``complete_reconciliation`` or
        ``release_reconciliation``."""
        with self._lock:
            self._reconciliation_held = True

    def release_reconciliation(self) -> list[str]:
        """Stop holding; every payout still ``in_progress`` completes now. Returns their ids."""
        with self._lock:
            self._reconciliation_held = False
            waiting = [p["id"] for p in self._payouts.values() if p["reconciliation_status"] == "in_progress"]
        for payout_id in waiting:
            self.complete_reconciliation(payout_id)
        return waiting

    def wait_for_reconciliation(self, payout_id: str, timeout_s: float = 5.0) -> None:
        """Block until the payout is no longer ``in_progress`` (``TimeoutError`` if not within
        ``timeout_s``, e.g. while held)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self._payouts[payout_id]["reconciliation_status"] != "in_progress":
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"payout {payout_id} is still in_progress")
            time.sleep(0.01)

    def complete_reconciliation(self, payout_id: str) -> bool:
        """Stripe has tied every balance transaction of the payout: ``reconciliation_status`` ``completed``
        and ``payout.reconciliation_completed``. False if it was not ``in_progress``."""
        with self._lock:
            payout = self._payouts[payout_id]
            if payout["reconciliation_status"] != "in_progress":
                return False
            payout["reconciliation_status"] = "completed"
            self._emit(
                "payout.reconciliation_completed", payout, None, {"reconciliation_status": "in_progress"}
            )
            return True

    def balance_transactions(self) -> list[dict[str, Any]]:
        """Every balance transaction, oldest first (the API lists newest first)."""
        return self._snapshot(self._balance_txns)

    def balance(self) -> dict[str, int]:
        """Available balance per currency: the sum of every balance transaction's net."""
        with self._lock:
            totals: dict[str, int] = {}
            for txn in self._balance_txns.values():
                totals[txn["currency"]] = totals.get(txn["currency"], 0) + txn["net"]
            return totals

    def _list_balance_transactions(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _BALANCE_TXN_LIST_PARAMS)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        payout = _opt_str(params, "payout")
        kind, currency, source = (_opt_str(params, name) for name in ("type", "currency", "source"))
        after, before = _opt_str(params, "starting_after"), _opt_str(params, "ending_before")
        with self._lock:
            if payout is not None and payout not in self._payouts:
                raise _missing("payout", payout, param="payout")
            if payout is not None and not self._payouts[payout]["automatic"]:
                raise _invalid(
                    "Balance transaction history can only be filtered on automatic transfers, not manual.",
                    param="payout",
                )
            # until Stripe has reconciled the payout, its list holds the payout's own transaction only
            reconciled = payout is None or self._payouts[payout]["reconciliation_status"] == "completed"
            newest_first = list(reversed(self._balance_txns.values()))
            position = {txn["id"]: index for index, txn in enumerate(newest_first)}
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor is not None and cursor not in position:
                    raise _missing("balance_transaction", cursor, param=name)
            items = [
                txn
                for txn in newest_first
                if (payout is None or self._paid_out_in.get(txn["id"]) == payout)
                and (reconciled or txn["type"] == "payout")
                and (kind is None or txn["type"] == kind)
                and (currency is None or txn["currency"] == currency.lower())
                and (source is None or txn["source"] == source)
                and (after is None or position[txn["id"]] > position[after])
                and (before is None or position[txn["id"]] < position[before])
            ]
            page = items[-limit:] if before is not None and after is None else items[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(items) > limit,
                "url": "/v1/balance_transactions",
            }

    def _in_balance_of(
        self, charge: dict[str, Any], amount: int, currency: str
    ) -> tuple[int, str, Decimal | None]:
        """``amount`` (Stripe's smallest unit of ``currency``, the charge's) as it leaves the balance the
        charge went to: unchanged if the charge settled in its own currency, else converted into the
        charge's settlement currency at the rate in force now (the charge's own rate if that conversion
        has ended since)."""
        txn = self._balance_txns.get(charge.get("balance_transaction") or "")
        if txn is None or txn["exchange_rate"] is None or txn["currency"] == currency:
            return amount, currency, None
        into = str(txn["currency"])
        current = self._settlement.get(currency)
        rate = current[1] if current is not None and current[0] == into else _rate(txn["exchange_rate"])
        return _converted(amount, currency, rate, into), into, rate

    def _add_balance_txn(
        self,
        kind: str,
        amount: int,
        currency: str,
        *,
        source: str,
        fee: int,
        description: str | None,
        reporting_category: str,
        fee_description: str = "Stripe processing fees",
        exchange_rate: Decimal | None = None,
        conversion_fee: int = 0,
    ) -> dict[str, Any]:
        now = int(time.time())
        fee_details = [
            {
                "amount": value,
                "application": None,
                "currency": currency,
                "description": description_,
                "type": "stripe_fee",
            }
            for value, description_ in ((fee, fee_description), (conversion_fee, "Currency conversion fee"))
            if value
        ]
        total_fee = fee + conversion_fee
        txn: dict[str, Any] = {
            "id": new_id("txn", 24),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "balance_type": "payments",
            "created": now,
            "currency": currency,
            "description": description,
            "exchange_rate": None if exchange_rate is None else float(exchange_rate),
            "fee": total_fee,
            "fee_details": fee_details,
            "net": amount - total_fee,
            "reporting_category": reporting_category,
            "source": source,
            "status": "available",
            "type": kind,
        }
        self._balance_txns[txn["id"]] = txn
        return txn

    def _unpaid(self, currency: str) -> list[dict[str, Any]]:
        return [
            txn
            for txn in self._balance_txns.values()
            if txn["currency"] == currency and txn["type"] != "payout" and txn["id"] not in self._paid_out_in
        ]

    def _unpaid_currencies(self) -> list[str]:
        return sorted(
            {
                t["currency"]
                for t in self._balance_txns.values()
                if t["type"] != "payout" and t["id"] not in self._paid_out_in
            }
        )

    def _pay_out(self, currency: str, *, automatic: bool = True) -> str:
        txns = self._unpaid(currency)
        if not txns:
            raise ValueError(f"no unpaid balance transactions in {currency}")
        amount = sum(int(t["net"]) for t in txns)
        if amount <= 0:
            raise ValueError(f"the unpaid {currency} balance is {amount}: nothing to pay out")
        now = int(time.time())
        payout_id = new_id("po", 24)
        own = self._add_balance_txn(
            "payout",
            -amount,
            currency,
            source=payout_id,
            fee=0,
            description="STRIPE PAYOUT",
            reporting_category="payout",
        )
        payout: dict[str, Any] = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "application_fee": None,
            "application_fee_amount": None,
            "arrival_date": now - now % 86400,
            "automatic": automatic,
            "balance_transaction": own["id"],
            "created": now,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": "ba_" + "1O2cHubSandboxBank00000",
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "original_payout": None,
            "payout_method": None,
            "reconciliation_status": "in_progress" if automatic else "not_applicable",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": "in_transit",
            "trace_id": {"status": "pending", "value": None},
            "type": "bank_account",
        }
        self._payouts[payout_id] = payout
        for txn in [*txns, own]:
            self._paid_out_in[txn["id"]] = payout_id
        self._emit("payout.created", payout, None)
        payout.update(status="paid", trace_id={"status": "supported", "value": new_id("trace", 14)[6:]})
        self._emit("payout.paid", payout, None, {"status": "in_transit"})
        if automatic and not self._reconciliation_held:
            timer = threading.Timer(self.reconciliation_delay_s, self.complete_reconciliation, (payout_id,))
            timer.daemon = True
            timer.start()
        return payout_id


def processing_fee(amount: int) -> int:
    """The sandbox's card processing fee: 2.9% (rounded half up) + 30 of the smallest unit."""
    return (amount * 29 + 500) // 1000 + 30


def conversion_fee(amount: int) -> int:
    """The sandbox's currency conversion fee on a converted charge: 1% of the converted amount (Stripe's
    smallest unit of the balance currency), rounded half up."""
    return (amount + 50) // 100


def _rate(value: Decimal | str | float | int) -> Decimal:
    """An exchange rate, exact (a float through its repr); ``ValueError`` unless positive and finite."""
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"an exchange rate is a positive decimal, got {value!r}") from None
    if not exact.is_finite() or exact <= 0:
        raise ValueError(f"an exchange rate is positive, got {value!r}")
    return exact
