"""What every part of the NetSuite sandbox shares: the account's defaults, NetSuite's error shape and the
small parsers (numbers, money at the currency's precision, references, sublists)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.netsuite.contract import enum_label
from localcloud.sandboxes.netsuite.errors import NsError

RECORD_PATH = "/services/rest/record/v1"
DEFAULT_CURRENCIES = {"1": "USD", "2": "GBP", "3": "CAD", "4": "EUR", "5": "JPY", "6": "KWD"}
DEFAULT_SUBSIDIARIES = {"1": "O2C Inc. (US)", "2": "O2C GmbH (DE)", "3": "O2C B.V. (NL)"}
#: Each subsidiary's base currency (a subsidiary missing here books in USD).
DEFAULT_SUBSIDIARY_CURRENCIES = {"1": "USD", "2": "EUR", "3": "EUR"}
#: The account's currency exchange rate table: 1 unit of the first currency in the second (major units).
DEFAULT_EXCHANGE_RATES: dict[tuple[str, str], Decimal] = {
    ("EUR", "USD"): Decimal("1.08"),
    ("GBP", "USD"): Decimal("1.27"),
    ("CAD", "USD"): Decimal("0.73"),
    ("JPY", "USD"): Decimal("0.0067"),
    ("KWD", "USD"): Decimal("3.25"),
    ("USD", "EUR"): Decimal("0.92"),
    ("GBP", "EUR"): Decimal("1.17"),
    ("CAD", "EUR"): Decimal("0.68"),
    ("JPY", "EUR"): Decimal("0.0062"),
    ("KWD", "EUR"): Decimal("3.01"),
}
#: Each currency's precision in the account (Lists > Accounting > Currencies, "Currency Precision"): NetSuite
#: offers 0 or 2 decimals only, so a three-decimal ISO currency (KWD, BHD, ...) is kept to 2 decimals here.
#: A currency missing here has 2.
DEFAULT_CURRENCY_PRECISION = {"JPY": 0, "KRW": 0, "HUF": 2}
#: The account's payment methods (Setup > Accounting > Accounting Lists > Payment Method): what a customer
#: refund's ``paymentOption`` references.
DEFAULT_PAYMENT_OPTIONS = {"1": "Cash", "2": "Check", "9": "Stripe"}
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
TRANSACTION_TYPES = {
    "SalesOrd": "salesOrder",
    "CustInvc": "invoice",
    "CustPymt": "customerPayment",
    "CustCred": "creditMemo",
    "CustRfnd": "customerRefund",
    "Deposit": "deposit",
    "RtnAuth": "returnAuthorization",
}
BILLABLE = ("B", "D", "E", "F")
TYPES = (
    "customer",
    "salesOrder",
    "invoice",
    "customerPayment",
    "creditMemo",
    "customerRefund",
    "deposit",
    "returnAuthorization",
)
NUMBERING = {
    "customer": ("entityId", "CUST", 101),
    "salesOrder": ("tranId", "SO", 2001),
    "invoice": ("tranId", "INV", 3001),
    "customerPayment": ("tranId", "PYMT", 4001),
    "creditMemo": ("tranId", "CM", 5001),
    "customerRefund": ("tranId", "RFND", 6001),
    "deposit": ("tranId", "DEP", 7001),
    "returnAuthorization": ("tranId", "RMA", 8001),
}
TRANSFORMS = {
    ("invoice", "creditMemo"),
    ("invoice", "returnAuthorization"),
    ("returnAuthorization", "creditMemo"),
}
TIMESTAMP_TOLERANCE_S = 300
RFC = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5."
TITLES = {
    400: ("Bad Request", "1"),
    401: ("Unauthorized", "2"),
    403: ("Forbidden", "4"),
    404: ("Not Found", "5"),
    405: ("Method Not Allowed", "6"),
    429: ("Too Many Requests", None),
    500: ("Internal Server Error", None),
    503: ("Service Unavailable", None),
}
DEFAULT_ERRORS = {
    400: ("USER_ERROR", "Invalid request."),
    401: (
        "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
        "Setup > Users/Roles > User Management > View Login Audit Trail.",
    ),
    403: ("INSUFFICIENT_PERMISSION", "Permission Violation."),
    404: ("NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID."),
    405: ("METHOD_NOT_ALLOWED", "The HTTP method is not allowed for this resource."),
    429: ("CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked."),
    500: ("UNEXPECTED_ERROR", "An unexpected error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def invalid(detail: str, code: str = "INVALID_FLD_VALUE") -> NsError:
    return NsError(400, code, detail)


def select(record_type: str, field: str, value: str) -> dict[str, str]:
    """A select field's value as NetSuite answers it: ``{"id", "refName"}``."""
    return {"id": value, "refName": enum_label(record_type, field, value)}


def body_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("The request body must be a JSON object.", "INVALID_CONTENT")
    return value


def items_of(value: Any, field: str) -> list[Any]:
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise invalid(f'{field}: a sublist is {{"items": [...]}}')
    return list(value["items"])


def ref_id(value: Any, field: str) -> str:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    raise invalid(f"Please enter value(s) for: {field}", "USER_ERROR")


def to_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise invalid(f"{field}: {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise invalid(f"{field}: {value!r} is not a number") from None
    if not number.is_finite():
        raise invalid(f"{field}: {value!r} is not a number")
    return number


def money(value: Any, currency: str, field: str, precision: int) -> Decimal:
    """An amount in ``currency``, exact: more decimals than the currency's precision in the account (0 or 2)
    is refused, as NetSuite refuses it."""
    amount = to_decimal(value, field)
    scaled = amount.scaleb(precision)
    if scaled != scaled.to_integral_value():
        raise invalid(
            f"{field}: {value} has more decimals than the currency {currency} allows (precision {precision})."
        )
    return amount.quantize(Decimal(1).scaleb(-precision))


def totals(record: dict[str, Any]) -> None:
    items = record["item"]["items"]
    for n, line in enumerate(items, 1):
        line["line"] = n
    subtotal = sum((line["amount"] for line in items), Decimal(0))
    tax = sum((line.get("tax1Amt", Decimal(0)) for line in items), Decimal(0))
    record.update(subtotal=subtotal, taxTotal=tax, total=subtotal + tax)


def round_half_up(value: Decimal, precision: int) -> Decimal:
    """NetSuite rounds a computed amount (a converted payment) half up to the currency's precision."""
    from decimal import ROUND_HALF_UP

    return value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)


def credit_status(unapplied: Decimal) -> dict[str, str]:
    """A credit memo: A Open while some of it is unapplied, B Fully Applied."""
    return select("creditMemo", "status", "B" if unapplied == 0 else "A")


def iso_date(value: Any, field: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise invalid(f"{field}: {value!r} is not a date (YYYY-MM-DD).") from None
