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

After the sale:
- ``PUT /{invoice|customerRefund|deposit}/eid:{ext}[?replace=...]`` upserts: a standalone invoice (refused
  once payments or credits are applied to it), a customer refund applying credit memos (``paymentMethod``
  from ``payment_methods``), a deposit of customer payments (each whole, in one deposit only; they become
  Deposited) with ``other`` and ``cashBack`` lines; ``total`` = payments + other - cash back. A payment in
  another currency than the deposit is refused ("is in another currency") unless the deposit is in the base
  currency of the payment's subsidiary: then its ``paymentAmount`` is its base-currency amount,
  ``shared.money.convert(payment, its exchangeRate, deposit currency)`` to the cent, else 400
- ``POST /invoice/{id}/!transform/{creditMemo|returnAuthorization}`` and
  ``POST /returnAuthorization/{id}/!transform/creditMemo`` (the RMA must be approved; it becomes Refunded):
  the invoice's (RMA's) lines are copied; body ``item`` lines are appended, or replace them with
  ``?replace=item``. A credit memo's ``apply`` lines reduce the invoices' ``amountRemaining`` (status
  ``open`` / ``paidInFull``); what is not applied is ``unapplied`` (status ``open`` / ``fullyApplied``),
  which customer refunds use up. A credit memo is never more than the invoice it credits.
- ``PATCH /customer/{id}`` ``{"custentity_o2c_dunning": "past_due" | null}``; ``PATCH
  /returnAuthorization/{id}`` ``orderStatus`` A → B (approve), A/B → C (cancel)
- ``POST /services/rest/query/v1/suiteql?limit=&offset=`` (header ``Prefer: transient``) ``{"q"}``: the
  subset ``SELECT <columns> FROM transaction WHERE type = '<SalesOrd|CustInvc|CustPymt|CustCred|CustRfnd|
  Deposit|RtnAuth>' [AND trandate >= TO_DATE('YYYY-MM-DD', 'YYYY-MM-DD')] [AND externalid = '...']
  [ORDER BY id]``; columns ``id, externalid, tranid, total, currency, status, trandate`` or
  ``TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate``. Pages: ``limit`` ≤ 1000, ``offset`` a multiple of it;
  ``{"items", "count", "hasMore", "offset", "totalResults"}``
Every transaction has a ``tranDate`` (the body's, else today).

Currencies: every subsidiary has a base currency (``subsidiary_currencies``, default
``DEFAULT_SUBSIDIARY_CURRENCIES``: 1 USD, 2 and 3 EUR). Sales orders, invoices, customer payments, credit
memos, customer refunds and deposits carry ``exchangeRate`` (from the transaction currency to the base
currency of its subsidiary: the body's, the customer's for a payment or refund, the source's for a
transform): 1 in the base currency (a body's rate is then ignored); otherwise the body's ``exchangeRate``
(a positive number, else 400 ``INVALID_FLD_VALUE``), else on an upsert keeping currency and subsidiary the
record's own, else the account's table (``set_exchange_rate(from, to, rate)``, default
``DEFAULT_EXCHANGE_RATES``; none known: 400). A customer payment also gets its customer's ``subsidiary``.

Every error has NetSuite's shape ``{"type", "title", "status", "o:errorDetails": [{"detail",
"o:errorCode"}]}``. More than ``concurrency_limit`` API requests in flight at once: 429
``CONCURRENCY_LIMIT_EXCEEDED`` (counted in ``concurrency()["rejected"]``). Amounts with more decimals than
the record currency has are refused (400 ``INVALID_FLD_VALUE``).

