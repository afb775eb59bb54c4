"""A NetSuite account on loopback: the REST record API v1 subset ``shared.connectors.netsuite`` calls, with
Token-Based Authentication verified on every request and the account-wide concurrency limit enforced.

Vendor API (paths under ``/services/rest/record/v1``; ``Authorization: OAuth realm=...`` with an
HMAC-SHA256 signature over method, URL and query, checked with ``oauthlib``'s RFC 5849 functions, the
consumer key, the token, the realm (= account id), a fresh timestamp (±300 s) and an unused nonce, else
401 ``INVALID_LOGIN``):
- ``PUT /{customer|salesOrder|customerPayment}/eid:{ext}[?replace=sublist]`` upsert → 204 + ``Location``
  (without ``replace`` sublist lines are appended to the existing ones, as NetSuite does)
- ``POST /{customer|salesOrder}`` create → 204 + ``Location``
- ``GET /{type}/{id}`` and ``GET /{type}/eid:{ext}`` → the record (``invoice`` too)
- ``PATCH /{customer|salesOrder}/{id}`` (sales order ``orderStatus`` A → B → C transitions, ``memo`` ...)
- ``POST /salesOrder/{id}/!transform/invoice`` ``{"externalId"}`` → 204 + ``Location`` (the order must be
  approved and not billed; it becomes Billed; an invoice external id can be used once)

Every error has NetSuite's shape ``{"type", "title", "status", "o:errorDetails": [{"detail",
"o:errorCode"}]}``. More than ``concurrency_limit`` API requests in flight at once: 429
``CONCURRENCY_LIMIT_EXCEEDED`` (counted in ``concurrency()["rejected"]``). Amounts with more decimals than
the record currency has are refused (400 ``INVALID_FLD_VALUE``).

Faults: as the base (``fail_next``, ``slow_next``) plus ``commit_then_timeout_next(count, delay_s)``: the
next write is applied, then its reply held back ``delay_s`` (longer than the client's read timeout).

Control (see also ``base``):
- ``GET /_sandbox/records/{type}`` → ``{"records": [...]}``
- ``POST /_sandbox/commit_then_timeout`` ``{"count": 1, "delay_s": 0.5}``
- ``GET /_sandbox/concurrency`` → ``{"limit", "in_flight", "peak", "rejected"}``
"""

from __future__ import annotations

import copy
import hmac
import itertools
import re
import time
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_reply
from shared.money import minor_unit_exponent

