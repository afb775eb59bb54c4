"""Tax engine: Avalara AvaTax REST v2 (``https://rest.avatax.com``; sandbox ``https://sandbox-rest.avatax.com``).

Calls (Basic auth with the account id and the licence key; ``X-Avalara-Client`` names the hub):
- ``calculate``: ``POST /api/v2/transactions/create`` with ``"type": "SalesOrder"`` and ``"commit": false`` — a
  quote, which AvaTax does not record, so the call is safe to retry.
- ``record_return``: a refund recorded as AvaTax documents returns ("Product Returns"; ``RefundTransaction``
  refunds a recorded ``SalesInvoice`` by lines or percentage only and points to ``CreateTransaction`` for
  anything else): ``POST /api/v2/transactions/create`` with ``"type": "ReturnInvoice"``, ``"commit": true``,
  negative line amounts (positive quantities), dated the day of the refund with ``taxOverride``
  ``{"type": "TaxDate", "taxDate": <the original invoice's date>}``, the original's code in
  ``referenceCode``; each line's tax is the tax the refund gave back (line ``taxOverride`` ``TaxAmount``), so
  the liability AvaTax reports falls by exactly what the ERP's credit memo reverses. Once per document code:
  AvaTax refuses to create a committed code twice (``DocumentCodeConflict``), so the create is sent first and
  only when it is refused is the document read
  (``GET /api/v2/companies/{companyCode}/transactions/{code}/types/ReturnInvoice``): the one a first
  attempt committed is the answer (one request per recording, two for a repeat).
- ``record_sale``: an invoiced sale recorded as AvaTax records sales ("SalesInvoice": a committed document is
  what AvaTax reports as liability): ``POST /api/v2/transactions/create`` with ``"type": "SalesInvoice"``,
  ``"commit": true``, the ERP invoice's external id as ``code``, dated the invoice's date, the lines and
  address of the order's quote; each line's tax is the tax the ERP invoiced (line ``taxOverride``
  ``TaxAmount``), so AvaTax reports what the customer was charged, and keeps its own figure in
  ``taxCalculated`` (a difference is the hub's to report, not to hide). Once per code, as ``record_return``.

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
from datetime import date
from typing import Any
from urllib.parse import quote

from shared.crm.models import Address
from shared.errors import ConnectorError, InvalidRecord, NotFound, PermanentError
from shared.money import Money

# the tax port's value types (``shared.order_to_cash.ports``), importable from here as before
from shared.order_to_cash.ports import LineTax as LineTax
from shared.order_to_cash.ports import RecordedReturn as RecordedReturn
from shared.order_to_cash.ports import RecordedSale as RecordedSale
from shared.order_to_cash.ports import ReturnLine as ReturnLine
from shared.order_to_cash.ports import SaleLine as SaleLine
from shared.order_to_cash.ports import TaxLine as TaxLine
from shared.order_to_cash.ports import TaxResult as TaxResult
from shared.outbound import _values as v
from shared.outbound.http import JsonHttp

DEFAULT_BASE_URL = "https://rest.avatax.com"
CREATE_PATH = "/api/v2/transactions/create"
PING_PATH = "/api/v2/utilities/ping"
DOCUMENT_PATH = "/api/v2/companies/{company}/transactions/{code}/types/{type}"
CLIENT_HEADER = "o2c-hub; 1; python-o2c-connectors; 1; lambda"
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")


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

    def record_return(
        self,
        *,
        document_code: str,
        reference_code: str,
        customer_code: str,
        date: date,
        tax_date: date,
        ship_to: Address,
        lines: list[ReturnLine],
        currency: str,
        reason: str,
    ) -> RecordedReturn:
        """Record a refund as a committed ``ReturnInvoice`` ``document_code`` (once: a second call finds it)."""
        code = _checked_document(document_code, lines, currency, "return")
        for line in lines:
            for money in (line.amount, line.tax):
                if money.amount < 0:
                    raise ValueError(f"line {line.number}: give what was refunded as positive amounts")
        body = {
            "type": "ReturnInvoice",
            "companyCode": self.company_code,
            "code": document_code,
            "referenceCode": reference_code,
            "customerCode": customer_code,
            "date": date.isoformat(),
            "currencyCode": code,
            "addresses": {"singleLocation": _address(ship_to)},
            "taxOverride": {"type": "TaxDate", "taxDate": tax_date.isoformat(), "reason": reason[:255]},
            "lines": [
                {
                    "number": str(line.number),
                    "quantity": line.quantity,
                    "amount": -line.amount.to_decimal(),
                    **({"itemCode": line.item_code} if line.item_code else {}),
                    "taxOverride": {
                        "type": "TaxAmount",
                        "taxAmount": -line.tax.to_decimal(),
                        "reason": reason[:255],
                    },
                }
                for line in lines
            ],
            "commit": True,
        }
        return _recorded(self._create_once(body, document_code, "ReturnInvoice"), code)

    def record_sale(
        self,
        *,
        document_code: str,
        customer_code: str,
        date: date,
        ship_to: Address,
        lines: list[SaleLine],
        currency: str,
        reason: str,
    ) -> RecordedSale:
        """Record an invoiced sale as a committed ``SalesInvoice`` ``document_code`` whose tax is the invoiced
        tax (once: a second call finds it)."""
        code = _checked_document(document_code, lines, currency, "record")
        numbers = [str(line.number) for line in lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("line numbers must be unique")
        body = {
            "type": "SalesInvoice",
            "companyCode": self.company_code,
            "code": document_code,
            "customerCode": customer_code,
            "date": date.isoformat(),
            "currencyCode": code,
            "addresses": {"singleLocation": _address(ship_to)},
            "lines": [
                {
                    **_line(TaxLine(line.number, line.amount, line.quantity, line.item_code, line.tax_code)),
                    "taxOverride": {
                        "type": "TaxAmount",
                        "taxAmount": line.tax.to_decimal(),
                        "reason": reason[:255],
                    },
                }
                for line in lines
            ],
            "commit": True,
        }
        return _sale(self._create_once(body, document_code, "SalesInvoice"), code)

    def _create_once(self, body: dict[str, Any], document_code: str, kind: str) -> Any:
        """Create the committed document; when AvaTax refuses, the one a first attempt committed, if any."""
        try:
            answer = self._http.request("POST", CREATE_PATH, json=body)
        except PermanentError as exc:
            _tidy_avatax_error(exc)
            found = self._document(document_code, kind)  # a retried create whose first attempt was committed
            if found is not None:
                return found
            raise
        except ConnectorError as exc:
            _tidy_avatax_error(exc)
            raise
        return answer

    def ping(self) -> bool:
        """Whether AvaTax accepts the credentials: ``GET /api/v2/utilities/ping`` answers every caller
        (``PingResultModel``) and says ``authenticated`` true only for valid ones."""
        answer = self._http.request("GET", PING_PATH)
        return isinstance(answer, dict) and answer.get("authenticated") is True

    def _document(self, document_code: str, kind: str) -> dict[str, Any] | None:
        """The recorded document ``kind`` with that code (its ``TransactionModel``), or None."""
        path = DOCUMENT_PATH.format(
            company=quote(self.company_code, safe=""),
            code=quote(document_code, safe=""),
            type=kind,
        )
        try:
            answer = self._http.request("GET", path)
        except NotFound:
            return None
        except ConnectorError as exc:
            _tidy_avatax_error(exc)
            raise
        if not isinstance(answer, dict) or v.currency(answer.get("currencyCode"), "currencyCode") is None:
            raise InvalidRecord(f"AvaTax {kind} {document_code}: no currencyCode")
        return answer


def _recorded(answer: Any, currency: str) -> RecordedReturn:
    if not isinstance(answer, dict):
        raise InvalidRecord("AvaTax transaction: unexpected response shape")
    currency = v.currency(answer.get("currencyCode"), "currencyCode") or currency
    amount = v.decimal(answer.get("totalAmount"), "totalAmount")
    tax = v.decimal(answer.get("totalTax"), "totalTax")
    if amount is None or tax is None:
        raise InvalidRecord("AvaTax return: no totals")
    return RecordedReturn(
        code=str(answer.get("code")),
        status=str(answer.get("status")),
        total_amount=v.money(amount, currency, "totalAmount"),
        total_tax=v.money(tax, currency, "totalTax"),
    )


def _sale(answer: Any, currency: str) -> RecordedSale:
    recorded = _recorded(answer, currency)
    calculated = v.decimal(answer.get("totalTaxCalculated"), "totalTaxCalculated")
    return RecordedSale(
        code=recorded.code,
        status=recorded.status,
        total_amount=recorded.total_amount,
        total_tax=recorded.total_tax,
        tax_calculated=(
            v.money(calculated, recorded.total_tax.currency, "totalTaxCalculated")
            if calculated is not None
            else None
        ),
    )


def _checked_document(document_code: str, lines: list[Any], currency: str, what: str) -> str:
    """The document's currency code, once its code and lines are fit to send (a return's or a sale's)."""
    code = currency.upper()
    if not _CODE.match(document_code) or len(document_code) > 50:
        raise ValueError(f"{document_code[:60]!r} is not an AvaTax document code")
    if not lines:
        raise ValueError(f"nothing to {what}: no lines")
    for line in lines:
        for money in (line.amount, line.tax):
            if money.currency != code:
                raise ValueError(f"line {line.number}: {money.currency}, document in {code}")
    return code


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
