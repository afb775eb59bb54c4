"""Tax engine: Avalara AvaTax REST v2 (``https://rest.avatax.com``; sandbox ``https://sandbox-rest.avatax.com``).

One call: ``POST /api/v2/transactions/create`` with ``"type": "SalesOrder"`` and ``"commit": false`` — a
quote, which AvaTax does not record, so the call is safe to retry. Basic auth with the account id and the
licence key; ``X-Avalara-Client`` names the hub.

Money: amounts go out as exact decimals in the document currency (``Money.to_decimal()``). Tax comes back
as decimals AvaTax has already rounded to the currency (2 decimals for USD/EUR, none for JPY, 3 for KWD);
it is converted to minor units exactly, and an amount with more decimals than the currency has is
refused (``InvalidRecord``) rather than rounded here — rounding is the tax engine's job, and a figure the
hub rounded itself would no longer match the engine's (and the filed) totals.
"""

from __future__ import annotations

import ast
import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from shared.connectors import _values as v
from shared.connectors.errors import ConnectorError, InvalidRecord
from shared.connectors.http import JsonHttp
from shared.crm.models import Address
from shared.money import Money

DEFAULT_BASE_URL = "https://rest.avatax.com"
CREATE_PATH = "/api/v2/transactions/create"
CLIENT_HEADER = "o2c-hub; 1; python-o2c-connectors; 1; lambda"
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")


@dataclass(frozen=True)
class TaxLine:
    """One line to tax: ``amount`` is the line's total (quantity x price), ``tax_code`` AvaTax's (e.g.
    ``SW054000`` for SaaS), ``item_code`` the SKU."""

    number: str
    amount: Money
    quantity: int = 1
    item_code: str | None = None
    tax_code: str | None = None


class LineTax(NamedTuple):
    number: str
    tax: Money


@dataclass(frozen=True)
class TaxResult:
    total_tax: Money
    lines: list[LineTax]


def basic(account_id: str, license_key: Callable[[], str]) -> Callable[[], dict[str, str]]:
    """``auth_headers`` for a ``JsonHttp`` talking to AvaTax (licence key read per request)."""

    def headers() -> dict[str, str]:
        token = base64.b64encode(f"{account_id}:{license_key()}".encode()).decode()
        return {"Authorization": f"Basic {token}", "X-Avalara-Client": CLIENT_HEADER}

    return headers


class AvaTax:
    """``license_key`` is called per request (a cached secret). ``http``, when given, is used as is: it
    must point at ``base_url`` and carry the Basic auth (see ``basic``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        account_id: str,
        license_key: Callable[[], str],
        company_code: str,
        http: JsonHttp | None = None,
    ) -> None:
        self.company_code = company_code
        self._http = http or JsonHttp(base_url, auth_headers=basic(account_id, license_key))

    def calculate(
        self,
        *,
        document_code: str,
        customer_code: str,
        date: date,
        ship_to: Address,
        ship_from: Address | None,
        lines: list[TaxLine],
        currency: str,
    ) -> TaxResult:
        """Tax for a prospective order, per line and in total, in ``currency``'s minor units."""
        code = currency.upper()
        if not lines:
            raise ValueError("nothing to tax: no lines")
        numbers = [str(line.number) for line in lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("line numbers must be unique")
        for line in lines:
            if line.amount.currency != code:
                raise ValueError(f"line {line.number}: amount in {line.amount.currency}, document in {code}")
        addresses = (
            {"shipFrom": _address(ship_from), "shipTo": _address(ship_to)}
            if ship_from is not None
            else {"singleLocation": _address(ship_to)}
        )
        body = {
            "type": "SalesOrder",
            "companyCode": self.company_code,
            "code": document_code,
            "customerCode": customer_code,
            "date": date.isoformat(),
            "currencyCode": code,
            "addresses": addresses,
            "lines": [_line(line) for line in lines],
            "commit": False,
        }
        try:
            answer = self._http.request("POST", CREATE_PATH, json=body)
        except ConnectorError as exc:
            _tidy_avatax_error(exc)
            raise
        return _result(answer, numbers, code)


def _line(line: TaxLine) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": str(line.number),
        "quantity": line.quantity,
        "amount": line.amount.to_decimal(),
    }
    if line.item_code:
        out["itemCode"] = line.item_code
    if line.tax_code:
        out["taxCode"] = line.tax_code
    return out


def _address(address: Address) -> dict[str, str]:
    if not address.country:
        raise ValueError("a tax address needs a country")
    fields = {
        "line1": address.street,
        "city": address.city,
        "region": address.state,
        "postalCode": address.postalCode,
        "country": address.country.upper(),
    }
    return {k: val for k, val in fields.items() if val}


def _result(answer: Any, numbers: list[str], currency: str) -> TaxResult:
    if not isinstance(answer, dict):
        raise InvalidRecord("AvaTax transaction: unexpected response shape")
    returned_currency = v.currency(answer.get("currencyCode"), "currencyCode")
    if returned_currency is not None and returned_currency != currency:
        raise InvalidRecord(f"AvaTax answered in {returned_currency}, asked for {currency}")
    total = v.decimal(answer.get("totalTax"), "totalTax")
    if total is None:
        raise InvalidRecord("AvaTax transaction: no totalTax")
    by_number: dict[str, Money] = {}
    for raw in answer.get("lines") or []:
        number = v.text(raw.get("lineNumber")) if isinstance(raw, dict) else None
        if number is None:
            raise InvalidRecord("AvaTax transaction: a line without lineNumber")
        tax = v.decimal(raw.get("tax"), f"lines[{number}].tax")
        if tax is None:
            raise InvalidRecord(f"AvaTax line {number}: no tax")
        by_number[number] = v.money(tax, currency, f"lines[{number}].tax")
    missing = [n for n in numbers if n not in by_number]
    if missing:
        raise InvalidRecord(f"AvaTax transaction: no tax for lines {missing}")
    return TaxResult(
        total_tax=v.money(total, currency, "totalTax"),
        lines=[LineTax(n, by_number[n]) for n in numbers],
    )


def _tidy_avatax_error(exc: ConnectorError) -> None:
    """AvaTax's errors are ``{"error": {"code", "message", "target", "details"}}``; the shared HTTP client
    reads a top-level ``error`` as the code, so here the nested code and message are put in their place."""
    raw = exc.code
    if raw and raw.startswith("{"):
        try:
            nested = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            nested = None
        code = nested.get("code") if isinstance(nested, dict) else None
        exc.code = str(code) if isinstance(code, str) and _CODE.match(code) else None
        message = nested.get("message") if isinstance(nested, dict) else None
        exc.detail = str(message)[:300] if message else exc.detail
        head = str(exc.args[0]).split(" -> HTTP ", 1)
        if len(head) == 2:
            status = head[1].split(" ", 1)[0]
            exc.args = (f"{head[0]} -> HTTP {status}" + (f" {exc.code}" if exc.code else ""),)
