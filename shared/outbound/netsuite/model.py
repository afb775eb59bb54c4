"""What the NetSuite client writes and reads: record paths and types, NetSuite's status ids, the hub's
references to records (``ErpRef``, ``CustomerPayment``, ``OrderLine``), and checks and parsers of the ids,
amounts and fields on the wire."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from shared.crm.models import Address
from shared.errors import InvalidRecord
from shared.money import Money

# the ERP port's value types and invoice statuses (``shared.order_to_cash.ports``), importable from here
from shared.order_to_cash.ports import INVOICE_STATUS as INVOICE_STATUS
from shared.order_to_cash.ports import CustomerPayment as CustomerPayment
from shared.order_to_cash.ports import ErpRef as ErpRef
from shared.order_to_cash.ports import OrderLine as OrderLine

RECORD_PATH = "/services/rest/record/v1"
RECORD_TYPES = frozenset(
    {
        "customer",
        "salesOrder",
        "invoice",
        "customerPayment",
        "creditMemo",
        "customerRefund",
        "deposit",
        "returnAuthorization",
    }
)
#: The account's own lists the hub maps to (read only): a subsidiary's base ``currency``, a currency's ``symbol``.
ACCOUNT_RECORD_TYPES = frozenset({"subsidiary", "currency"})
# ``orderStatus``: the approval a client sets on a sales order or return authorization — A or B, nothing else.
ORDER_STATUS = {"pendingApproval": "A", "pendingFulfillment": "B"}
RMA_ORDER_STATUS = {"pendingApproval": "A", "pendingReceipt": "B"}
# ``status``: the read-only lifecycle NetSuite keeps (sales order).
SALES_ORDER_STATUS = {
    "pendingApproval": "A",
    "pendingFulfillment": "B",
    "cancelled": "C",
    "partiallyFulfilled": "D",
    "pendingBillingPartFulfilled": "E",
    "pendingBilling": "F",
    "billed": "G",
    "closed": "H",
}
# ``status`` of a return authorization.
RMA_STATUS = {
    "pendingApproval": "A",
    "pendingReceipt": "B",
    "cancelled": "C",
    "partiallyReceived": "D",
    "pendingRefundPartReceived": "E",
    "pendingRefund": "F",
    "refunded": "G",
    "closed": "H",
}
# ``status`` of an invoice: INVOICE_STATUS, from the ERP port (the reconciliation compares it).
# ``status`` of a customer payment.
PAYMENT_STATUS = {"unapproved": "A", "notDeposited": "B", "deposited": "C", "rejected": "R"}
# A customer refund's ``paymentOption`` references a payment method of the account (Setup > Accounting >
# Accounting Lists > Payment Method): "Stripe". Per account: ``NETSUITE_ACCOUNT_SETTINGS.stripePaymentOptionId``.
DEFAULT_STRIPE_PAYMENT_OPTION_ID = "9"
# Currency internal ids are per account (Lists > Accounting > Currencies). These are the ids a new
# account usually gives its first currencies; pass ``currency_ids`` for yours.
DEFAULT_CURRENCY_IDS: Mapping[str, str] = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}

# NetSuite: "An external ID can be any string containing letters, numbers, underscore (_), and hyphen (-)."
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_INTERNAL_ID = re.compile(r"^[0-9]{1,20}$")
_DUNNING_STATE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _ref(record: Mapping[str, Any], external_id: str, number_field: str) -> ErpRef:
    record_id = str(record.get("id") or "")
    if not _INTERNAL_ID.match(record_id):
        raise InvalidRecord(f"record {external_id}: no internal id in NetSuite's answer")
    number = record.get(number_field)
    return ErpRef(id=record_id, external_id=external_id, document_number=str(number) if number else None)


def _positive(amount: Money, what: str) -> None:
    if amount.amount <= 0:
        raise ValueError(f"{what} is positive")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidRecord(f"{value!r} is not an amount")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidRecord(f"{value!r} is not an amount") from None
    if not number.is_finite():
        raise InvalidRecord(f"{value!r} is not an amount")
    return number


def _record_currency(record: Mapping[str, Any], currency_ids: Mapping[str, str]) -> str:
    """The ISO code of a record's ``currency`` reference (its id, through ``currency_ids``)."""
    ref = record.get("currency")
    currency_id = ref.get("id") if isinstance(ref, dict) else ref
    for code, known in currency_ids.items():
        if str(known) == str(currency_id):
            return code
    raise InvalidRecord(f"currency id {currency_id!r} is not in currency_ids")


def _same_currency(
    amount: Money, record: Mapping[str, Any], currency_ids: Mapping[str, str], what: str
) -> None:
    code = _record_currency(record, currency_ids)
    if amount.currency != code:
        raise ValueError(f"{amount.format()} against {what} in {code}")


def _ref_id_of(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("id") is not None and _INTERNAL_ID.match(str(value["id"])):
        return str(value["id"])
    return None


def _status_id(record: Mapping[str, Any]) -> str | None:
    """The record's ``status.id`` (NetSuite's read-side status; ``orderStatus`` is only the approval)."""
    status = record.get("status")
    if isinstance(status, dict):
        value = status.get("id")
        return str(value) if value is not None else None
    return str(status) if status is not None else None


def _id_from_location(location: str | None, record_type: str) -> str | None:
    if not location:
        return None
    parts = urlsplit(location).path.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == record_type and _INTERNAL_ID.match(parts[-1]):
        return parts[-1]
    return None


def _address(address: Address) -> dict[str, Any]:
    fields = {
        "addr1": address.street,
        "city": address.city,
        "state": address.state,
        "zip": address.postalCode,
        "country": {"id": address.country.upper()} if address.country else None,
    }
    return {k: v for k, v in fields.items() if v}


def is_external_id(value: str) -> bool:
    """Whether NetSuite takes ``value`` as an external id (letters, digits, ``_`` and ``-``, at most 200)."""
    return bool(_EXTERNAL_ID.match(str(value).strip()))


def _external_id(value: str) -> str:
    text = str(value).strip()
    if not _EXTERNAL_ID.match(text):
        raise ValueError(f"{text[:40]!r} is not a NetSuite external id (letters, digits, _ and -)")
    return text


def is_internal_id(value: object) -> bool:
    """Whether ``value`` can be a NetSuite internal id (digits, at most 20)."""
    return bool(_INTERNAL_ID.match(str(value).strip()))


def _internal_id(value: object, what: str) -> str:
    text = str(value).strip()
    if not _INTERNAL_ID.match(text):
        raise ValueError(f"{what} id {text[:40]!r} is not a NetSuite internal id")
    return text