RECORD_PATH = "/services/rest/record/v1"
DEFAULT_CURRENCIES = {"1": "USD", "2": "GBP", "3": "CAD", "4": "EUR", "5": "JPY", "6": "KWD"}
DEFAULT_SUBSIDIARIES = {"1": "O2C Inc. (US)", "2": "O2C GmbH (DE)", "3": "O2C B.V. (NL)"}
ORDER_STATUS_NAMES = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}
_BILLABLE = ("B", "D", "E", "F")
_STATUS_MOVES = {("A", "B"), ("A", "C"), ("B", "C")}
_TYPES = ("customer", "salesOrder", "invoice", "customerPayment")
_NUMBERING = {
    "customer": ("entityId", "CUST", 101),
    "salesOrder": ("tranId", "SO", 2001),
    "invoice": ("tranId", "INV", 3001),
    "customerPayment": ("tranId", "PYMT", 4001),
}
_TIMESTAMP_TOLERANCE_S = 300
_RFC = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5."
_TITLES = {
    400: ("Bad Request", "1"),
    401: ("Unauthorized", "2"),
    403: ("Forbidden", "4"),
    404: ("Not Found", "5"),
    405: ("Method Not Allowed", "6"),
    429: ("Too Many Requests", None),
    500: ("Internal Server Error", None),
    503: ("Service Unavailable", None),
}
_DEFAULT_ERRORS = {
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


class NsError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _invalid(detail: str, code: str = "INVALID_FLD_VALUE") -> NsError:
    return NsError(400, code, detail)


class NetSuiteSandbox(Sandbox):
    vendor = "netsuite"

    def __init__(
        self,
        *,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        concurrency_limit: int = 5,
        latency_s: float = 0.0,
        currencies: dict[str, str] | None = None,
        subsidiaries: dict[str, str] | None = None,
        webhook_url: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``latency_s``: every API request takes at least this long (inside the concurrency window, so
        concurrent clients really overlap). ``webhook_url`` is unused (no outbound events yet)."""
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.account_id = account_id
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token_id = token_id
        self.token_secret = token_secret
        self.concurrency_limit = concurrency_limit
        self.latency_s = latency_s
        self.currencies = dict(currencies or DEFAULT_CURRENCIES)
        self.subsidiaries = dict(subsidiaries or DEFAULT_SUBSIDIARIES)
        self._records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in _TYPES}
        self._eids: dict[str, dict[str, str]] = {t: {} for t in _TYPES}
        self._ids = {t: itertools.count(_NUMBERING[t][2]) for t in _TYPES}
        self._numbers = {t: itertools.count(1001) for t in _TYPES}
        self._nonces: set[tuple[str, str]] = set()
        self._in_flight = 0
        self._peak = 0
        self._rejected = 0
        self._commit_faults: list[list[float]] = []  # [delay_s, remaining]
        types = "|".join(_TYPES)
        writable = "customer|salesOrder|customerPayment"
        r = RECORD_PATH
        self.api_routes += [
            ("PUT", re.compile(rf"^{r}/({writable})/eid:([^/]+)$"), self._api(self._upsert)),
            ("POST", re.compile(rf"^{r}/(customer|salesOrder)$"), self._api(self._create)),
            ("POST", re.compile(rf"^{r}/salesOrder/(\d+)/!transform/invoice$"), self._api(self._transform)),
            ("GET", re.compile(rf"^{r}/({types})/((?:eid:)?[^/]+)$"), self._api(self._get)),
            ("PATCH", re.compile(rf"^{r}/(customer|salesOrder)/((?:eid:)?[^/]+)$"), self._api(self._patch)),
        ]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/records/([A-Za-z]+)$"), self._c_records),
            ("POST", re.compile(r"^/_sandbox/commit_then_timeout$"), self._c_commit_then_timeout),
            ("GET", re.compile(r"^/_sandbox/concurrency$"), self._c_concurrency),
        ]

    # --- Python API ----------------------------------------------------------------------------------

    def records(self, record_type: str) -> list[dict[str, Any]]:
        """Copies of the records of one type, in creation order."""
        if record_type not in self._records:
            raise KeyError(record_type)
        with self._lock:
            return [copy.deepcopy(rec) for rec in self._records[record_type].values()]

    def record(self, record_type: str, key: str) -> dict[str, Any]:
        """One record by internal id or ``eid:...`` (``KeyError`` if there is none)."""
        with self._lock:
            return copy.deepcopy(self._find(record_type, key))

    def commit_then_timeout_next(self, count: int = 1, delay_s: float = 0.5) -> None:
        """The next ``count`` successful writes are applied, then answered only after ``delay_s`` (make it
        longer than the client's read timeout: the client sees a timeout, the write is committed)."""
        if count < 1 or delay_s <= 0:
            raise ValueError("commit_then_timeout_next needs count >= 1 and delay_s > 0")
        with self._lock:
            self._commit_faults.append([float(delay_s), float(count)])

    def concurrency(self) -> dict[str, int]:
        with self._lock:
            return {
                "limit": self.concurrency_limit,
                "in_flight": self._in_flight,
                "peak": self._peak,
                "rejected": self._rejected,
            }

    # --- dispatch: the account-wide limit and commit-then-timeout --------------------------------------

    def dispatch(self, request: Request) -> Reply:
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            return super().dispatch(request)
        with self._lock:
            self._in_flight += 1
            over = self._in_flight > self.concurrency_limit
            if over:
                self._rejected += 1
            else:
                self._peak = max(self._peak, self._in_flight)
        delay = 0.0
        try:
            if over:
                return self.error_reply(429)
            if self.latency_s:
                time.sleep(self.latency_s)
            reply = super().dispatch(request)
            if request.method in ("PUT", "POST", "PATCH") and 200 <= reply.status < 300:
                delay = self._take_commit_fault()
        finally:
            with self._lock:
                self._in_flight -= 1
        if delay:
            time.sleep(delay)  # committed; the answer comes too late (no longer counted in flight)
        return reply

    def _take_commit_fault(self) -> float:
        with self._lock:
            if not self._commit_faults:
                return 0.0
            fault = self._commit_faults[0]
            fault[1] -= 1
            if fault[1] <= 0:
                self._commit_faults.pop(0)
            return fault[0]

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        default_code, default_detail = _DEFAULT_ERRORS.get(status, ("UNEXPECTED_ERROR", "Error."))
        title, section = _TITLES.get(status, ("Error", None))
        if status == 429:
            kind = "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"
        elif section:
            kind = _RFC + section
        else:
            kind = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6"
        return json_reply(
            status,
            {
                "type": kind,
                "title": title,
                "status": status,
                "o:errorDetails": [
                    {"detail": message or default_detail, "o:errorCode": code or default_code}
                ],
            },
        )

    def _api(
        self, handler: Callable[[Request, re.Match[str]], Reply]
    ) -> Callable[[Request, re.Match[str]], Reply]:
        def run(request: Request, match: re.Match[str]) -> Reply:
            try:
                self._authenticate(request)
                with self._lock:
                    return handler(request, match)
            except NsError as exc:
                return self.error_reply(exc.status, exc.detail, exc.code)
            except BadRequest as exc:
                return self.error_reply(400, str(exc), "INVALID_CONTENT")

        return run

    # --- TBA ------------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        from oauthlib.oauth1.rfc5849 import signature

        unauthorized = NsError(401, *_DEFAULT_ERRORS[401])
        header = request.headers.get("Authorization") or ""
        if not header.startswith("OAuth "):
            raise unauthorized
        try:
            params = dict(
                signature.collect_parameters(
                    headers={"Authorization": header}, exclude_oauth_signature=False, with_realm=True
                )
            )
        except ValueError:
            raise unauthorized from None
        expected = {
            "realm": self.account_id,
            "oauth_consumer_key": self.consumer_key,
            "oauth_token": self.token_id,
            "oauth_signature_method": "HMAC-SHA256",
        }
        if any(params.get(k) != val for k, val in expected.items()):
            raise unauthorized
        if params.get("oauth_version", "1.0") != "1.0":
            raise unauthorized
        nonce, stamp = params.get("oauth_nonce", ""), params.get("oauth_timestamp", "")
        if not nonce or not stamp.isdigit() or abs(time.time() - int(stamp)) > _TIMESTAMP_TOLERANCE_S:
            raise unauthorized
        host = request.headers.get("Host") or ""
        uri = f"http://{host}{quote(request.path, safe='/:!')}"
        collected = signature.collect_parameters(
            uri_query=urlencode(request.query),
            headers={"Authorization": header},
            exclude_oauth_signature=True,
            with_realm=False,
        )
        base = signature.signature_base_string(
            request.method, signature.base_string_uri(uri), signature.normalize_parameters(collected)
        )
        secrets = SimpleNamespace(client_secret=self.consumer_secret, resource_owner_secret=self.token_secret)
        wanted = signature.sign_hmac_sha256_with_client(base, secrets)
        if not hmac.compare_digest(wanted.encode(), params.get("oauth_signature", "").encode()):
            raise unauthorized
        with self._lock:
            if (stamp, nonce) in self._nonces:
                raise unauthorized  # replayed
            self._nonces.add((stamp, nonce))

    # --- API handlers (run under the lock) -----------------------------------------------------------

    def _get(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, key = match.group(1), match.group(2)
        try:
            record = self._find(record_type, key)
        except KeyError:
            raise NsError(404, *_DEFAULT_ERRORS[404]) from None
        return json_reply(
            200, {"links": [{"rel": "self", "href": self._location(record_type, record["id"])}], **record}
        )

    def _upsert(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, external_id = match.group(1), match.group(2)
        body = _object(request.json())
        if body.get("externalId", external_id) != external_id:
            raise _invalid("The externalId in the body differs from the one in the URL.")
        replace = {s for s in (request.query.get("replace") or "").split(",") if s}
        existing_id = self._eids[record_type].get(external_id)
        existing = self._records[record_type][existing_id] if existing_id else None
        record = self._build(record_type, body, existing, replace)
        record["externalId"] = external_id
        return self._save(record_type, record, existing)

    def _create(self, request: Request, match: re.Match[str]) -> Reply:
        record_type = match.group(1)
        body = _object(request.json())
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids[record_type]:
            raise _invalid("A record with this external ID already exists.", "DUP_RCRD")
        record = self._build(record_type, body, None, set())
        if external_id is not None:
            record["externalId"] = str(external_id)
        return self._save(record_type, record, None)

    def _patch(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, key = match.group(1), match.group(2)
        try:
            record = self._find(record_type, key)
        except KeyError:
            raise NsError(404, *_DEFAULT_ERRORS[404]) from None
        body = _object(request.json())
        allowed = {"memo", "email", "companyName", "orderStatus", "custbody_o2c_released"}
        unknown = set(body) - allowed
        if unknown:
            raise _invalid(f"Fields not patchable here: {sorted(unknown)}")
        updated = copy.deepcopy(record)
        for field in ("memo", "email", "companyName"):
            if field in body:
                updated[field] = None if body[field] is None else str(body[field])
        if "custbody_o2c_released" in body:
            if record_type != "salesOrder":
                raise _invalid("custbody_o2c_released is a sales order field.")
            updated["custbody_o2c_released"] = bool(body["custbody_o2c_released"])
        if "orderStatus" in body:
            if record_type != "salesOrder":
                raise _invalid("orderStatus is a sales order field.")
            new = _ref_id(body["orderStatus"], "orderStatus")
            old = record["orderStatus"]["id"]
            if new != old and (old, new) not in _STATUS_MOVES:
                raise _invalid(
                    f"A sales order cannot go from {ORDER_STATUS_NAMES.get(old, old)} to "
                    f"{ORDER_STATUS_NAMES.get(new, new)}.",
                    "INVALID_ORDER_STATUS",
                )
            updated["orderStatus"] = _status(new)
        self._records[record_type][record["id"]] = updated
        return Reply(204, b"", {"Location": self._location(record_type, record["id"])})

    def _transform(self, request: Request, match: re.Match[str]) -> Reply:
        order = self._records["salesOrder"].get(match.group(1))
        if order is None:
            raise NsError(404, *_DEFAULT_ERRORS[404])
        body = _object(request.json() if request.body else {})
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids["invoice"]:
            raise _invalid("A record with this external ID already exists.", "DUP_RCRD")
        if order["orderStatus"]["id"] not in _BILLABLE:
            raise _invalid(
                f"You can not initialize invoice: invalid reference {order['id']} "
                f"(order is {order['orderStatus']['refName']}).",
                "INVALID_INITIALIZE_REF",
            )
        invoice: dict[str, Any] = {
            "entity": copy.deepcopy(order["entity"]),
            "subsidiary": copy.deepcopy(order["subsidiary"]),
            "currency": copy.deepcopy(order["currency"]),
            "createdFrom": {"id": order["id"], "refName": f"Sales Order #{order['tranId']}"},
            "memo": body.get("memo", order.get("memo")),
            "item": copy.deepcopy(order["item"]),
            "subtotal": order["subtotal"],
            "taxTotal": order["taxTotal"],
            "total": order["total"],
            "amountRemaining": order["total"],
            "status": {"id": "open", "refName": "Open"},
        }
        if external_id is not None:
            invoice["externalId"] = str(external_id)
        reply = self._save("invoice", invoice, None)
        order["orderStatus"] = _status("G")
        return reply

    # --- records ---------------------------------------------------------------------------------------

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
            field, prefix, _ = _NUMBERING[record_type]
            record[field] = f"{prefix}{next(self._numbers[record_type])}"
        if record.get("externalId"):
            self._eids[record_type][record["externalId"]] = record["id"]
        self._records[record_type][record["id"]] = record
        return Reply(204, b"", {"Location": self._location(record_type, record["id"])})

    def _build(
        self, record_type: str, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        if record_type == "customer":
            return self._customer(body, existing, replace)
        if record_type == "salesOrder":
            return self._sales_order(body, existing, replace)
        return self._payment(body, existing)

    def _customer(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record: dict[str, Any] = copy.deepcopy(existing) if existing else {"isPerson": False}
        for field in ("companyName", "email", "vatRegNumber", "isPerson"):
            if field in body:
                record[field] = body[field]
        if not record.get("companyName"):
            raise _invalid("Please enter value(s) for: Company Name", "USER_ERROR")
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        if "addressBook" in body:
            items = _items(body["addressBook"], "addressBook")
            old = (
                []
                if existing is None or "addressBook" in replace
                else existing.get("addressBook", {}).get("items", [])
            )
            record["addressBook"] = {"items": [*old, *copy.deepcopy(items)]}
        return record

    def _sales_order(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        if existing is not None and existing["orderStatus"]["id"] not in ("A", "B"):
            raise _invalid(
                f"The order is {existing['orderStatus']['refName']} and can no longer be changed.",
                "USER_ERROR",
            )
        if "entity" in body or existing is None:
            customer_id = _ref_id(body.get("entity"), "entity")
            customer = self._records["customer"].get(customer_id)
            if customer is None:
                raise _invalid(f"Invalid entity reference key {customer_id}.", "INVALID_KEY_OR_REF")
            record["entity"] = {"id": customer_id, "refName": customer["companyName"]}
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        if "memo" in body:
            record["memo"] = body["memo"]
        status = _ref_id(body["orderStatus"], "orderStatus") if "orderStatus" in body else None
        if status is not None and status not in ("A", "B"):
            raise _invalid("A sales order is created Pending Approval (A) or Pending Fulfillment (B).")
        if status is not None:
            record["orderStatus"] = _status(status)
        elif existing is None:
            record["orderStatus"] = _status("A")
        code = record["currency"]["refName"]
        if "item" in body:
            lines = [
                self._order_line(n, line, code) for n, line in enumerate(_items(body["item"], "item"), 1)
            ]
            old = [] if existing is None or "item" in replace else existing["item"]["items"]
            record["item"] = {"items": [*old, *lines]}
        items = record.get("item", {}).get("items", [])
        if not items:
            raise _invalid("You must enter at least one line item for this transaction.", "USER_ERROR")
        for n, line in enumerate(items, 1):
            line["line"] = n
        subtotal = sum((line["amount"] for line in items), Decimal(0))
        tax = sum((line["tax1Amt"] for line in items), Decimal(0))
        record.update(subtotal=subtotal, taxTotal=tax, total=subtotal + tax)
        return record

    def _order_line(self, number: int, line: Any, currency: str) -> dict[str, Any]:
        if not isinstance(line, dict):
            raise _invalid(f"item line {number}: not an object")
        item = line.get("item")
        if not isinstance(item, dict) or not (item.get("id") or item.get("externalId")):
            raise _invalid(f"item line {number}: Please enter value(s) for: Item", "USER_ERROR")
        quantity = _number(line.get("quantity"), f"item line {number} quantity")
        if quantity <= 0:
            raise _invalid(f"item line {number}: quantity must be positive")
        out = {
            "item": {k: str(item[k]) for k in ("id", "externalId") if item.get(k)},
            "description": line.get("description"),
            "quantity": quantity,
            "rate": _money(line.get("rate"), currency, f"item line {number} rate"),
            "amount": _money(line.get("amount"), currency, f"item line {number} amount"),
            "tax1Amt": _money(line.get("tax1Amt", 0), currency, f"item line {number} tax1Amt"),
        }
        return out

    def _payment(self, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        customer_id = _ref_id(body.get("customer"), "customer")
        customer = self._records["customer"].get(customer_id)
        if customer is None:
            raise _invalid(f"Invalid customer reference key {customer_id}.", "INVALID_KEY_OR_REF")
        currency = self._currency(body.get("currency"))
        code = currency["refName"]
        payment = _money(body.get("payment"), code, "payment")
        if payment <= 0:
            raise _invalid("The payment amount must be positive.")
        previous = {a["doc"]["id"]: a["amount"] for a in (existing or {}).get("apply", {}).get("items", [])}
        applies: list[dict[str, Any]] = []
        for n, line in enumerate(_items(body.get("apply", {"items": []}), "apply"), 1):
            if not isinstance(line, dict) or not line.get("apply", False):
                continue
            doc_id = _ref_id(line.get("doc"), f"apply line {n} doc")
            invoice = self._records["invoice"].get(doc_id)
            if invoice is None:
                raise _invalid(f"Invalid doc reference key {doc_id}.", "INVALID_KEY_OR_REF")
            if invoice["entity"]["id"] != customer_id or invoice["currency"]["id"] != currency["id"]:
                raise _invalid(f"Invoice {invoice['tranId']} is not open for this customer and currency.")
            amount = _money(line.get("amount"), code, f"apply line {n} amount")
            if amount <= 0 or amount > invoice["amountRemaining"] + previous.get(doc_id, Decimal(0)):
                raise _invalid(f"Apply line {n}: amount exceeds the invoice's amount remaining.")
            applies.append(
                {"doc": {"id": doc_id, "refName": invoice["tranId"]}, "apply": True, "amount": amount}
            )
        applied = sum((a["amount"] for a in applies), Decimal(0))
        if applied > payment:
            raise _invalid("The total applied exceeds the payment amount.")
        # undo what this payment applied before (an upsert again), then apply anew
        for doc_id, amount in previous.items():
            self._settle(doc_id, amount)
        for a in applies:
            self._settle(a["doc"]["id"], -a["amount"])
        record = copy.deepcopy(existing) if existing else {}
        record.update(
            customer={"id": customer_id, "refName": customer["companyName"]},
            currency=currency,
            payment=payment,
            applied=applied,
            unapplied=payment - applied,
            memo=body.get("memo"),
            apply={"items": applies},
        )
        return record

    def _settle(self, invoice_id: str, delta: Decimal) -> None:
        invoice = self._records["invoice"][invoice_id]
        invoice["amountRemaining"] += delta
        paid = invoice["amountRemaining"] == 0
        invoice["status"] = (
            {"id": "paidInFull", "refName": "Paid In Full"} if paid else {"id": "open", "refName": "Open"}
        )

    def _currency(self, ref: Any) -> dict[str, str]:
        currency_id = _ref_id(ref, "currency")
        if currency_id not in self.currencies:
            raise _invalid(f"Invalid currency reference key {currency_id}.", "INVALID_KEY_OR_REF")
        return {"id": currency_id, "refName": self.currencies[currency_id]}

    def _subsidiary(self, ref: Any) -> dict[str, str]:
        subsidiary_id = _ref_id(ref, "subsidiary")
        if subsidiary_id not in self.subsidiaries:
            raise _invalid(f"Invalid subsidiary reference key {subsidiary_id}.", "INVALID_KEY_OR_REF")
        return {"id": subsidiary_id, "refName": self.subsidiaries[subsidiary_id]}

    # --- control endpoints ---------------------------------------------------------------------------

    def _c_records(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"records": self.records(match.group(1))})

    def _c_commit_then_timeout(self, request: Request, match: re.Match[str]) -> Reply:
        spec = request.json() or {}
        if not isinstance(spec, dict):
            raise BadRequest("body must be a JSON object")
        self.commit_then_timeout_next(int(spec.get("count", 1)), float(spec.get("delay_s", 0.5)))
        return json_reply(200, {"queued": True})

    def _c_concurrency(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, self.concurrency())


def _status(status_id: str) -> dict[str, str]:
    return {"id": status_id, "refName": ORDER_STATUS_NAMES[status_id]}


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid("The request body must be a JSON object.", "INVALID_CONTENT")
    return value


def _items(value: Any, field: str) -> list[Any]:
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise _invalid(f'{field}: a sublist is {{"items": [...]}}')
    return list(value["items"])


def _ref_id(value: Any, field: str) -> str:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    raise _invalid(f"Please enter value(s) for: {field}", "USER_ERROR")


def _number(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _invalid(f"{field}: {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise _invalid(f"{field}: {value!r} is not a number") from None
    if not number.is_finite():
        raise _invalid(f"{field}: {value!r} is not a number")
    return number


def _money(value: Any, currency: str, field: str) -> Decimal:
    """An amount in ``currency``, exact: more decimals than the currency has is refused."""
    number = _number(value, field)
    exponent = minor_unit_exponent(currency)
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise _invalid(f"{field}: {value} has more decimals than {currency} allows ({exponent}).")
    return number.quantize(Decimal(1).scaleb(-exponent))