Faults: as the base (``fail_next``, ``slow_next``) plus ``commit_then_timeout_next(count, delay_s)``: the
next write is applied, then its reply held back ``delay_s`` (longer than the client's read timeout).

Python control: ``records(type)``, ``record(type, key)``, ``edit(type, id, **fields)`` (a user's change in
the UI), ``set_exchange_rate(from, to, rate)`` / ``exchange_rate(from, to)``, ``base_currency(subsidiary)``,
``commit_then_timeout_next``, ``concurrency()``.

Control (see also ``base``):
- ``GET /_sandbox/records/{type}`` → ``{"records": [...]}``
- ``POST /_sandbox/commit_then_timeout`` ``{"count": 1, "delay_s": 0.5}``
- ``GET /_sandbox/concurrency`` → ``{"limit", "in_flight", "peak", "rejected"}``
- ``POST /_sandbox/exchange_rates`` ``{"from": "JPY", "to": "USD", "rate": "0.0067"}`` (``rate`` null
  removes it) → ``{"from", "to", "rate"}``
"""

from __future__ import annotations

import copy
import hmac
import itertools
import re
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_reply
from shared.money import convert, from_major, minor_unit_exponent

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
RMA_STATUS_NAMES = {
    "A": "Pending Approval",
    "B": "Pending Receipt",
    "C": "Cancelled",
    "F": "Pending Refund",
    "G": "Refunded",
    "H": "Closed",
}
DEFAULT_PAYMENT_METHODS = {"1": "Cash", "2": "Check", "9": "Stripe"}
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
_BILLABLE = ("B", "D", "E", "F")
_STATUS_MOVES = {("A", "B"), ("A", "C"), ("B", "C")}
_TYPES = (
    "customer",
    "salesOrder",
    "invoice",
    "customerPayment",
    "creditMemo",
    "customerRefund",
    "deposit",
    "returnAuthorization",
)
_NUMBERING = {
    "customer": ("entityId", "CUST", 101),
    "salesOrder": ("tranId", "SO", 2001),
    "invoice": ("tranId", "INV", 3001),
    "customerPayment": ("tranId", "PYMT", 4001),
    "creditMemo": ("tranId", "CM", 5001),
    "customerRefund": ("tranId", "RFND", 6001),
    "deposit": ("tranId", "DEP", 7001),
    "returnAuthorization": ("tranId", "RMA", 8001),
}
_TRANSFORMS = {
    ("invoice", "creditMemo"),
    ("invoice", "returnAuthorization"),
    ("returnAuthorization", "creditMemo"),
}
_DEPOSITED = {"id": "deposited", "refName": "Deposited"}
_NOT_DEPOSITED = {"id": "notDeposited", "refName": "Not Deposited"}
_SUITEQL_COLUMNS = (
    "id",
    "externalid",
    "tranid",
    "total",
    "taxtotal",
    "currency",
    "status",
    "createdfrom",
    "trandate",
)
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
        subsidiary_currencies: dict[str, str] | None = None,
        exchange_rates: dict[tuple[str, str], Decimal | str] | None = None,
        payment_methods: dict[str, str] | None = None,
        webhook_url: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``latency_s``: every API request takes at least this long (inside the concurrency window, so
        concurrent clients really overlap). ``webhook_url`` is unused (no outbound events yet).
        ``subsidiary_currencies``: subsidiary id → base currency code (default
        ``DEFAULT_SUBSIDIARY_CURRENCIES``); ``exchange_rates``: ``{("JPY", "USD"): "0.0067"}`` (default
        ``DEFAULT_EXCHANGE_RATES``), see ``set_exchange_rate``."""
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
        self.subsidiary_currencies = {
            k: v.upper() for k, v in (subsidiary_currencies or DEFAULT_SUBSIDIARY_CURRENCIES).items()
        }
        self._exchange_rates: dict[tuple[str, str], Decimal] = {}
        for (source, target), rate in (
            DEFAULT_EXCHANGE_RATES if exchange_rates is None else exchange_rates
        ).items():
            self.set_exchange_rate(source, target, rate)
        self.payment_methods = dict(payment_methods or DEFAULT_PAYMENT_METHODS)
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
        writable = "customer|salesOrder|customerPayment|invoice|customerRefund|deposit"
        patchable = "customer|salesOrder|returnAuthorization"
        credits = r"(invoice|returnAuthorization)/(\d+)/!transform/(creditMemo|returnAuthorization)"
        r = RECORD_PATH
        self.api_routes += [
            ("PUT", re.compile(rf"^{r}/({writable})/eid:([^/]+)$"), self._api(self._upsert)),
            ("POST", re.compile(rf"^{r}/(customer|salesOrder)$"), self._api(self._create)),
            ("POST", re.compile(rf"^{r}/salesOrder/(\d+)/!transform/invoice$"), self._api(self._transform)),
            ("POST", re.compile(rf"^{r}/{credits}$"), self._api(self._transform_credit)),
            ("GET", re.compile(rf"^{r}/({types})/((?:eid:)?[^/]+)$"), self._api(self._get)),
            ("PATCH", re.compile(rf"^{r}/({patchable})/((?:eid:)?[^/]+)$"), self._api(self._patch)),
            ("POST", re.compile(rf"^{SUITEQL_PATH}$"), self._api(self._suiteql)),
        ]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/records/([A-Za-z]+)$"), self._c_records),
            ("POST", re.compile(r"^/_sandbox/commit_then_timeout$"), self._c_commit_then_timeout),
            ("GET", re.compile(r"^/_sandbox/concurrency$"), self._c_concurrency),
            ("POST", re.compile(r"^/_sandbox/exchange_rates$"), self._c_exchange_rate),
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

    def set_exchange_rate(self, from_code: str, to_code: str, rate: Decimal | str | int | None) -> None:
        """The account's rate from one currency to another (1 ``from_code`` = ``rate`` ``to_code``), used by
        transactions written from now on that give no ``exchangeRate``; None removes it."""
        key = (from_code.upper(), to_code.upper())
        with self._lock:
            if rate is None:
                self._exchange_rates.pop(key, None)
                return
            try:
                exact = Decimal(str(rate))
            except ArithmeticError:
                raise ValueError(f"an exchange rate is a decimal number, got {rate!r}") from None
            if not exact.is_finite() or exact <= 0:
                raise ValueError(f"an exchange rate is positive, got {rate!r}")
            self._exchange_rates[key] = exact

    def exchange_rate(self, from_code: str, to_code: str) -> Decimal | None:
        """The table's rate from ``from_code`` to ``to_code`` (1 for a currency to itself), None if unknown."""
        source, target = from_code.upper(), to_code.upper()
        if source == target:
            return Decimal(1)
        with self._lock:
            return self._exchange_rates.get((source, target))

    def base_currency(self, subsidiary_id: str) -> str:
        """The subsidiary's base currency code."""
        return self.subsidiary_currencies.get(str(subsidiary_id), "USD")

    def commit_then_timeout_next(self, count: int = 1, delay_s: float = 0.5) -> None:
        """The next ``count`` successful writes are applied, then answered only after ``delay_s`` (make it
        longer than the client's read timeout: the client sees a timeout, the write is committed)."""
        if count < 1 or delay_s <= 0:
            raise ValueError("commit_then_timeout_next needs count >= 1 and delay_s > 0")
        with self._lock:
            self._commit_faults.append([float(delay_s), float(count)])

    def edit(self, record_type: str, record_id: str, **fields: Any) -> None:
        """A user changes a record in the NetSuite UI, behind the hub's back (reconciliation tests)."""
        with self._lock:
            record = self._records[record_type][str(record_id)]
            for name, value in fields.items():
                record[name] = (
                    Decimal(str(value))
                    if name in {"total", "subtotal", "amountRemaining", "exchangeRate"}
                    else value
                )

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
        allowed = {
            "memo",
            "email",
            "companyName",
            "orderStatus",
            "custbody_o2c_released",
            "custentity_o2c_dunning",
        }
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
        if "custentity_o2c_dunning" in body:
            if record_type != "customer":
                raise _invalid("custentity_o2c_dunning is a customer field.")
            state = body["custentity_o2c_dunning"]
            if state is not None and not isinstance(state, str):
                raise _invalid("custentity_o2c_dunning: a text field.")
            updated["custentity_o2c_dunning"] = state or None
        if "orderStatus" in body:
            if record_type == "customer":
                raise _invalid("orderStatus is a sales order / return authorization field.")
            names = RMA_STATUS_NAMES if record_type == "returnAuthorization" else ORDER_STATUS_NAMES
            kind = "return authorization" if record_type == "returnAuthorization" else "sales order"
            new = _ref_id(body["orderStatus"], "orderStatus")
            old = record["orderStatus"]["id"]
            if new != old and (old, new) not in _STATUS_MOVES:
                raise _invalid(
                    f"A {kind} cannot go from {names.get(old, old)} to {names.get(new, new)}.",
                    "INVALID_ORDER_STATUS",
                )
            updated["orderStatus"] = _status(new, names)
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
        self._set_exchange_rate(invoice, body, None)
        if external_id is not None:
            invoice["externalId"] = str(external_id)
        reply = self._save("invoice", invoice, None)
        order["orderStatus"] = _status("G")
        return reply

    # --- after the sale ------------------------------------------------------------------------------------

    def _transform_credit(self, request: Request, match: re.Match[str]) -> Reply:
        source_type, source_id, target_type = match.group(1), match.group(2), match.group(3)
        if (source_type, target_type) not in _TRANSFORMS:
            raise NsError(404, *_DEFAULT_ERRORS[404])
        source = self._records[source_type].get(source_id)
        if source is None:
            raise NsError(404, *_DEFAULT_ERRORS[404])
        body = _object(request.json() if request.body else {})
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids[target_type]:
            raise _invalid("A record with this external ID already exists.", "DUP_RCRD")
        if source_type == "returnAuthorization" and source["orderStatus"]["id"] not in ("B", "F"):
            raise _invalid(
                f"You can not initialize creditmemo: invalid reference {source_id} "
                f"(return authorization is {source['orderStatus']['refName']}).",
                "INVALID_INITIALIZE_REF",
            )
        invoice = (
            source if source_type == "invoice" else self._records["invoice"][source["createdFrom"]["id"]]
        )
        code = source["currency"]["refName"]
        lines = copy.deepcopy(source["item"]["items"])
        if "item" in body:
            new = [self._order_line(n, line, code) for n, line in enumerate(_items(body["item"], "item"), 1)]
            replace = "item" in {s for s in (request.query.get("replace") or "").split(",") if s}
            lines = new if replace else [*lines, *new]
        record: dict[str, Any] = {
            "entity": copy.deepcopy(source["entity"]),
            "subsidiary": copy.deepcopy(source["subsidiary"]),
            "currency": copy.deepcopy(source["currency"]),
            "createdFrom": {"id": source_id, "refName": source["tranId"]},
            "memo": body.get("memo", source.get("memo")),
            "item": {"items": lines},
        }
        self._set_exchange_rate(record, body, None)
        if body.get("tranDate"):
            record["tranDate"] = _date(body["tranDate"], "tranDate")
        _totals(record)
        if record["total"] <= 0:
            raise _invalid("The total must be positive.", "USER_ERROR")
        if record["total"] > invoice["total"]:
            raise _invalid(f"The credit exceeds invoice {invoice['tranId']}'s total.", "USER_ERROR")
        if external_id is not None:
            record["externalId"] = str(external_id)
        if target_type == "returnAuthorization":
            status = _ref_id(body["orderStatus"], "orderStatus") if "orderStatus" in body else "A"
            if status not in ("A", "B"):
                raise _invalid("A return authorization is created Pending Approval (A) or approved (B).")
            record["orderStatus"] = _status(status, RMA_STATUS_NAMES)
            return self._save(target_type, record, None)
        applies = self._applies(body.get("apply"), record, "invoice", {})
        applied = sum((a["amount"] for a in applies), Decimal(0))
        if applied > record["total"]:
            raise _invalid("The total applied exceeds the credit memo's total.")
        for a in applies:
            self._settle(a["doc"]["id"], -a["amount"])
        record.update(apply={"items": applies}, applied=applied)
        record["unapplied"] = record["total"] - applied
        record["status"] = _credit_status(record["unapplied"])
        reply = self._save(target_type, record, None)
        if source_type == "returnAuthorization":
            source["orderStatus"] = _status("G", RMA_STATUS_NAMES)
        return reply

    def _applies(
        self, sublist: Any, record: dict[str, Any], doc_type: str, previous: dict[str, Decimal]
    ) -> list[dict[str, Any]]:
        """The ``apply`` lines of ``record`` to open ``doc_type`` documents of its customer and currency."""
        entity_id, code = record["entity"]["id"], record["currency"]["refName"]
        open_field = "amountRemaining" if doc_type == "invoice" else "unapplied"
        applies: list[dict[str, Any]] = []
        for n, line in enumerate(_items(sublist if sublist is not None else {"items": []}, "apply"), 1):
            if not isinstance(line, dict) or not line.get("apply", False):
                continue
            doc_id = _ref_id(line.get("doc"), f"apply line {n} doc")
            doc = self._records[doc_type].get(doc_id)
            if doc is None:
                raise _invalid(f"Invalid doc reference key {doc_id}.", "INVALID_KEY_OR_REF")
            if doc["entity"]["id"] != entity_id or doc["currency"]["id"] != record["currency"]["id"]:
                raise _invalid(f"{doc['tranId']} is not open for this customer and currency.")
            amount = _money(line.get("amount"), code, f"apply line {n} amount")
            if amount <= 0 or amount > doc[open_field] + previous.get(doc_id, Decimal(0)):
                raise _invalid(f"Apply line {n}: amount exceeds what {doc['tranId']} has open.")
            applies.append({"doc": {"id": doc_id, "refName": doc["tranId"]}, "apply": True, "amount": amount})
        return applies

    def _invoice(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        if existing is not None and existing["amountRemaining"] != existing["total"]:
            raise _invalid(
                f"Invoice {existing['tranId']} has payments or credits applied and can no longer be changed.",
                "USER_ERROR",
            )
        record = copy.deepcopy(existing) if existing else {}
        self._entity(record, body, existing, "entity")
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        for field in ("tranDate", "startDate", "endDate"):
            if body.get(field):
                record[field] = _date(body[field], field)
        if record.get("startDate") and record.get("endDate") and record["endDate"] < record["startDate"]:
            raise _invalid("The end date is before the start date.")
        if "memo" in body:
            record["memo"] = body["memo"]
        code = record["currency"]["refName"]
        if "item" in body:
            lines = [
                self._order_line(n, line, code) for n, line in enumerate(_items(body["item"], "item"), 1)
            ]
            old = [] if existing is None or "item" in replace else existing["item"]["items"]
            record["item"] = {"items": [*old, *lines]}
        if not record.get("item", {}).get("items"):
            raise _invalid("You must enter at least one line item for this transaction.", "USER_ERROR")
        _totals(record)
        record["amountRemaining"] = record["total"]
        record["status"] = {"id": "open", "refName": "Open"}
        return record

    def _refund(self, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        self._entity(record, body, None, "customer")
        record["entity"] = record.pop("customer")
        record["subsidiary"] = copy.deepcopy(self._records["customer"][record["entity"]["id"]]["subsidiary"])
        record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        if body.get("paymentMethod") is not None or existing is None:
            method_id = _ref_id(body.get("paymentMethod"), "paymentMethod")
            if method_id not in self.payment_methods:
                raise _invalid(f"Invalid paymentMethod reference key {method_id}.", "INVALID_KEY_OR_REF")
            record["paymentMethod"] = {"id": method_id, "refName": self.payment_methods[method_id]}
        if "account" in body:
            record["account"] = {"id": _ref_id(body["account"], "account")}
        if "memo" in body:
            record["memo"] = body["memo"]
        if body.get("tranDate"):
            record["tranDate"] = _date(body["tranDate"], "tranDate")
        previous = {a["doc"]["id"]: a["amount"] for a in (existing or {}).get("apply", {}).get("items", [])}
        applies = self._applies(body.get("apply"), record, "creditMemo", previous)
        if not applies:
            raise _invalid("A customer refund applies at least one credit.", "USER_ERROR")
        for doc_id, amount in previous.items():  # an upsert again: undo, then apply anew
            self._use_credit(doc_id, amount)
        for a in applies:
            self._use_credit(a["doc"]["id"], -a["amount"])
        record.update(apply={"items": applies}, total=sum((a["amount"] for a in applies), Decimal(0)))
        return record

    def _use_credit(self, credit_memo_id: str, delta: Decimal) -> None:
        credit = self._records["creditMemo"][credit_memo_id]
        credit["unapplied"] += delta
        credit["status"] = _credit_status(credit["unapplied"])

    def _deposit(
        self, body: dict[str, Any], existing: dict[str, Any] | None, replace: set[str]
    ) -> dict[str, Any]:
        record = copy.deepcopy(existing) if existing else {}
        if "subsidiary" in body or existing is None:
            record["subsidiary"] = self._subsidiary(body.get("subsidiary"))
        if "currency" in body or existing is None:
            record["currency"] = self._currency(body.get("currency"))
        self._set_exchange_rate(record, body, existing)
        code = record["currency"]["refName"]
        if "account" in body:
            record["account"] = {"id": _ref_id(body["account"], "account")}
        if "memo" in body:
            record["memo"] = body["memo"]
        if body.get("tranDate"):
            record["tranDate"] = _date(body["tranDate"], "tranDate")
        own = record.get("id")
        sublists: dict[str, list[dict[str, Any]]] = {}
        for name in ("payment", "other", "cashBack"):
            old = [] if existing is None or name in replace else existing.get(name, {}).get("items", [])
            new: list[dict[str, Any]] = []
            for n, line in enumerate(_items(body.get(name, {"items": []}), name), 1):
                if not isinstance(line, dict):
                    raise _invalid(f"{name} line {n}: not an object")
                if name == "payment":
                    if not line.get("deposit", False):
                        continue
                    payment = self._records["customerPayment"].get(str(line.get("id")))
                    if payment is None:
                        raise _invalid(
                            f"Invalid payment reference key {line.get('id')}.", "INVALID_KEY_OR_REF"
                        )
                    amount = self._deposited_amount(payment, line.get("paymentAmount"), code, n)
                    elsewhere = payment.get("deposit", {}).get("id")
                    if elsewhere not in (None, own):
                        raise _invalid(f"Payment {payment['tranId']} is already deposited.", "USER_ERROR")
                    new.append(
                        {
                            "id": payment["id"],
                            "refName": payment["tranId"],
                            "deposit": True,
                            "paymentAmount": amount,
                        }
                    )
                else:
                    amount = _money(line.get("amount"), code, f"{name} line {n} amount")
                    if amount <= 0:
                        raise _invalid(f"{name} line {n}: the amount must be positive.")
                    out: dict[str, Any] = {"amount": amount, "memo": line.get("memo")}
                    if line.get("account") is not None:
                        out["account"] = {"id": _ref_id(line["account"], f"{name} line {n} account")}
                    new.append(out)
            sublists[name] = [*old, *new]
        if not any(sublists.values()):
            raise _invalid("A deposit needs at least one line.", "USER_ERROR")
        ids = [p["id"] for p in sublists["payment"]]
        if len(ids) != len(set(ids)):
            raise _invalid("A payment is deposited once.", "USER_ERROR")
        total = (
            sum((p["paymentAmount"] for p in sublists["payment"]), Decimal(0))
            + sum((o["amount"] for o in sublists["other"]), Decimal(0))
            - sum((c["amount"] for c in sublists["cashBack"]), Decimal(0))
        )
        if total < 0:
            raise _invalid("The deposit total cannot be negative.", "USER_ERROR")
        for line in (existing or {}).get("payment", {}).get("items", []):
            self._records["customerPayment"][line["id"]].pop("deposit", None)
            self._records["customerPayment"][line["id"]]["status"] = _NOT_DEPOSITED
        record.update({name: {"items": lines} for name, lines in sublists.items()}, total=total)
        record["_payments"] = ids  # marked deposited in _save, once the deposit has an id
        return record

    def _deposited_amount(self, payment: dict[str, Any], value: Any, code: str, n: int) -> Decimal:
        """A deposit line's ``paymentAmount`` in the deposit's currency ``code``: the whole payment, in its
        own currency or, for a payment in another currency, at its base-currency amount (the payment times
        its ``exchangeRate``) when the deposit is in its subsidiary's base currency."""
        own = payment["currency"]["refName"]
        if own == code:
            expected = payment["payment"]
        else:
            if code != self.base_currency(payment["subsidiary"]["id"]):
                raise _invalid(f"Payment {payment['tranId']} is in another currency.")
            expected = convert(
                from_major(payment["payment"], own), payment["exchangeRate"], code
            ).to_decimal()
        amount = _money(value, code, f"payment line {n} paymentAmount")
        if amount != expected:
            if own == code:
                raise _invalid(f"Payment {payment['tranId']} is deposited whole ({payment['payment']}).")
            raise _invalid(
                f"Payment {payment['tranId']} of {payment['payment']} {own} is deposited at its base-currency "
                f"amount: {expected} {code} (at {payment['exchangeRate']}), not {amount}."
            )
        return amount

    def _entity(self, record: dict[str, Any], body: dict[str, Any], existing: Any, field: str) -> None:
        if field in body or existing is None:
            customer_id = _ref_id(body.get(field), field)
            customer = self._records["customer"].get(customer_id)
            if customer is None:
                raise _invalid(f"Invalid {field} reference key {customer_id}.", "INVALID_KEY_OR_REF")
            record[field] = {"id": customer_id, "refName": customer["companyName"]}

    def _suiteql(self, request: Request, match: re.Match[str]) -> Reply:
        if (request.headers.get("Prefer") or "").strip().lower() != "transient":
            raise _invalid("SuiteQL requests need the header Prefer: transient.", "INVALID_PARAMETER")
        try:
            limit = int(request.query.get("limit", "1000"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            raise _invalid("limit and offset are whole numbers.", "INVALID_PARAMETER") from None
        if not 1 <= limit <= 1000 or offset < 0 or offset % limit:
            raise _invalid("limit is 1 to 1000; offset is a multiple of limit.", "INVALID_PARAMETER")
        body = _object(request.json())
        if not isinstance(body.get("q"), str):
            raise _invalid('The body is {"q": "<SuiteQL>"}.', "INVALID_PARAMETER")
        columns, conditions = _parse_suiteql(body["q"])
        rows = []
        for record_type in dict.fromkeys(TRANSACTION_TYPES.values()):
            if conditions.get("type") not in (
                None,
                *[k for k, v in TRANSACTION_TYPES.items() if v == record_type],
            ):
                continue
            for record in self._records[record_type].values():
                if "since" in conditions and record["tranDate"] < conditions["since"]:
                    continue
                if "externalid" in conditions and record.get("externalId") != conditions["externalid"]:
                    continue
                if (
                    "createdfrom" in conditions
                    and (record.get("createdFrom") or {}).get("id") != conditions["createdfrom"]
                ):
                    continue
                rows.append((int(record["id"]), _suiteql_row(record_type, record, columns)))
        rows.sort(key=lambda row: row[0])
        page = [row for _, row in rows[offset : offset + limit]]
        return json_reply(
            200,
            {
                "links": [{"rel": "self", "href": f"{self.url}{SUITEQL_PATH}?limit={limit}&offset={offset}"}],
                "count": len(page),
                "hasMore": offset + limit < len(rows),
                "items": page,
                "offset": offset,
                "totalResults": len(rows),
            },
        )

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
        if record_type != "customer" and not record.get("tranDate"):
            record["tranDate"] = date.today().isoformat()
        for payment_id in record.pop("_payments", []):
            payment = self._records["customerPayment"][payment_id]
            payment["deposit"] = {"id": record["id"], "refName": record["tranId"]}
            payment["status"] = _DEPOSITED
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
        if record_type == "invoice":
            return self._invoice(body, existing, replace)
        if record_type == "customerRefund":
            return self._refund(body, existing)
        if record_type == "deposit":
            return self._deposit(body, existing, replace)
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
        self._set_exchange_rate(record, body, existing)
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
        subsidiary = copy.deepcopy(customer["subsidiary"])  # a payment books in its customer's subsidiary
        rate = self._exchange_rate_for(body, code, subsidiary["id"], existing)
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
            subsidiary=subsidiary,
            currency=currency,
            exchangeRate=rate,
            payment=payment,
            applied=applied,
            unapplied=payment - applied,
            memo=body.get("memo"),
            apply={"items": applies},
        )
        record.setdefault("status", _NOT_DEPOSITED)
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
        rate = None if given is None else _number(given, "exchangeRate")
        if rate is not None and rate <= 0:
            raise _invalid(f"exchangeRate: {given} is not a positive number.")
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
            raise _invalid(
                f"No exchange rate from {code} to {base} (the base currency of subsidiary {subsidiary_id}): "
                "enter an exchangeRate."
            )
        return known

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

    def _c_exchange_rate(self, request: Request, match: re.Match[str]) -> Reply:
        spec = request.json() or {}
        if not isinstance(spec, dict):
            raise BadRequest("body must be a JSON object")
        source, target, rate = spec.get("from"), spec.get("to"), spec.get("rate")
        if not isinstance(source, str) or not isinstance(target, str):
            raise BadRequest('"from" and "to" are currency codes')
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, str | int | Decimal)):
            raise BadRequest('"rate" is a decimal string such as "0.0067", or null')
        try:
            self.set_exchange_rate(source, target, rate)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        current = self.exchange_rate(source, target)
        return json_reply(
            200,
            {"from": source.upper(), "to": target.upper(), "rate": None if current is None else str(current)},
        )


def _status(status_id: str, names: dict[str, str] = ORDER_STATUS_NAMES) -> dict[str, str]:
    return {"id": status_id, "refName": names[status_id]}


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


def _totals(record: dict[str, Any]) -> None:
    items = record["item"]["items"]
    for n, line in enumerate(items, 1):
        line["line"] = n
    subtotal = sum((line["amount"] for line in items), Decimal(0))
    tax = sum((line["tax1Amt"] for line in items), Decimal(0))
    record.update(subtotal=subtotal, taxTotal=tax, total=subtotal + tax)


def _credit_status(unapplied: Decimal) -> dict[str, str]:
    if unapplied == 0:
        return {"id": "fullyApplied", "refName": "Fully Applied"}
    return {"id": "open", "refName": "Open"}


def _date(value: Any, field: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _invalid(f"{field}: {value!r} is not a date (YYYY-MM-DD).") from None


_SUITEQL = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+transaction(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+id(?:\s+ASC)?)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SUITEQL_COLUMN = re.compile(
    r"\s*(?:TO_CHAR\(\s*trandate\s*,\s*'YYYY-MM-DD'\s*\)\s+AS\s+(?P<alias>\w+)|(?P<name>\w+))\s*(?:,|$)",
    re.IGNORECASE,
)
_SUITEQL_CONDITIONS = (
    ("type", re.compile(r"^type\s*=\s*'(\w+)'$", re.IGNORECASE)),
    (
        "since",
        re.compile(
            r"^trandate\s*>=\s*TO_DATE\(\s*'(\d{4}-\d{2}-\d{2})'\s*,\s*'YYYY-MM-DD'\s*\)$", re.IGNORECASE
        ),
    ),
    ("externalid", re.compile(r"^externalid\s*=\s*'([^']*)'$", re.IGNORECASE)),
    ("createdfrom", re.compile(r"^createdfrom\s*=\s*'(\d+)'$", re.IGNORECASE)),
)


def _parse_suiteql(query: str) -> tuple[list[tuple[str, bool]], dict[str, str]]:
    """The subset the connector sends: columns as (name, formatted ISO date?) and the WHERE conditions."""
    unsupported = _invalid(
        f"Invalid search query. Detailed unprocessed description follows. {query[:120]}", "INVALID_PARAMETER"
    )
    match = _SUITEQL.match(query)
    if match is None:
        raise unsupported
    columns: list[tuple[str, bool]] = []
    text, position = match.group("columns"), 0
    while position < len(text):
        column = _SUITEQL_COLUMN.match(text, position)
        if column is None or column.end() == position:
            raise unsupported
        position = column.end()
        name = (column.group("alias") or column.group("name")).lower()
        if name not in _SUITEQL_COLUMNS:
            raise unsupported
        columns.append((name, column.group("alias") is not None))
    conditions: dict[str, str] = {}
    where = match.group("where")
    for part in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if where else []:
        for key, pattern in _SUITEQL_CONDITIONS:
            found = pattern.match(part.strip())
            if found is not None and key not in conditions:
                conditions[key] = found.group(1)
                break
        else:
            raise unsupported
    return columns, conditions


def _suiteql_row(record_type: str, record: dict[str, Any], columns: list[tuple[str, bool]]) -> dict[str, Any]:
    """A SuiteQL row as NetSuite gives it: lower-case columns, ids as strings, empty values left out,
    ``trandate`` in the account's date format (M/D/YYYY) unless formatted by ``TO_CHAR``."""
    status = record.get("status") or record.get("orderStatus")
    day = date.fromisoformat(record["tranDate"])
    values: dict[str, Any] = {
        "id": record["id"],
        "externalid": record.get("externalId"),
        "tranid": record.get("tranId"),
        "total": None if record.get("total") is None else str(record["total"]),
        "taxtotal": None if record.get("taxTotal") is None else str(record["taxTotal"]),
        "currency": record["currency"]["id"],
        "createdfrom": (record.get("createdFrom") or {}).get("id"),
        "status": status["id"] if isinstance(status, dict) else None,
    }
    row: dict[str, Any] = {"links": []}
    for name, iso in columns:
        if name == "trandate":
            row[name] = day.isoformat() if iso else f"{day.month}/{day.day}/{day.year}"
        elif values.get(name) is not None:
            row[name] = values[name]
    return row
