"""The NetSuite client's record API: reads by internal or external id, the upserts of customers, sales
orders and customer payments, the invoice transform (once only), order status, and the lines of invoices
and credit memos."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.crm.models import Address
from shared.errors import InvalidRecord, NotFound, PermanentError
from shared.money import Money, erp_step, from_major
from shared.outbound.netsuite.auth import Auth, base_url_for, realm_for
from shared.outbound.netsuite.model import (
    _EXTERNAL_ID,
    _INTERNAL_ID,
    ACCOUNT_RECORD_TYPES,
    DEFAULT_CURRENCY_IDS,
    DEFAULT_STRIPE_PAYMENT_OPTION_ID,
    ORDER_STATUS,
    PAYMENT_STATUS,
    RECORD_PATH,
    RECORD_TYPES,
    SALES_ORDER_STATUS,
    CustomerPayment,
    ErpRef,
    OrderLine,
    _address,
    _decimal,
    _external_id,
    _id_from_location,
    _internal_id,
    _record_currency,
    _ref,
    _status_id,
)
from shared.outbound.netsuite.wire import NetSuiteHttp, Response

if TYPE_CHECKING:
    from shared.outbound.erp_gate import ErpGate


class NetSuiteRecords:
    """NetSuite REST record API: what ``NetSuiteErp`` is built on (see there for the arguments)."""

    def __init__(
        self,
        base_url: str | None,
        *,
        account_id: str,
        auth: Auth,
        http: NetSuiteHttp | None = None,
        gate: ErpGate | None = None,
        currency_ids: Mapping[str, str] | None = None,
        default_item_id: str | None = None,
        credit_item_id: str | None = None,
        stripe_payment_option_id: str | None = DEFAULT_STRIPE_PAYMENT_OPTION_ID,
        dispute_account_id: str | None = None,
        adjustment_account_id: str | None = None,
        rounding_item_id: str | None = None,
    ) -> None:
        self.account_id = realm_for(account_id)
        if http is not None and gate is not None and http.gate is not gate:
            raise ValueError("pass the gate to the NetSuiteHttp you give, not beside it")
        self._http = http or NetSuiteHttp(base_url or base_url_for(account_id), auth=auth, gate=gate)
        self._currency_ids = {k.upper(): v for k, v in (currency_ids or DEFAULT_CURRENCY_IDS).items()}
        self._default_item_id = default_item_id
        self._credit_item_id = credit_item_id or default_item_id
        self._stripe_payment_option_id = stripe_payment_option_id
        self._dispute_account_id = dispute_account_id
        self._adjustment_account_id = adjustment_account_id
        self._rounding_item_id = rounding_item_id

    def session(self) -> contextlib.AbstractContextManager[None]:
        """One slot of the ERP gate for every request sent within the block (``NetSuiteHttp.session``): a task
        or a consumer record that sends several requests one after another takes the gate once."""
        return self._http.session()

    # --- reads ---------------------------------------------------------------------------------------

    def get_by_external_id(
        self, record_type: str, external_id: str, *, expand: bool = False
    ) -> dict[str, Any] | None:
        """The record, or None when there is none with that external id. ``expand``: with its sublists'
        lines (``expandSubResources=true``)."""
        try:
            return self._get(record_type, f"eid:{_external_id(external_id)}", expand=expand)
        except NotFound:
            return None

    def get(self, record_type: str, record_id: str) -> dict[str, Any]:
        """The record by internal id (``NotFound`` if there is none)."""
        return self._get(record_type, _internal_id(record_id, record_type))

    def record_fields(self, record_type: str) -> set[str]:
        """The body fields (custom fields included) the account has on a record type, from its metadata
        catalog: ``GET /metadata-catalog/{record}`` as JSON Schema (``Accept: application/schema+json``)."""
        if record_type not in RECORD_TYPES:
            raise ValueError(f"unknown NetSuite record type {record_type!r}")
        body = self._http.request(
            "GET",
            f"{RECORD_PATH}/metadata-catalog/{record_type}",
            headers={"Accept": "application/schema+json"},
        ).body
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise InvalidRecord(f"metadata catalog of {record_type}: no JSON Schema properties")
        return set(body["properties"])

    def customer_payment(self, external_id: str) -> CustomerPayment | None:
        """The customer payment with that external id (None if there is none): its amount in its own
        currency, its exchange rate to the subsidiary's base currency (1 when NetSuite gives none) and
        whether it is deposited."""
        external_id = _external_id(external_id)
        record = self.get_by_external_id("customerPayment", external_id)
        if record is None:
            return None
        record_id = str(record.get("id") or "")
        if not _INTERNAL_ID.match(record_id):
            raise InvalidRecord(f"customer payment {external_id}: no internal id in NetSuite's answer")
        raw_rate = record.get("exchangeRate")
        rate = Decimal(1) if raw_rate in (None, "") else _decimal(raw_rate)
        if rate <= 0:
            raise InvalidRecord(f"customer payment {external_id}: exchange rate {rate} is not positive")
        deposited = _status_id(record) == PAYMENT_STATUS["deposited"]
        return CustomerPayment(
            id=record_id,
            external_id=external_id,
            amount=self._money_field(record, "payment"),
            exchange_rate=rate,
            deposited=deposited,
        )

    # --- writes --------------------------------------------------------------------------------------

    def upsert_customer(
        self,
        external_id: str,
        *,
        company_name: str,
        email: str | None,
        subsidiary_id: str,
        currency: str,
        billing_address: Address | None = None,
        tax_id: str | None = None,
    ) -> ErpRef:
        external_id = _external_id(external_id)
        body: dict[str, Any] = {
            "externalId": external_id,
            "isPerson": False,
            "companyName": company_name,
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(currency)},
        }
        if email:
            body["email"] = email
        if tax_id:
            body["vatRegNumber"] = tax_id
        query = None
        if billing_address is not None:
            body["addressBook"] = {
                "items": [
                    {
                        "defaultBilling": True,
                        "defaultShipping": False,
                        "addressBookAddress": _address(billing_address),
                    }
                ]
            }
            query = {"replace": "addressBook"}  # the address replaces, rather than joins, the old one
        return self._upsert("customer", external_id, body, query=query, number_field="entityId")

    def upsert_sales_order(
        self,
        external_id: str,
        *,
        customer_id: str,
        subsidiary_id: str,
        currency: str,
        lines: list[OrderLine],
        memo: str | None = None,
        status: str = "pendingApproval",
    ) -> ErpRef:
        """Create or update the order. An order past ``pendingApproval`` (approved, billed, cancelled) is
        left as it is and its reference returned: a redelivered "create the order" must not reset it."""
        external_id = _external_id(external_id)
        if status not in ("pendingApproval", "pendingFulfillment"):
            raise ValueError("a new sales order is pendingApproval or pendingFulfillment")
        if not lines:
            raise InvalidRecord(f"sales order {external_id}: no lines")
        code = currency.upper()
        existing = self.get_by_external_id("salesOrder", external_id)
        if existing is not None and _status_id(existing) not in (None, SALES_ORDER_STATUS["pendingApproval"]):
            return _ref(existing, external_id, "tranId")
        body: dict[str, Any] = {
            "externalId": external_id,
            "entity": {"id": _internal_id(customer_id, "customer")},
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(code)},
            "orderStatus": {"id": ORDER_STATUS[status]},
            "item": {"items": [self._line(external_id, n, line, code) for n, line in enumerate(lines, 1)]},
        }
        if memo:
            body["memo"] = memo
        return self._upsert("salesOrder", external_id, body, query={"replace": "item"}, number_field="tranId")

    def invoice_sales_order(self, order_id: str, *, external_id: str, read_number: bool = True) -> ErpRef:
        """Bill the order: one invoice with ``external_id``, however often this is called. Looks for the
        invoice before transforming and, after a failed or timed-out transform, again before retrying (the
        transform may have committed). ``read_number=False``: a new invoice's reference is its id from
        ``Location`` without its document number (no read back; the caller reads the invoice anyway)."""
        order_id = _internal_id(order_id, "salesOrder")
        external_id = _external_id(external_id)
        return self._transform_once(
            "salesOrder",
            order_id,
            "invoice",
            external_id,
            {"externalId": external_id},
            read_number=read_number,
        )

    def apply_customer_payment(
        self,
        external_id: str,
        *,
        customer_id: str,
        invoice_id: str,
        amount: Money,
        currency: str,
        memo: str | None = None,
        exchange_rate: Decimal | None = None,
    ) -> ErpRef:
        """Record a payment of ``amount`` by the customer, applied to the invoice. ``exchange_rate``: the
        rate from the payment's currency to the base currency of the customer's subsidiary (e.g. Stripe's
        ``exchange_rate`` when Stripe settled the charge in that base currency), sent as ``exchangeRate``;
        None lets NetSuite take its own (1 in the base currency, else the account's rate table)."""
        external_id = _external_id(external_id)
        if amount.currency != currency.upper():
            raise ValueError(f"payment of {amount.format()} recorded in {currency}")
        if amount.amount <= 0:
            raise ValueError("a customer payment is positive")
        if exchange_rate is not None and (
            not isinstance(exchange_rate, Decimal) or not exchange_rate.is_finite() or exchange_rate <= 0
        ):
            raise ValueError(f"an exchange rate is a positive Decimal, got {exchange_rate!r}")
        value = amount.to_decimal()
        body: dict[str, Any] = {
            "externalId": external_id,
            "customer": {"id": _internal_id(customer_id, "customer")},
            "currency": {"id": self._currency_id(amount.currency)},
            "payment": value,
            "apply": {
                "items": [
                    {"doc": {"id": _internal_id(invoice_id, "invoice")}, "apply": True, "amount": value}
                ]
            },
        }
        if memo:
            body["memo"] = memo
        if exchange_rate is not None:
            body["exchangeRate"] = exchange_rate  # a JSON number with exactly its digits (dumps)
        # the payment's reference is its id (from ``Location``): nothing the hub does uses its document number
        return self._upsert(
            "customerPayment",
            external_id,
            body,
            query={"replace": "apply"},
            number_field="tranId",
            read_number=False,
        )

    def activate_sales_order(self, order_id: str) -> None:
        """Approve: ``orderStatus`` B, when ``status`` is A Pending Approval (already past it: nothing to do)."""
        order_id = _internal_id(order_id, "salesOrder")
        if _status_id(self._get("salesOrder", order_id)) != SALES_ORDER_STATUS["pendingApproval"]:
            return
        self._http.request(
            "PATCH",
            f"{RECORD_PATH}/salesOrder/{order_id}",
            json={"orderStatus": {"id": ORDER_STATUS["pendingFulfillment"]}},
        )

    def release_sales_order(self, order_id: str) -> None:
        """Release a paid order to fulfilment: the hub's custom body field ``custbody_o2c_released``
        (a saved search / workflow keeps unreleased orders out of the fulfilment queue). Idempotent."""
        order_id = _internal_id(order_id, "salesOrder")
        self._http.request(
            "PATCH", f"{RECORD_PATH}/salesOrder/{order_id}", json={"custbody_o2c_released": True}
        )

    def cancel_sales_order(self, order_id: str) -> None:
        """Call off an order nothing was fulfilled or billed on: NetSuite's REST way is to close every line
        (the order becomes H Closed; ``status`` is read-only and ``orderStatus`` takes only A/B). Already
        cancelled (in the UI) or closed: nothing to do."""
        self._close_lines("salesOrder", _internal_id(order_id, "salesOrder"))

    # --- internals -----------------------------------------------------------------------------------

    def _transform_once(
        self,
        source_type: str,
        source_id: str,
        target_type: str,
        external_id: str,
        body: dict[str, Any],
        *,
        query: Mapping[str, str] | None = None,
        read_number: bool = True,
        looked_up: bool = False,
    ) -> ErpRef:
        """``POST /{source}/{id}/!transform/{target}``, which has no upsert: the target is looked up by its
        external id before the POST and, after a failed or timed-out POST, again before retrying (it may have
        committed). The POST itself is never blindly re-sent."""
        path = f"{RECORD_PATH}/{source_type}/{source_id}/!transform/{target_type}"

        # the caller looked just now: no second look-up before the first POST (a retry looks again)
        skip_look_up = [looked_up]

        def look_up_then_transform() -> ErpRef:
            if skip_look_up[0]:
                skip_look_up[0] = False
            else:
                found = self.get_by_external_id(target_type, external_id)
                if found is not None:
                    return _ref(found, external_id, "tranId")
            try:
                response = self._http.request("POST", path, query=query, json=body, retry=False)
            except PermanentError:
                # a concurrent or earlier transform may have made it already
                found = self.get_by_external_id(target_type, external_id)
                if found is not None:
                    return _ref(found, external_id, "tranId")
                raise
            return self._ref_after_write(
                target_type, external_id, response, "tranId", read_number=read_number
            )

        return self._http.retrying(
            look_up_then_transform,
            what=f"transform {source_type} {source_id} to {target_type} {external_id}",
        )

    def credit_memo_lines(self, credit_memo_id: str) -> list[OrderLine]:
        """The credit memo's item lines (net ``amount`` and ``tax`` in its currency; ``item_external_id`` the
        item's external id, else its name, else its internal id), for the tax engine's return."""
        return self._item_lines("creditMemo", credit_memo_id)

    def invoice_lines(self, invoice_id: str) -> list[OrderLine]:
        """The invoice's item lines, as ``credit_memo_lines``, for the tax engine's record of the sale."""
        return self._item_lines("invoice", invoice_id)

    def invoice_with_lines(self, invoice_id: str) -> tuple[dict[str, Any], list[OrderLine]]:
        """The invoice (body fields: ``tranId``, ``tranDate``, totals ...) and its item lines, from one read
        (``expandSubResources``)."""
        record = self._get("invoice", _internal_id(invoice_id, "invoice"), expand=True)
        return record, self._lines_of("invoice", invoice_id, record)

    def _item_lines(self, record_type: str, record_id: str) -> list[OrderLine]:
        memo = self._get(record_type, _internal_id(record_id, record_type), expand=True)
        return self._lines_of(record_type, record_id, memo)

    def _lines_of(self, record_type: str, record_id: str, memo: Mapping[str, Any]) -> list[OrderLine]:
        code = _record_currency(memo, self._currency_ids)
        sublist = memo.get("item")
        items: dict[str, Any] = sublist if isinstance(sublist, dict) else {}
        out = []
        for n, line in enumerate(items.get("items") or [], 1):
            if not isinstance(line, dict):
                raise InvalidRecord(f"{record_type} {record_id} line {n}: not an object")
            ref = line.get("item")
            item: dict[str, Any] = ref if isinstance(ref, dict) else {}
            quantity = _decimal(line.get("quantity") or 1)
            amount = from_major(_decimal(line.get("amount") or 0), code)
            out.append(
                OrderLine(
                    quantity=int(quantity)
                    if quantity == quantity.to_integral_value() and quantity > 0
                    else 1,
                    rate=from_major(_decimal(line.get("rate") or line.get("amount") or 0), code),
                    amount=amount,
                    tax=from_major(_decimal(line.get("tax1Amt") or 0), code),
                    item_external_id=str(
                        item.get("externalId") or item.get("refName") or item.get("id") or ""
                    )
                    or None,
                    name=line.get("description"),
                    rounding=bool(self._rounding_item_id) and str(item.get("id")) == self._rounding_item_id,
                )
            )
        return out

    def tax_customer(self, customer_id: str) -> tuple[str | None, Address | None]:
        """The customer's external id (the tax engine's customer code) and its default shipping address, else
        its default billing address, else its first (``addressBook`` with ``expandSubResources``)."""
        customer = self._get("customer", _internal_id(customer_id, "customer"), expand=True)
        raw_book = customer.get("addressBook")
        book: dict[str, Any] = raw_book if isinstance(raw_book, dict) else {}
        entries = [e for e in book.get("items") or [] if isinstance(e, dict)]
        entries.sort(key=lambda e: (not e.get("defaultShipping"), not e.get("defaultBilling")))
        address = None
        for entry in entries:
            raw = entry.get("addressBookAddress")
            if isinstance(raw, dict):
                country = raw.get("country")
                country_code = country.get("id") if isinstance(country, dict) else country
                address = Address(
                    street=raw.get("addr1"),
                    city=raw.get("city"),
                    state=raw.get("state"),
                    postalCode=raw.get("zip"),
                    country=str(country_code) if country_code else None,
                )
                break
        external_id = customer.get("externalId")
        return (str(external_id) if external_id else None), address

    def _money_field(self, record: Mapping[str, Any], field: str) -> Money:
        code = _record_currency(record, self._currency_ids)
        return from_major(_decimal(record.get(field)), code)

    def _close_lines(self, record_type: str, record_id: str) -> None:
        """Close a sales order or return authorization: ``PATCH`` every open item line ``isClosed: true`` (read
        with ``expandSubResources`` to know the lines). Already cancelled or closed: nothing to do."""
        record = self._get(record_type, record_id, expand=True)
        if _status_id(record) in ("C", "H"):
            return
        lines = (record.get("item") or {}).get("items") or []
        open_lines = [
            {"line": int(line["line"]), "isClosed": True}
            for line in lines
            if isinstance(line, dict) and line.get("line") is not None and not line.get("isClosed")
        ]
        if not open_lines:
            raise InvalidRecord(f"{record_type} {record_id}: no open lines to close")
        self._http.request(
            "PATCH", f"{RECORD_PATH}/{record_type}/{record_id}", json={"item": {"items": open_lines}}
        )

    def _get(self, record_type: str, key: str, *, expand: bool = False) -> dict[str, Any]:
        """``expand``: with the sublists' lines (``expandSubResources=true``), not links to them."""
        if record_type not in RECORD_TYPES | ACCOUNT_RECORD_TYPES:
            raise ValueError(f"unknown NetSuite record type {record_type!r}")
        query = {"expandSubResources": "true"} if expand else None
        body = self._http.request("GET", f"{RECORD_PATH}/{record_type}/{key}", query=query).body
        if not isinstance(body, dict):
            raise InvalidRecord(f"{record_type} {key}: unexpected response shape")
        return body

    def _upsert(
        self,
        record_type: str,
        external_id: str,
        body: dict[str, Any],
        *,
        query: Mapping[str, str] | None,
        number_field: str,
        read_number: bool = True,
    ) -> ErpRef:
        response = self._http.request(
            "PUT", f"{RECORD_PATH}/{record_type}/eid:{external_id}", query=query, json=body
        )
        return self._ref_after_write(
            record_type, external_id, response, number_field, read_number=read_number
        )

    def _ref_after_write(
        self,
        record_type: str,
        external_id: str,
        response: Response,
        number_field: str,
        *,
        read_number: bool = True,
    ) -> ErpRef:
        """The written record's reference: its id from ``Location``, its document number from a read (by
        id, or by external id when ``Location`` is missing). ``read_number=False``: no read when
        ``Location`` names the record (the reference has no document number)."""
        record_id = _id_from_location(response.location, record_type)
        if record_id and not read_number:
            return ErpRef(id=record_id, external_id=external_id, document_number=None)
        record = self._get(record_type, record_id if record_id else f"eid:{external_id}")
        return _ref(record, external_id, number_field)

    def _line(self, order: str, number: int, line: OrderLine, currency: str) -> dict[str, Any]:
        for name, money in (("rate", line.rate), ("amount", line.amount), ("tax", line.tax)):
            if money.currency != currency:
                raise ValueError(
                    f"order {order} line {number}: {name} in {money.currency}, order in {currency}"
                )
        for name, money in (("rate", line.rate), ("amount", line.amount), ("tax", line.tax)):
            if money.amount % erp_step(currency):
                raise InvalidRecord(
                    f"order {order} line {number}: {name} {money.format()} has more decimals than NetSuite "
                    f"keeps for {currency} (round to {erp_step(currency)} minor units first)"
                )
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity <= 0:
            raise InvalidRecord(f"order {order} line {number}: quantity must be a positive whole number")
        if line.rounding:
            if not self._rounding_item_id:
                raise InvalidRecord(f"order {order} line {number}: a rounding line needs rounding_item_id")
            item: dict[str, str] = {"id": _internal_id(self._rounding_item_id, "item")}
        elif line.item_external_id:
            if not _EXTERNAL_ID.match(line.item_external_id):
                raise InvalidRecord(
                    f"order {order} line {number}: item {line.item_external_id[:40]!r} is not a NetSuite "
                    "external id (letters, digits, _ and -)"
                )
            item = {"externalId": line.item_external_id}
        elif self._default_item_id:
            item = {"id": _internal_id(self._default_item_id, "item")}
        else:
            raise InvalidRecord(f"order {order} line {number}: no item external id and no default item")
        result: dict[str, Any] = {
            "item": item,
            "quantity": line.quantity,
            "rate": line.rate.to_decimal(),
            "amount": line.amount.to_decimal(),
            "tax1Amt": line.tax.to_decimal(),
        }
        if line.name:
            result["description"] = line.name
        if line.rev_rec_start is not None:
            result["revRecStartDate"] = line.rev_rec_start.isoformat()
        if line.rev_rec_end is not None:
            result["revRecEndDate"] = line.rev_rec_end.isoformat()
        if line.rev_rec_term_months is not None:
            result["revRecTermInMonths"] = line.rev_rec_term_months
        return result

    def _currency_id(self, currency: str) -> str:
        code = currency.upper()
        try:
            return self._currency_ids[code]
        except KeyError:
            raise InvalidRecord(f"currency {code} has no NetSuite currency id (currency_ids)") from None
