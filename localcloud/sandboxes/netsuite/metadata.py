"""What a NetSuite account tells about itself: the metadata catalog, and its subsidiaries and currencies.

- ``GET /services/rest/record/v1/metadata-catalog/{record}`` with ``Accept: application/schema+json`` → the
  record's JSON Schema, as NetSuite serves it: ``properties`` holds every body field of the record — the
  contract's (``vendor-specs/netsuite/records.json``) and the custom fields this account defines
  (``accountCustomFields``), those marked ``"x-ns-custom-field": true``. NetSuite answers the same path in
  OpenAPI with ``application/swagger+json``; this sandbox serves only the JSON Schema and says so (406). A
  record type the account does not have: 404.
- ``GET /subsidiary/{id}`` → ``{"id", "name", "currency": {"id", "refName"}, "isInactive"}`` (the subsidiary's
  base currency as a reference to a ``currency`` record, as NetSuite has it); ``GET /currency/{id}`` →
  ``{"id", "name", "symbol", "currencyPrecision", "isInactive"}`` (``symbol`` is the ISO code, as NetSuite
  names it). An id the account does not have: 404 ``NONEXISTENT_ID``.
"""

from __future__ import annotations

import re
from typing import Any

from localcloud.sandboxes.base import Reply, Request, json_bytes, json_reply
from localcloud.sandboxes.netsuite.account import Account
from localcloud.sandboxes.netsuite.common import DEFAULT_ERRORS, RECORD_PATH
from localcloud.sandboxes.netsuite.contract import contract
from localcloud.sandboxes.netsuite.errors import NsError

SCHEMA_JSON = "application/schema+json"
_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "int64": {"type": "integer", "format": "int64"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
}
_REF = {"type": "object", "properties": {"id": {"type": "string"}, "refName": {"type": "string"}}}


def _schema_of(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec.get("type", "string")
    if kind in _SCALARS:
        return dict(_SCALARS[kind])
    if kind in ("reference", "select"):
        return {**_REF, **({"x-ns-record": spec["record"]} if spec.get("record") else {})}
    if kind == "nsLink[]":
        return {"type": "array", "items": {"type": "object"}}
    return {"type": "object"}  # sublists and subrecords


class Metadata(Account):
    def _metadata_routes(self) -> list[tuple[str, re.Pattern[str], Any]]:
        return [
            ("GET", re.compile(rf"^{RECORD_PATH}/metadata-catalog/([A-Za-z]+)$"), self._metadata_catalog),
            ("GET", re.compile(rf"^{RECORD_PATH}/(subsidiary|currency)/(\d+)$"), self._account_record),
        ]

    def _metadata_catalog(self, request: Request, match: re.Match[str]) -> Reply:
        record_type = match.group(1)
        accept = [a.split(";")[0].strip().lower() for a in (request.headers.get("Accept") or "").split(",")]
        if SCHEMA_JSON not in accept:
            raise NsError(
                406,
                "INVALID_REQUEST",
                f"This sandbox serves the metadata catalog as JSON Schema only: send Accept: {SCHEMA_JSON}.",
            )
        data = contract()
        if record_type not in data["records"]:
            raise NsError(404, "INVALID_REQUEST", f"Record type {record_type!r} does not exist.")
        properties = {name: _schema_of(spec) for name, spec in data["records"][record_type]["fields"].items()}
        properties.update(
            {name: _schema_of(spec) for name, spec in data["records"][record_type]["sublists"].items()}
        )
        for name, spec in data["accountCustomFields"].get(record_type, {}).items():
            properties[name] = {**_schema_of(spec), "x-ns-custom-field": True}
        schema = {"type": "object", "title": record_type, "properties": properties}
        return Reply(200, json_bytes(schema), {"Content-Type": f"{SCHEMA_JSON};charset=utf-8"})

    def _account_record(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, record_id = match.group(1), match.group(2)
        href = self._location(record_type, record_id)
        if record_type == "currency":
            code = self.currencies.get(record_id)
            if code is None:
                raise NsError(404, *DEFAULT_ERRORS[404])
            record: dict[str, Any] = {
                "id": record_id,
                "name": code,
                "symbol": code,
                "currencyPrecision": {"id": str(self.precision(code))},
                "isInactive": False,
            }
        else:
            name = self.subsidiaries.get(record_id)
            if name is None:
                raise NsError(404, *DEFAULT_ERRORS[404])
            base = self.base_currency(record_id)
            currency_id = next((cid for cid, c in self.currencies.items() if c == base), None)
            record = {"id": record_id, "name": name, "isInactive": False}
            if currency_id is not None:
                record["currency"] = {"id": currency_id, "refName": base}
        return json_reply(200, {"links": [{"rel": "self", "href": href}], **record})
