"""Bank deposits (``PUT /deposit/eid:{ext}?replace=payment,other,cashback``): customer payments from undeposited
funds (each whole, in one deposit only; they become C Deposited), ``other`` deposit lines and ``cashback``
lines (NetSuite's sublist names); ``total`` = payments + other - cash back. A payment in another currency
than the deposit is refused ("is in another currency") unless the deposit is in the base currency of the
payment's subsidiary: then its ``paymentAmount`` is its base-currency amount (payment x its
``exchangeRate``, half up to the currency's precision), else 400."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.netsuite.account import Account
from localcloud.sandboxes.netsuite.common import invalid, iso_date, items_of, ref_id, round_half_up, select


class Deposits(Account):
    def _deposit(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        code = record["currency"]["refName"]
        if "account" in body:
            record["account"] = {"id": ref_id(body["account"], "account")}
        if "memo" in body:
            record["memo"] = body["memo"]
        if body.get("tranDate"):
            record["tranDate"] = iso_date(body["tranDate"], "tranDate")
        own = record.get("id")
        sublists: dict[str, list[dict[str, Any]]] = {}
        for name in ("payment", "other", "cashback"):
            old = [] if existing is None or name in replace else existing.get(name, {}).get("items", [])
            new: list[dict[str, Any]] = []
            for n, line in enumerate(items_of(body.get(name, {"items": []}), name), 1):
                if not isinstance(line, dict):
                    raise invalid(f"{name} line {n}: not an object")
                if name == "payment":
                    if not line.get("deposit", False):
                        continue
                    payment = self._records["customerPayment"].get(str(line.get("id")))
                    if payment is None:
                        raise invalid(
                            f"Invalid payment reference key {line.get('id')}.", "INVALID_KEY_OR_REF"
                        )
                    amount = self._deposited_amount(payment, line.get("paymentAmount"), code, n)
                    elsewhere = self._deposited_in.get(payment["id"])
                    if elsewhere not in (None, own):
                        raise invalid(f"Payment {payment['tranId']} is already deposited.", "USER_ERROR")
                    new.append(
                        {
                            "id": payment["id"],
                            "refName": payment["tranId"],
                            "deposit": True,
                            "paymentAmount": amount,
                        }
                    )
                else:
                    amount = self._money(line.get("amount"), code, f"{name} line {n} amount")
                    if amount <= 0:
                        raise invalid(f"{name} line {n}: the amount must be positive.")
                    out: dict[str, Any] = {"amount": amount, "memo": line.get("memo")}
                    if line.get("account") is not None:
                        out["account"] = {"id": ref_id(line["account"], f"{name} line {n} account")}
                    new.append(out)
            sublists[name] = [*old, *new]
        if not any(sublists.values()):
            raise invalid("A deposit needs at least one line.", "USER_ERROR")
        ids = [p["id"] for p in sublists["payment"]]
        if len(ids) != len(set(ids)):
            raise invalid("A payment is deposited once.", "USER_ERROR")
        total = (
            sum((p["paymentAmount"] for p in sublists["payment"]), Decimal(0))
            + sum((o["amount"] for o in sublists["other"]), Decimal(0))
            - sum((c["amount"] for c in sublists["cashback"]), Decimal(0))
        )
        if total < 0:
            raise invalid("The deposit total cannot be negative.", "USER_ERROR")
        for line in (existing or {}).get("payment", {}).get("items", []):
            self._deposited_in.pop(line["id"], None)
            self._records["customerPayment"][line["id"]]["status"] = select("customerPayment", "status", "B")
        record.update({name: {"items": lines} for name, lines in sublists.items()}, total=total)
        record["_payments"] = ids  # marked deposited in _save, once the deposit has an id
        return record

    def _deposited_amount(self, payment: dict[str, Any], value: Any, code: str, n: int) -> Decimal:
        """A deposit line's ``paymentAmount`` in the deposit's currency ``code``: the whole payment, in its
        own currency or, for a payment in another currency, at its base-currency amount (the payment times
        its ``exchangeRate``, rounded half up to the deposit currency's precision) when the deposit is in its
        subsidiary's base currency."""
        own = payment["currency"]["refName"]
        if own == code:
            expected = payment["payment"]
        else:
            if code != self.base_currency(payment["subsidiary"]["id"]):
                raise invalid(f"Payment {payment['tranId']} is in another currency.")
            # NetSuite's base-currency amount: the payment at its exchange rate, half up to the precision
            expected = round_half_up(payment["payment"] * payment["exchangeRate"], self.precision(code))
        amount = self._money(value, code, f"payment line {n} paymentAmount")
        if amount != expected:
            if own == code:
                raise invalid(f"Payment {payment['tranId']} is deposited whole ({payment['payment']}).")
            raise invalid(
                f"Payment {payment['tranId']} of {payment['payment']} {own} is deposited at its base-currency "
                f"amount: {expected} {code} (at {payment['exchangeRate']}), not {amount}."
            )
        return amount
