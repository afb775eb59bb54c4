"""Customer refunds (``PUT /customerRefund/eid:{ext}?replace=apply``): money paid back to a customer, applying
credit memos' unapplied amounts. How it was paid is ``paymentOption`` — a reference to one of the account's
payment methods (``payment_options``) — and ``paymentOperation`` (``CREDIT`` | ``REFUND``); a customer refund
has no ``paymentMethod``."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.netsuite.common import credit_status, invalid, iso_date, ref_id, select
from localcloud.sandboxes.netsuite.invoices import Invoices


class Refunds(Invoices):
    def _refund(self, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        self._entity(record, body, None, "customer")
        customer_id = record["customer"]["id"]
        record["subsidiary"] = copy.deepcopy(self._records["customer"][customer_id]["subsidiary"])
        record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        if body.get("paymentOption") is not None or existing is None:
            option_id = ref_id(body.get("paymentOption"), "paymentOption")
            if option_id not in self.payment_options:
                raise invalid(f"Invalid paymentOption reference key {option_id}.", "INVALID_KEY_OR_REF")
            record["paymentOption"] = {"id": option_id, "refName": self.payment_options[option_id]}
        if "paymentOperation" in body:  # the contract allowed CREDIT | REFUND only
            record["paymentOperation"] = select(
                "customerRefund", "paymentOperation", ref_id(body["paymentOperation"], "paymentOperation")
            )
        if "account" in body:
            record["account"] = {"id": ref_id(body["account"], "account")}
        if "memo" in body:
            record["memo"] = body["memo"]
        if body.get("tranDate"):
            record["tranDate"] = iso_date(body["tranDate"], "tranDate")
        previous = {a["doc"]["id"]: a["amount"] for a in (existing or {}).get("apply", {}).get("items", [])}
        applies = self._applies(body.get("apply"), customer_id, record["currency"], "creditMemo", previous)
        if not applies:
            raise invalid("A customer refund applies at least one credit.", "USER_ERROR")
        for doc_id, amount in previous.items():  # an upsert again: undo, then apply anew
            self._use_credit(doc_id, amount)
        for a in applies:
            self._use_credit(a["doc"]["id"], -a["amount"])
        record.update(apply={"items": applies}, total=sum((a["amount"] for a in applies), Decimal(0)))
        return record

    def _use_credit(self, credit_memo_id: str, delta: Decimal) -> None:
        credit = self._records["creditMemo"][credit_memo_id]
        credit["unapplied"] += delta
        credit["status"] = credit_status(credit["unapplied"])
