"""Sales orders (``/record/v1/salesOrder``) and what NetSuite lets a client do to them.

- Upsert by external id; a new order is ``orderStatus`` A (Pending Approval) or B (Pending Fulfillment) —
  the only two ids ``orderStatus`` takes. The lifecycle is ``status`` (A..H), which NetSuite sets and a
  client never writes.
- Approve: ``PATCH {"orderStatus": {"id": "B"}}``; reset approval: ``A`` (only while nothing moved on).
- Close: ``PATCH {"item": {"items": [{"line": n, "isClosed": true}, ...]}}`` (Oracle's "Close a Sales
  Order" use case); once every line is closed the order is H Closed. There is no REST write of ``status``.
- Bill: ``POST /salesOrder/{id}/!transform/invoice`` (the order must be approved and open; it becomes
  G Billed). The hub's custom body field ``custbody_o2c_released`` by PATCH.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.base import Reply, Request
from localcloud.sandboxes.netsuite.account import Account
from localcloud.sandboxes.netsuite.common import (
    BILLABLE,
    DEFAULT_ERRORS,
    body_object,
    invalid,
    iso_date,
    items_of,
    ref_id,
    select,
    to_decimal,
    totals,
)
from localcloud.sandboxes.netsuite.errors import NsError

#: record type -> the statuses in which its lines can still be changed or closed
_OPEN = {"salesOrder": ("A", "B"), "returnAuthorization": ("A", "B")}


class Orders(Account):
    def _sales_order(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        if existing is not None and existing["status"]["id"] not in _OPEN["salesOrder"]:
            raise invalid(
                f"The order is {existing['status']['refName']} and can no longer be changed.", "USER_ERROR"
            )
        if "entity" in body or existing is None:
            customer_id = ref_id(body.get("entity"), "entity")
            customer = self._records["customer"].get(customer_id)
            if customer is None:
                raise invalid(f"Invalid entity reference key {customer_id}.", "INVALID_KEY_OR_REF")
            record["entity"] = {"id": customer_id, "refName": customer["companyName"]}
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        if "memo" in body:
            record["memo"] = body["memo"]
        if "orderStatus" in body:
            self._set_approval(record, "salesOrder", ref_id(body["orderStatus"], "orderStatus"))
        elif existing is None:
            self._set_approval(record, "salesOrder", "A")
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
        return record

    def _order_line(self, number: int, line: Any, currency: str) -> dict[str, Any]:
        if not isinstance(line, dict):
            raise invalid(f"item line {number}: not an object")
        item = line.get("item")
        if not isinstance(item, dict) or not (item.get("id") or item.get("externalId")):
            raise invalid(f"item line {number}: Please enter value(s) for: Item", "USER_ERROR")
        quantity = to_decimal(line.get("quantity"), f"item line {number} quantity")
        if quantity <= 0:
            raise invalid(f"item line {number}: quantity must be positive")
        out = {
            "item": {k: str(item[k]) for k in ("id", "externalId") if item.get(k)},
            "description": line.get("description"),
            "quantity": quantity,
            "rate": self._money(line.get("rate"), currency, f"item line {number} rate"),
            "amount": self._money(line.get("amount"), currency, f"item line {number} amount"),
            "tax1Amt": self._money(line.get("tax1Amt", 0), currency, f"item line {number} tax1Amt"),
            "isClosed": False,
        }
        out.update(_rev_rec(number, line))
        return out

    @staticmethod
    def _set_approval(record: dict[str, Any], record_type: str, wanted: str) -> None:
        """``orderStatus`` (A/B, the contract refused anything else) and the ``status`` it implies. Approving
        (A → B) and resetting (B → A) are possible only while the order is still A or B."""
        current = record.get("status", {}).get("id")
        if current is not None and current not in _OPEN[record_type]:
            raise invalid(
                f"The {record_type} is {record['status']['refName']}: its approval can no longer change.",
                "USER_ERROR",
            )
        record["orderStatus"] = select(record_type, "orderStatus", wanted)
        record["status"] = select(record_type, "status", wanted)

    def _patch_order(self, record_type: str, record: dict[str, Any], body: dict[str, Any]) -> None:
        """PATCH of a sales order or return authorization: memo, approval, closing lines; the hub's
        ``custbody_o2c_released`` on a sales order."""
        if "memo" in body:
            record["memo"] = None if body["memo"] is None else str(body["memo"])
        if "custbody_o2c_released" in body:
            record["custbody_o2c_released"] = bool(body["custbody_o2c_released"])
        if "orderStatus" in body:
            self._set_approval(record, record_type, ref_id(body["orderStatus"], "orderStatus"))
        if "item" in body:
            self._close_lines(record_type, record, items_of(body["item"], "item"))

    @staticmethod
    def _close_lines(record_type: str, record: dict[str, Any], lines: list[Any]) -> None:
        """``{"line": n, "isClosed": true}`` closes line n; a line without ``line`` would add one, which this
        sandbox does not take on a PATCH. Every line closed: the transaction is H Closed."""
        by_number = {line["line"]: line for line in record["item"]["items"]}
        status = record["status"]["id"]
        for patch in lines:
            number = patch.get("line")
            if number not in by_number:
                raise invalid(f"item: there is no line {number!r} on {record.get('tranId')}.")
            if set(patch) - {"line", "isClosed"}:
                raise invalid("item: this sandbox changes only isClosed on existing lines.", "USER_ERROR")
            if "isClosed" in patch:
                if status in ("C", "H") or (record_type == "salesOrder" and status == "G"):
                    raise invalid(
                        f"{record.get('tranId')} is {record['status']['refName']}: its lines cannot change.",
                        "USER_ERROR",
                    )
                by_number[number]["isClosed"] = bool(patch["isClosed"])
        if all(line["isClosed"] for line in record["item"]["items"]):
            record["status"] = select(record_type, "status", "H")

    def _transform(self, request: Request, match: re.Match[str]) -> Reply:
        order = self._records["salesOrder"].get(match.group(1))
        if order is None:
            raise NsError(404, *DEFAULT_ERRORS[404])
        body = self._checked("invoice", body_object(request.json() if request.body else {}), request)
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids["invoice"]:
            raise invalid("A record with this external ID already exists.", "DUP_RCRD")
        if order["status"]["id"] not in BILLABLE:
            raise invalid(
                f"You can not initialize invoice: invalid reference {order['id']} "
                f"(order is {order['status']['refName']}).",
                "INVALID_INITIALIZE_REF",
            )
        lines = [
            {k: v for k, v in line.items() if k != "isClosed"}
            for line in copy.deepcopy(order["item"]["items"])
            if not line["isClosed"]
        ]
        invoice: dict[str, Any] = {
            "entity": copy.deepcopy(order["entity"]),
            "subsidiary": copy.deepcopy(order["subsidiary"]),
            "currency": copy.deepcopy(order["currency"]),
            "createdFrom": {"id": order["id"], "refName": f"Sales Order #{order['tranId']}"},
            "memo": body.get("memo", order.get("memo")),
            "item": {"items": lines},
        }
        totals(invoice)
        invoice["amountRemaining"] = invoice["total"]
        invoice["amountPaid"] = Decimal(0)
        invoice["status"] = select("invoice", "status", "A")
        self._set_exchange_rate(invoice, body, None)
        if external_id is not None:
            invoice["externalId"] = str(external_id)
        reply = self._save("invoice", invoice, None)
        order["status"] = select("salesOrder", "status", "G")
        return reply


def _rev_rec(number: int, line: dict[str, Any]) -> dict[str, Any]:
    """An item line's revenue recognition fields (``revRecStartDate``, ``revRecEndDate``: dates;
    ``revRecTermInMonths``: a whole number of months), kept as given and copied to the invoice billed from
    the order. NetSuite refuses an end before the start and a term that is not a positive integer."""
    out: dict[str, Any] = {}
    for field in ("revRecStartDate", "revRecEndDate"):
        if line.get(field) is not None:
            out[field] = iso_date(line[field], f"item line {number} {field}")
    if (
        out.get("revRecStartDate")
        and out.get("revRecEndDate")
        and out["revRecEndDate"] < out["revRecStartDate"]
    ):
        raise invalid(
            f"item line {number}: the revenue recognition end date is before its start date.", "USER_ERROR"
        )
    term = line.get("revRecTermInMonths")
    if term is not None:
        if isinstance(term, bool) or not isinstance(term, int) or term < 1:
            raise invalid(f"item line {number} revRecTermInMonths: {term!r} is not a positive integer.")
        out["revRecTermInMonths"] = term
    return out
