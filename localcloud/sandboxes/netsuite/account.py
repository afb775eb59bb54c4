"""The account behind the NetSuite sandbox: its records, currencies (with their precision), subsidiaries and
exchange rates, shared by every record module."""

from __future__ import annotations

import itertools
import threading
from datetime import date
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.base import Reply, Request, Sandbox
from localcloud.sandboxes.netsuite.common import (
    NUMBERING,
    RECORD_PATH,
    TYPES,
    invalid,
    money,
    ref_id,
    select,
    to_decimal,
)
from localcloud.sandboxes.netsuite.contract import check_answer, check_write, mode


class Account(Sandbox):
    """State and helpers every record module uses (set up by ``NetSuiteSandbox.__init__``)."""

    currencies: dict[str, str]
    currency_precision: dict[str, int]
    subsidiaries: dict[str, str]
    subsidiary_currencies: dict[str, str]
    payment_options: dict[str, str]
    _lock: threading.RLock
    _exchange_rates: dict[tuple[str, str], Decimal]

    def _init_records(self) -> None:
        self._records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPES}
        self._eids: dict[str, dict[str, str]] = {t: {} for t in TYPES}
        self._ids = {t: itertools.count(NUMBERING[t][2]) for t in TYPES}
        self._numbers = {t: itertools.count(1001) for t in TYPES}
        #: customer payment id -> the deposit that holds it (NetSuite shows it as status C, Deposited)
        self._deposited_in: dict[str, str] = {}

    def _checked(self, record_type: str, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """The body as NetSuite takes it for ``record_type``, under the request's validation headers."""
        return check_write(
            record_type,
            body,
            names=mode(request.headers.get("X-NetSuite-PropertyNameValidation")),
            values=mode(request.headers.get("X-NetSuite-PropertyValueValidation")),
        )

    def base_currency(self, subsidiary_id: str) -> str:
        """The subsidiary's base currency code."""
        return self.subsidiary_currencies.get(str(subsidiary_id), "USD")

    def exchange_rate(self, from_code: str, to_code: str) -> Decimal | None:
        """The table's rate from ``from_code`` to ``to_code`` (1 for a currency to itself), None if unknown."""
        source, target = from_code.upper(), to_code.upper()
        if source == target:
            return Decimal(1)
        with self._lock:
            return self._exchange_rates.get((source, target))

    def _currency(self, ref: Any) -> dict[str, str]:
        currency_id = ref_id(ref, "currency")
        if currency_id not in self.currencies:
            raise invalid(f"Invalid currency reference key {currency_id}.", "INVALID_KEY_OR_REF")
        return {"id": currency_id, "refName": self.currencies[currency_id]}

    def precision(self, code: str) -> int:
        """The currency's precision in the account: 0 or 2 decimals (NetSuite has no other)."""
        return self.currency_precision.get(code.upper(), 2)

    def _money(self, value: Any, code: str, field: str) -> Decimal:
        return money(value, code, field, self.precision(code))

    def _subsidiary(self, ref: Any) -> dict[str, str]:
        subsidiary_id = ref_id(ref, "subsidiary")
        if subsidiary_id not in self.subsidiaries:
            raise invalid(f"Invalid subsidiary reference key {subsidiary_id}.", "INVALID_KEY_OR_REF")
        return {"id": subsidiary_id, "refName": self.subsidiaries[subsidiary_id]}

    def _set_exchange_rate(
        self, record: dict[str, Any], body: dict[str, Any], existing: dict[str, Any] | None
    ) -> None:
        """``record["exchangeRate"]`` from its currency and subsidiary (both set on ``record``)."""
        record["exchangeRate"] = self._exchange_rate_for(
            body, record["currency"]["refName"], record["subsidiary"]["id"], existing
        )

    def _exchange_rate_for(
        self, body: dict[str, Any], code: str, subsidiary_id: str, existing: dict[str, Any] | None
    ) -> Decimal:
        """A transaction's rate from its currency ``code`` to its subsidiary's base currency: 1 in the base
        currency; else the body's ``exchangeRate`` (a positive number), else the record's own when an
        upsert keeps its currency and subsidiary, else the account's table (400 if it has none)."""
        given = body.get("exchangeRate")
        rate = None if given is None else to_decimal(given, "exchangeRate")
        if rate is not None and rate <= 0:
            raise invalid(f"exchangeRate: {given} is not a positive number.")
        base = self.base_currency(subsidiary_id)
        if code == base:
            return Decimal(1)
        if rate is not None:
            return rate
        if (
            existing is not None
            and existing.get("exchangeRate") is not None
            and existing["currency"]["refName"] == code
            and existing.get("subsidiary", {}).get("id") == subsidiary_id
        ):
            return Decimal(existing["exchangeRate"])
        known = self.exchange_rate(code, base)
        if known is None:
            raise invalid(
                f"No exchange rate from {code} to {base} (the base currency of subsidiary {subsidiary_id}): "
                "enter an exchangeRate."
            )
        return known

    def _entity(self, record: dict[str, Any], body: dict[str, Any], existing: Any, field: str) -> None:
        if field in body or existing is None:
            customer_id = ref_id(body.get(field), field)
            customer = self._records["customer"].get(customer_id)
            if customer is None:
                raise invalid(f"Invalid {field} reference key {customer_id}.", "INVALID_KEY_OR_REF")
            record[field] = {"id": customer_id, "refName": customer["companyName"]}

    def _find(self, record_type: str, key: str) -> dict[str, Any]:
        records = self._records[record_type]
        if key.startswith("eid:"):
            return records[self._eids[record_type][key[4:]]]
        return records[key]

    def _location(self, record_type: str, record_id: str) -> str:
        return f"{self.url}{RECORD_PATH}/{record_type}/{record_id}"

    def _save(self, record_type: str, record: dict[str, Any], existing: dict[str, Any] | None) -> Reply:
        if existing is None:
            record["id"] = str(next(self._ids[record_type]))
            field, prefix, _ = NUMBERING[record_type]
            record[field] = f"{prefix}{next(self._numbers[record_type])}"
        if record_type != "customer" and not record.get("tranDate"):
            record["tranDate"] = date.today().isoformat()
        for payment_id in record.pop("_payments", []):
            self._deposited_in[payment_id] = record["id"]
            self._records["customerPayment"][payment_id]["status"] = select("customerPayment", "status", "C")
        check_answer(record_type, record)
        if record.get("externalId"):
            self._eids[record_type][record["externalId"]] = record["id"]
        self._records[record_type][record["id"]] = record
        return Reply(204, b"", {"Location": self._location(record_type, record["id"])})
