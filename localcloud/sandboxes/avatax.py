"""An AvaTax (REST v2) account on loopback: ``POST /api/v2/transactions/create``, Basic auth.

Tax per line = line amount x the rate of the ship-to country (``shipTo``, else ``singleLocation``),
rounded half-up to the document currency's minor unit (cents for EUR/USD, whole yen, fils to 3 decimals),
as AvaTax rounds; ``totalTax`` is the sum of the lines. A country without a rate is taxed at 0 (no nexus).
Transactions are not stored (``SalesOrder`` with ``commit: false`` is a quote); the requests are kept for
inspection (``transactions``).

Errors have AvaTax's shape ``{"error": {"code", "message", "target", "details": [...]}}``: 401
``AuthenticationException`` without the right ``Authorization: Basic base64(account_id:license_key)``, 400
``ModelStateInvalid`` / ``MissingAddress`` / ``InvalidCurrencyCode`` for bad documents.

Control (see also ``base``): ``GET /_sandbox/transactions`` → ``{"transactions": [request bodies]}``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from localcloud.sandboxes.base import Reply, Request, Sandbox, json_reply
from shared.money import minor_unit_exponent

DEFAULT_RATES: dict[str, Decimal] = {
    "DE": Decimal("0.19"),
    "NL": Decimal("0.21"),
    "FR": Decimal("0.20"),
    "GB": Decimal("0.20"),
    "US": Decimal("0.0825"),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")


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
        self.api_routes += [
            ("POST", re.compile(r"^/api/v2/transactions/create$"), self._create),
        ]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/transactions$"), self._c_transactions),
        ]

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """The request bodies of the transactions calculated so far."""
        with self._lock:
            return copy.deepcopy(self._transactions)

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        defaults = {
            400: ("ModelStateInvalid", "The request is invalid."),
            401: ("AuthenticationException", "Authentication failed."),
            404: ("EntityNotFoundError", "The resource was not found."),
            429: ("RateLimitExceeded", "Too many requests."),
        }
        default_code, default_message = defaults.get(status, ("ServerError", "An unexpected error occurred."))
        return _error(status, code or default_code, message or default_message)

    # --- API -----------------------------------------------------------------------------------------

    def _create(self, request: Request, match: re.Match[str]) -> Reply:
        try:
            self._authenticate(request)
            body = request.json()
            if not isinstance(body, dict):
                raise _AvaError(400, "ModelStateInvalid", "The request body must be a JSON object.", "Body")
            reply = self._calculate(body)
        except _AvaError as exc:
            return _error(exc.status, exc.code, exc.message, exc.target)
        with self._lock:
            self._transactions.append(body)
        return json_reply(201, reply)

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

    def _calculate(self, body: dict[str, Any]) -> dict[str, Any]:
        currency = str(body.get("currencyCode") or "USD").upper()
        if not _CURRENCY.match(currency):
            raise _AvaError(
                400, "InvalidCurrencyCode", f"Currency code {currency!r} is not valid.", "currencyCode"
            )
        addresses = body.get("addresses")
        if not isinstance(addresses, dict):
            raise _AvaError(400, "MissingAddress", "An address is missing.", "Addresses")
        ship_to = addresses.get("shipTo") or addresses.get("singleLocation")
        if not isinstance(ship_to, dict) or not ship_to.get("country"):
            raise _AvaError(
                400, "MissingAddress", "The ship-to address or its country is missing.", "Addresses"
            )
        country = str(ship_to["country"]).upper()
        rate = self.rates.get(country, Decimal(0))
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines:
            raise _AvaError(400, "ModelStateInvalid", "A transaction needs at least one line.", "Lines")
        step = Decimal(1).scaleb(-minor_unit_exponent(currency))
        out_lines = []
        total_amount = total_tax = Decimal(0)
        for n, line in enumerate(lines, 1):
            if not isinstance(line, dict):
                raise _AvaError(400, "ModelStateInvalid", f"Line {n} is not an object.", "Lines")
            amount = _decimal(line.get("amount"), f"lines[{n}].amount")
            number = str(line.get("number") or n)
            tax = (amount * rate).quantize(step, rounding=ROUND_HALF_UP)
            total_amount += amount
            total_tax += tax
            out_lines.append(
                {
                    "lineNumber": number,
                    "itemCode": line.get("itemCode"),
                    "taxCode": line.get("taxCode"),
                    "quantity": _decimal(line.get("quantity", 1), f"lines[{n}].quantity"),
                    "lineAmount": amount,
                    "taxableAmount": amount,
                    "tax": tax,
                    "details": [{"country": country, "rate": rate, "tax": tax, "jurisType": "Country"}],
                }
            )
        return {
            "id": 0,
            "code": body.get("code"),
            "companyCode": body.get("companyCode"),
            "type": body.get("type", "SalesOrder"),
            "status": "Temporary",
            "date": body.get("date"),
            "customerCode": body.get("customerCode"),
            "currencyCode": currency,
            "totalAmount": total_amount,
            "totalTaxable": total_amount,
            "totalTax": total_tax,
            "lines": out_lines,
        }

    def _c_transactions(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"transactions": self.transactions})


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _AvaError(400, "ModelStateInvalid", f"{field} must be a number.", field)
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise _AvaError(400, "ModelStateInvalid", f"{field} must be a number.", field) from None
    if not number.is_finite():
        raise _AvaError(400, "ModelStateInvalid", f"{field} must be a number.", field)
    return number


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
