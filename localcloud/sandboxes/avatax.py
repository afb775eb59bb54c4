"""An AvaTax (REST v2) account on loopback, held to AvaTax's published contract (``vendor-specs/avatax/``).

- ``POST /api/v2/transactions/create`` (``CreateTransactionModel`` → ``TransactionModel``). Tax per line = line
  amount x the rate of the ship-to country (``shipTo``, else ``singleLocation``), rounded half-up (away from
  zero, so a return's negative amount gets the sale's tax negated) to the document currency's minor unit, as
  AvaTax rounds; ``totalTax`` is the sum of the lines. A country without a rate is taxed at 0 (no nexus). A
  line's ``taxOverride`` ``{"type": "TaxAmount", "taxAmount"}`` sets its tax (``taxCalculated`` keeps what the
  rate gives); the document's ``taxOverride`` ``{"type": "TaxDate", "taxDate"}`` is the date the tax is
  determined at (a return dated today, taxed as of the original sale), shown as each line's ``taxDate``.
- Orders (``SalesOrder``, ``ReturnOrder``, ...) are quotes: answered, not stored (status ``Temporary``).
  Invoices (``SalesInvoice``, ``ReturnInvoice``, ...) are stored under (company, code, type): ``Committed`` with
  ``"commit": true``, else ``Saved``. A second document with the code and type of a committed one is refused
  (``DocumentCodeConflict``); a saved one is replaced.
- ``GET /api/v2/companies/{companyCode}/transactions/{transactionCode}/types/{documentType}`` → the stored
  document, or 404 ``EntityNotFoundError``.

Every request body is checked against the contract's models: a member the model does not have or a wrong JSON
type → 400 ``JsonFormatError``; an enum value the enum does not have → ``InvalidEnumValue``; a required member
missing → ``ValueRequiredError``. Answers carry only ``TransactionModel`` fields, enums as member names.

Errors have AvaTax's ``ErrorResult`` shape ``{"error": {"code", "message", "target", "details": [...]}}``: 401
``AuthenticationException`` without the right ``Authorization: Basic base64(account_id:license_key)``, 400
``MissingAddress`` / ``InvalidParameterValue`` (currency) for documents AvaTax cannot tax.

The currency's minor unit is ISO 4217's (reimplemented here: the sandbox shares no code with the hub).

Control (see also ``base``): ``GET /_sandbox/transactions`` → ``{"transactions": [request bodies]}`` (every
document calculated); ``GET /_sandbox/documents`` → ``{"documents": [stored TransactionModel]}``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import json
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from localcloud.sandboxes.base import Reply, Request, Sandbox, json_reply

CONTRACT = Path(__file__).resolve().parents[2] / "vendor-specs" / "avatax" / "avatax-contract.json"

DEFAULT_RATES: dict[str, Decimal] = {
    "DE": Decimal("0.19"),
    "NL": Decimal("0.21"),
    "FR": Decimal("0.20"),
    "GB": Decimal("0.20"),
    "US": Decimal("0.0825"),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 minor units where they are not 2
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}
_ORDER_TYPES = {
    "SalesOrder",
    "PurchaseOrder",
    "ReturnOrder",
    "InventoryTransferOrder",
    "ReverseChargeOrder",
    "CustomsOrder",
    "InventoryTransferOutboundOrder",
}
_DOCUMENT = re.compile(r"^/api/v2/companies/([^/]+)/transactions/([^/]+)/types/([^/]+)$")


@cache
def contract() -> dict[str, Any]:
    """The AvaTax contract subset (models, enums, endpoints) from ``vendor-specs/avatax``."""
    return json.loads(CONTRACT.read_text())


class _AvaError(Exception):
    def __init__(self, status: int, code: str, message: str, target: str = "Unknown") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


class AvaTaxSandbox(Sandbox):
    vendor = "avatax"

    def __init__(
        self,
        *,
        account_id: str,
        license_key: str,
        rates: dict[str, Decimal] | None = None,
        webhook_url: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.account_id = account_id
        self.license_key = license_key
        self.rates = {k.upper(): Decimal(str(val)) for k, val in (rates or DEFAULT_RATES).items()}
        self._transactions: list[dict[str, Any]] = []
        self._documents: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._ids = itertools.count(1001)
        self.api_routes += [
            ("POST", re.compile(r"^/api/v2/transactions/create$"), self._create),
            ("GET", _DOCUMENT, self._get_document),
        ]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/transactions$"), self._c_transactions),
            ("GET", re.compile(r"^/_sandbox/documents$"), self._c_documents),
        ]

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """The request bodies of the transactions calculated so far."""
        with self._lock:
            return copy.deepcopy(self._transactions)

    @property
    def documents(self) -> list[dict[str, Any]]:
        """The documents AvaTax records (invoices, returns), as ``TransactionModel``s, in creation order."""
        with self._lock:
            return copy.deepcopy(sorted(self._documents.values(), key=lambda d: d["id"]))

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        defaults = {
            400: ("ModelStateInvalid", "The request is invalid."),
            401: ("AuthenticationException", "Authentication failed."),
            404: ("EntityNotFoundError", "The resource was not found."),
            429: ("RateLimitExceeded", "Too many requests."),
        }
        default_code, default_message = defaults.get(
            status, ("ServerConfiguration", "An unexpected error occurred.")
        )
        return _error(status, code or default_code, message or default_message)

    # --- API -----------------------------------------------------------------------------------------

    def _create(self, request: Request, match: re.Match[str]) -> Reply:
        try:
            self._authenticate(request)
            try:
                body = request.json()
            except Exception:  # noqa: BLE001 - any unreadable body is AvaTax's JsonFormatError
                raise _AvaError(
                    400, "JsonFormatError", "The request body is not JSON.", "IncorrectData"
                ) from None
            _check(body, "CreateTransactionModel", "model")
            reply = self._calculate(body)
            with self._lock:
                self._transactions.append(body)
                if reply["type"] not in _ORDER_TYPES:
                    reply = self._store(body, reply)
        except _AvaError as exc:
            return _error(exc.status, exc.code, exc.message, exc.target)
        return json_reply(201, reply)

    def _get_document(self, request: Request, match: re.Match[str]) -> Reply:
        try:
            self._authenticate(request)
            company, code, kind = (unquote(g) for g in match.groups())
            if kind not in contract()["enums"]["DocumentType"]:
                raise _AvaError(400, "InvalidEnumValue", f"{kind!r} is not a DocumentType.", "IncorrectData")
            with self._lock:
                found = self._documents.get((company, code, kind))
            if found is None:
                raise _AvaError(
                    404, "EntityNotFoundError", f"Document with code '{code}' not found.", "HttpRequest"
                )
        except _AvaError as exc:
            return _error(exc.status, exc.code, exc.message, exc.target)
        return json_reply(200, copy.deepcopy(found))

    def _authenticate(self, request: Request) -> None:
        failed = _AvaError(401, "AuthenticationException", "Authentication failed.", "HttpRequestHeaders")
        header = request.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            raise failed
        try:
            given = base64.b64decode(header[6:], validate=True)
        except (binascii.Error, ValueError):
            raise failed from None
        wanted = f"{self.account_id}:{self.license_key}".encode()
        if not hmac.compare_digest(given, wanted):
            raise failed

    def _store(self, body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        company = str(body.get("companyCode") or "DEFAULT")
        key = (company, str(reply["code"]), str(reply["type"]))
        existing = self._documents.get(key)
        if existing is not None and existing["status"] == "Committed":
            raise _AvaError(
                400,
                "DocumentCodeConflict",
                f"A committed {key[2]} with code '{key[1]}' already exists in company {company}.",
                "IncorrectData",
            )
        reply["id"] = existing["id"] if existing else next(self._ids)
        reply["status"] = "Committed" if body.get("commit") else "Saved"
        self._documents[key] = copy.deepcopy(reply)
        return reply

    def _calculate(self, body: dict[str, Any]) -> dict[str, Any]:
        currency = str(body.get("currencyCode") or "USD").upper()
        if not _CURRENCY.match(currency):
            raise _AvaError(
                400, "InvalidParameterValue", f"Currency code {currency!r} is not valid.", "IncorrectData"
            )
        addresses = body.get("addresses") or {}
        ship_to = addresses.get("shipTo") or addresses.get("singleLocation")
        if not isinstance(ship_to, dict) or not ship_to.get("country"):
            raise _AvaError(
                400, "MissingAddress", "The ship-to address or its country is missing.", "IncorrectData"
            )
        country = str(ship_to["country"]).upper()
        rate = self.rates.get(country, Decimal(0))
        lines = body["lines"]
        if not lines:
            raise _AvaError(
                400, "ValueRequiredError", "A transaction needs at least one line.", "IncorrectData"
            )
        step = Decimal(1).scaleb(-_MINOR_UNITS.get(currency, 2))
        kind = body.get("type", "SalesOrder")
        doc_date = _date_text(body["date"])
        override = body.get("taxOverride") or {}
        tax_date = (
            _date_text(override["taxDate"])
            if override.get("type") == "TaxDate" and override.get("taxDate")
            else doc_date
        )
        out_lines = []
        total_amount = total_tax = total_calculated = Decimal(0)
        for n, line in enumerate(lines, 1):
            amount = _number(line["amount"], f"lines[{n}].amount")
            number = str(line.get("number") or n)
            calculated = (amount * rate).quantize(step, rounding=ROUND_HALF_UP)
            tax = calculated
            line_override = line.get("taxOverride") or {}
            if line_override.get("type") == "TaxAmount":
                given = _number(line_override.get("taxAmount", 0), f"lines[{n}].taxOverride.taxAmount")
                if given != given.quantize(step):
                    raise _AvaError(
                        400,
                        "InvalidDecimalValue",
                        f"lines[{n}].taxOverride.taxAmount has more decimals than {currency} has.",
                        "IncorrectData",
                    )
                tax = given
            total_amount += amount
            total_tax += tax
            total_calculated += calculated
            detail = {
                "country": country,
                "rate": rate,
                "tax": tax,
                "taxCalculated": calculated,
                "taxableAmount": amount,
                "jurisType": "Country",
                "jurisdictionType": "Country",
            }
            out_line: dict[str, Any] = {
                "lineNumber": number,
                "itemCode": line.get("itemCode"),
                "taxCode": line.get("taxCode"),
                "quantity": _number(line.get("quantity", 1), f"lines[{n}].quantity"),
                "lineAmount": amount,
                "taxableAmount": amount,
                "tax": tax,
                "taxCalculated": calculated,
                "taxDate": tax_date,
                "reportingDate": doc_date,
                "details": [detail],
            }
            if line_override.get("type"):
                out_line |= {
                    "taxOverrideType": line_override["type"],
                    "taxOverrideAmount": tax,
                    "taxOverrideReason": line_override.get("reason"),
                }
            out_lines.append({k: v for k, v in out_line.items() if v is not None})
        reply: dict[str, Any] = {
            "id": 0,
            "code": body.get("code") or f"{next(self._ids):08d}-sandbox",
            "type": kind,
            "status": "Temporary",
            "date": doc_date,
            "taxDate": tax_date,
            "customerCode": body.get("customerCode"),
            "currencyCode": currency,
            "referenceCode": body.get("referenceCode"),
            "totalAmount": total_amount,
            "totalTaxable": total_amount,
            "totalTax": total_tax,
            "totalTaxCalculated": total_calculated,
            "lines": out_lines,
        }
        if override.get("type"):
            reply |= {"taxOverrideType": override["type"], "taxOverrideReason": override.get("reason")}
        return {k: v for k, v in reply.items() if v is not None}

    def _c_transactions(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"transactions": self.transactions})

    def _c_documents(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"documents": self.documents})


# --- the contract --------------------------------------------------------------------------------------


def _check(value: Any, type_name: str, path: str) -> None:
    """``value`` is a ``type_name`` of the contract (model, enum, array or primitive), or ``_AvaError``."""
    spec = contract()
    if type_name.endswith("[]"):
        if not isinstance(value, list):
            raise _AvaError(400, "JsonFormatError", f"{path} must be an array.", "IncorrectData")
        for n, item in enumerate(value):
            _check(item, type_name[:-2], f"{path}[{n}]")
        return
    if value is None:
        return
    if type_name in spec["models"]:
        if not isinstance(value, dict):
            raise _AvaError(400, "JsonFormatError", f"{path} must be an object.", "IncorrectData")
        fields = {f["json"]: f for f in spec["models"][type_name].values()}
        for key, item in value.items():
            if key not in fields:
                raise _AvaError(
                    400,
                    "JsonFormatError",
                    f"Could not find member '{key}' on object of type '{type_name}'. Path '{path}.{key}'.",
                    "IncorrectData",
                )
            _check(item, fields[key]["type"], f"{path}.{key}")
        for key, field in fields.items():
            if not field["optional"] and value.get(key) is None:
                raise _AvaError(
                    400, "ValueRequiredError", f"Field '{key}' is required ({path}.{key}).", "IncorrectData"
                )
        return
    if type_name in spec["enums"]:
        members = spec["enums"][type_name]
        known = value in members or (
            isinstance(value, int) and not isinstance(value, bool) and value in members.values()
        )
        if not known:
            raise _AvaError(
                400, "InvalidEnumValue", f"{path}: {value!r} is not a value of {type_name}.", "IncorrectData"
            )
        return
    if type_name == "string":
        ok = isinstance(value, str)
    elif type_name == "boolean":
        ok = isinstance(value, bool)
    elif type_name == "number":
        ok = _is_number(value)
    elif type_name == "Date":
        ok = isinstance(value, str) and _is_date(value)
    else:  # object, any: free-form
        ok = True
    if not ok:
        raise _AvaError(400, "JsonFormatError", f"{path}: {value!r} is not a {type_name}.", "IncorrectData")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | Decimal | float):
        return True
    if isinstance(value, str):  # AvaTax's JSON reader converts a numeric string into a number member
        try:
            return Decimal(value).is_finite()
        except ArithmeticError:
            return False
    return False


def _is_date(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _date_text(value: str) -> str:
    return (
        datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
        if "T" in value
        else (date.fromisoformat(value).isoformat())
    )


def _number(value: Any, field: str) -> Decimal:
    if not _is_number(value):
        raise _AvaError(400, "JsonFormatError", f"{field} must be a number.", "IncorrectData")
    return Decimal(str(value))


def _error(status: int, code: str, message: str, target: str = "Unknown") -> Reply:
    return json_reply(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "target": target,
                "details": [
                    {
                        "code": code,
                        "message": message,
                        "faultCode": "Client" if status < 500 else "Server",
                        "severity": "Error",
                    }
                ],
            }
        },
    )
