"""Customers (``/record/v1/customer``): upsert by external id; the hub's custom entity field
``custentity_o2c_dunning`` by PATCH."""

from __future__ import annotations

import copy
from typing import Any

from localcloud.sandboxes.netsuite.account import Account
from localcloud.sandboxes.netsuite.common import invalid, items_of


class Customers(Account):
    def _customer(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record: dict[str, Any] = copy.deepcopy(existing) if existing else {"isPerson": False}
        for field in ("companyName", "email", "vatRegNumber", "isPerson"):
            if field in body:
                record[field] = body[field]
        if not record.get("companyName"):
            raise invalid("Please enter value(s) for: Company Name", "USER_ERROR")
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        if "addressBook" in body:
            items = items_of(body["addressBook"], "addressBook")
            old = (
                []
                if existing is None or "addressBook" in replace
                else existing.get("addressBook", {}).get("items", [])
            )
            record["addressBook"] = {"items": [*old, *copy.deepcopy(items)]}
        return record

    def _patch_customer(self, record: dict[str, Any], body: dict[str, Any]) -> None:
        for field in ("email", "companyName"):
            if field in body:
                record[field] = None if body[field] is None else str(body[field])
        if "custentity_o2c_dunning" in body:
            state = body["custentity_o2c_dunning"]
            if state is not None and not isinstance(state, str):
                raise invalid("custentity_o2c_dunning: a text field.")
            record["custentity_o2c_dunning"] = state or None
