"""Invoices (``/record/v1/invoice``) and the credits against them.

- ``PUT /invoice/eid:{ext}`` a standalone invoice (refused once payments or credits are applied to it).
  ``status``: A Open, B Paid In Full (NetSuite's ids; ``amountRemaining`` 0 is B).
- ``POST /invoice/{id}/!transform/creditMemo`` and ``.../!transform/returnAuthorization``,
  ``POST /returnAuthorization/{id}/!transform/creditMemo`` (the RMA must be approved, B, or Pending Refund, F;
  it becomes G Refunded): the source's open lines are copied; body ``item`` lines are appended, or replace
  them with ``?replace=item``. A credit memo's ``apply`` lines reduce the invoices' ``amountRemaining``; what
  is not applied is ``unapplied`` (credit memo ``status`` A Open, B Fully Applied), which customer refunds use
  up. A credit memo is never more than the invoice it credits. A return authorization starts ``orderStatus``
  A (or B) like a sales order; its lifecycle is ``status`` (A..H).
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.base import Reply, Request
from localcloud.sandboxes.netsuite.common import (
    DEFAULT_ERRORS,
    TRANSFORMS,
    body_object,
    credit_status,
    invalid,
    iso_date,
    items_of,
    ref_id,
    select,
    totals,
)
from localcloud.sandboxes.netsuite.errors import NsError
from localcloud.sandboxes.netsuite.orders import Orders


class Invoices(Orders):
    def _transform_credit(self, request: Request, match: re.Match[str]) -> Reply:
        source_type, source_id, target_type = match.group(1), match.group(2), match.group(3)
        if (source_type, target_type) not in TRANSFORMS:
            raise NsError(404, *DEFAULT_ERRORS[404])
        source = self._records[source_type].get(source_id)
        if source is None:
            raise NsError(404, *DEFAULT_ERRORS[404])
        body = self._checked(target_type, body_object(request.json() if request.body else {}), request)
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids[target_type]:
            raise invalid("A record with this external ID already exists.", "DUP_RCRD")
        if source_type == "returnAuthorization" and source["status"]["id"] not in ("B", "F"):
            raise invalid(
                f"You can not initialize creditmemo: invalid reference {source_id} "
                f"(return authorization is {source['status']['refName']}).",
                "INVALID_INITIALIZE_REF",
            )
        invoice = (
            source if source_type == "invoice" else self._records["invoice"][source["createdFrom"]["id"]]
        )
        code = source["currency"]["refName"]
        lines = [line for line in copy.deepcopy(source["item"]["items"]) if not line.get("isClosed")]
        if "item" in body:
            new = [
                self._order_line(n, line, code) for n, line in enumerate(items_of(body["item"], "item"), 1)
            ]
            replace = "item" in {s for s in (request.query.get("replace") or "").split(",") if s}
            lines = new if replace else [*lines, *new]
        record: dict[str, Any] = {
            "entity": copy.deepcopy(source["entity"]),
            "subsidiary": copy.deepcopy(source["subsidiary"]),
            "currency": copy.deepcopy(source["currency"]),
            "createdFrom": {"id": source_id, "refName": source["tranId"]},
            "memo": body.get("memo", source.get("memo")),
            "item": {"items": lines},
        }
        self._set_exchange_rate(record, body, None)
        if body.get("tranDate"):
            record["tranDate"] = iso_date(body["tranDate"], "tranDate")
        totals(record)
        if record["total"] <= 0:
            raise invalid("The total must be positive.", "USER_ERROR")
        if record["total"] > invoice["total"]:
            raise invalid(f"The credit exceeds invoice {invoice['tranId']}'s total.", "USER_ERROR")
        if external_id is not None:
            record["externalId"] = str(external_id)
        if target_type == "returnAuthorization":
            wanted = ref_id(body["orderStatus"], "orderStatus") if "orderStatus" in body else "A"
            self._set_approval(record, "returnAuthorization", wanted)
            return self._save(target_type, record, None)
        applies = self._applies(body.get("apply"), record["entity"]["id"], record["currency"], "invoice", {})
        applied = sum((a["amount"] for a in applies), Decimal(0))
        if applied > record["total"]:
            raise invalid("The total applied exceeds the credit memo's total.")
        for a in applies:
            self._settle(a["doc"]["id"], -a["amount"])
        record.update(apply={"items": applies}, applied=applied)
        record["unapplied"] = record["total"] - applied
        record["status"] = credit_status(record["unapplied"])
        reply = self._save(target_type, record, None)
        if source_type == "returnAuthorization":
            source["status"] = select("returnAuthorization", "status", "G")
        return reply

    def _applies(
        self,
        sublist: Any,
        entity_id: str,
        currency: dict[str, str],
        doc_type: str,
        previous: dict[str, Decimal],
    ) -> list[dict[str, Any]]:
        """The ``apply`` lines to open ``doc_type`` documents of the customer in the currency."""
        code = currency["refName"]
        open_field = "amountRemaining" if doc_type == "invoice" else "unapplied"
        applies: list[dict[str, Any]] = []
        for n, line in enumerate(items_of(sublist if sublist is not None else {"items": []}, "apply"), 1):
            if not isinstance(line, dict) or not line.get("apply", False):
                continue
            doc_id = ref_id(line.get("doc"), f"apply line {n} doc")
            doc = self._records[doc_type].get(doc_id)
            if doc is None:
                raise invalid(f"Invalid doc reference key {doc_id}.", "INVALID_KEY_OR_REF")
            if doc["entity"]["id"] != entity_id or doc["currency"]["id"] != currency["id"]:
                raise invalid(f"{doc['tranId']} is not open for this customer and currency.")
            amount = self._money(line.get("amount"), code, f"apply line {n} amount")
            if amount <= 0 or amount > doc[open_field] + previous.get(doc_id, Decimal(0)):
                raise invalid(f"Apply line {n}: amount exceeds what {doc['tranId']} has open.")
            applies.append({"doc": {"id": doc_id, "refName": doc["tranId"]}, "apply": True, "amount": amount})
        return applies

    def _invoice(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        if existing is not None and existing["amountRemaining"] != existing["total"]:
            raise invalid(
                f"Invoice {existing['tranId']} has payments or credits applied and can no longer be changed.",
                "USER_ERROR",
            )
        record = copy.deepcopy(existing) if existing else {}
        self._entity(record, body, existing, "entity")
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        for field in ("tranDate", "startDate", "endDate"):
            if body.get(field):
                record[field] = iso_date(body[field], field)
        if record.get("startDate") and record.get("endDate") and record["endDate"] < record["startDate"]:
            raise invalid("The end date is before the start date.")
        if "memo" in body:
            record["memo"] = body["memo"]
        code = record["currency"]["refName"]
        if "item" in body:
            lines = [
                self._order_line(n, line, code) for n, line in enumerate(items_of(body["item"], "item"), 1)
            ]
            old = [] if existing is None or "item" in replace else existing["item"]["items"]
            record["item"] = {"items": [*old, *lines]}
        if not record.get("item", {}).get("items"):
            raise invalid("You must enter at least one line item for this transaction.", "USER_ERROR")
        totals(record)
        record["amountRemaining"] = record["total"]
        record["amountPaid"] = Decimal(0)
        record["status"] = select("invoice", "status", "A")
        return record

    def _settle(self, invoice_id: str, delta: Decimal) -> None:
        """A payment or credit applied (``delta`` < 0) or undone: A Open, B Paid In Full."""
        invoice = self._records["invoice"][invoice_id]
        invoice["amountRemaining"] += delta
        invoice["amountPaid"] = invoice["total"] - invoice["amountRemaining"]
        invoice["status"] = select("invoice", "status", "B" if invoice["amountRemaining"] == 0 else "A")
