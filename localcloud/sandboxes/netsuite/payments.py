"""Customer payments (``PUT /customerPayment/eid:{ext}?replace=apply``): applied to invoices of their customer
and currency, booked in the customer's subsidiary at an exchange rate to its base currency. ``status``
B Not Deposited until a deposit holds the payment, then C Deposited."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.netsuite.common import invalid, items_of, ref_id, select
from localcloud.sandboxes.netsuite.invoices import Invoices


class Payments(Invoices):
    def _payment(self, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        customer_id = ref_id(body.get("customer"), "customer")
        customer = self._records["customer"].get(customer_id)
        if customer is None:
            raise invalid(f"Invalid customer reference key {customer_id}.", "INVALID_KEY_OR_REF")
        currency = self._currency(body.get("currency"))
        code = currency["refName"]
        payment = self._money(body.get("payment"), code, "payment")
        if payment <= 0:
            raise invalid("The payment amount must be positive.")
        subsidiary = copy.deepcopy(customer["subsidiary"])  # a payment books in its customer's subsidiary
        rate = self._exchange_rate_for(body, code, subsidiary["id"], existing)
        previous = {a["doc"]["id"]: a["amount"] for a in (existing or {}).get("apply", {}).get("items", [])}
        applies: list[dict[str, Any]] = []
        for n, line in enumerate(items_of(body.get("apply", {"items": []}), "apply"), 1):
            if not isinstance(line, dict) or not line.get("apply", False):
                continue
            doc_id = ref_id(line.get("doc"), f"apply line {n} doc")
            invoice = self._records["invoice"].get(doc_id)
            if invoice is None:
                raise invalid(f"Invalid doc reference key {doc_id}.", "INVALID_KEY_OR_REF")
            if invoice["entity"]["id"] != customer_id or invoice["currency"]["id"] != currency["id"]:
                raise invalid(f"Invoice {invoice['tranId']} is not open for this customer and currency.")
            amount = self._money(line.get("amount"), code, f"apply line {n} amount")
            if amount <= 0 or amount > invoice["amountRemaining"] + previous.get(doc_id, Decimal(0)):
                raise invalid(f"Apply line {n}: amount exceeds the invoice's amount remaining.")
            applies.append(
                {"doc": {"id": doc_id, "refName": invoice["tranId"]}, "apply": True, "amount": amount}
            )
        applied = sum((a["amount"] for a in applies), Decimal(0))
        if applied > payment:
            raise invalid("The total applied exceeds the payment amount.")
        # undo what this payment applied before (an upsert again), then apply anew
        for doc_id, amount in previous.items():
            self._settle(doc_id, amount)
        for a in applies:
            self._settle(a["doc"]["id"], -a["amount"])
        record = copy.deepcopy(existing) if existing else {}
        record.update(
            customer={"id": customer_id, "refName": customer["companyName"]},
            subsidiary=subsidiary,
            currency=currency,
            exchangeRate=rate,
            payment=payment,
            applied=applied,
            unapplied=payment - applied,
            memo=body.get("memo"),
            apply={"items": applies},
        )
        record.setdefault("status", select("customerPayment", "status", "B"))
        return record
