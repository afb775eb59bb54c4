"""A NetSuite account on loopback, a witness of NetSuite's contract: the REST record API v1 as Oracle documents
it (``vendor-specs/netsuite/records.json``), with Token-Based Authentication verified on every request and the
account-wide concurrency limit enforced. It imports nothing from the hub: rounding, statuses and exchange
amounts are computed here the way NetSuite does.

The package, by resource: ``contract`` (the checks on every write), ``customers``, ``orders`` (sales orders:
approval, closing lines, billing), ``invoices`` (invoices, credit memos, return authorizations), ``payments``,
``refunds``, ``deposits``, ``suiteql``, ``metadata`` (metadata catalog, subsidiaries, currencies); ``account`` holds the records, currencies and rates; ``common`` the
shared parsers and NetSuite's error shape.

Every write (``PUT``, ``POST``, ``PATCH``, transform bodies) is checked against the record's contract first:
``X-NetSuite-PropertyNameValidation: Error`` (or absent) refuses a body, sublist or subrecord field the record
does not have — custom fields only if the account defines them — with 400 ``INVALID_FIELD`` and ``o:errorPath``;
``X-NetSuite-PropertyValueValidation: Error`` (or absent) refuses a select id not in its list (``orderStatus``
takes A/B only) or a write of what NetSuite computes (``status``, totals) with 400 ``INVALID_FLD_VALUE``;
``Warning`` / ``Ignore`` drop such fields instead. The sandbox also checks that it answers only with fields the
contract has.

Vendor API (paths under ``/services/rest/record/v1``; ``Authorization: OAuth realm=...`` with an
HMAC-SHA256 signature over method, URL and query, checked with ``oauthlib``'s RFC 5849 functions, the
consumer key, the token, the realm (= account id), a fresh timestamp (±300 s) and an unused nonce, else
401 ``INVALID_LOGIN``):
- ``PUT /{customer|salesOrder|customerPayment|invoice|customerRefund|deposit}/eid:{ext}[?replace=sublist]``
  upsert → 204 + ``Location`` (without ``replace`` sublist lines are appended, as NetSuite does)
- ``POST /{customer|salesOrder}`` create → 204 + ``Location``
- ``GET /{type}/{id}`` and ``GET /{type}/eid:{ext}`` → the record; its sublists as links unless
  ``?expandSubResources=true``
- ``PATCH /salesOrder/{id}`` and ``PATCH /returnAuthorization/{id}``: ``orderStatus`` A/B (approve, reset),
  ``item`` lines ``{"line": n, "isClosed": true}`` (every line closed: ``status`` H Closed), ``memo``;
  ``custbody_o2c_released`` on a sales order. ``PATCH /customer/{id}``: ``custentity_o2c_dunning``, ``email``,
  ``companyName``.
- ``POST /salesOrder/{id}/!transform/invoice``, ``POST /invoice/{id}/!transform/{creditMemo|
  returnAuthorization}``, ``POST /returnAuthorization/{id}/!transform/creditMemo`` (see ``orders`` and
  ``invoices``); ``POST /services/rest/query/v1/suiteql`` (see ``suiteql``)
Every transaction has a ``tranDate`` (the body's, else today). Statuses are NetSuite's ids with their
``refName`` (``status``: sales order and return authorization A..H, invoice A/B, credit memo A/B, customer
payment B/C).

Currencies: each has a precision in the account, 0 or 2 (``currency_precision``; NetSuite has no three-decimal
currency, so KWD is kept to 2): an amount with more decimals is refused (400 ``INVALID_FLD_VALUE``). Every
subsidiary has a base currency (``subsidiary_currencies``, default ``DEFAULT_SUBSIDIARY_CURRENCIES``: 1 USD, 2
and 3 EUR). Sales orders, invoices, customer payments, credit memos, customer refunds and deposits carry
``exchangeRate`` (from the transaction currency to the base currency of its subsidiary: the body's, the
customer's for a payment or refund, the source's for a transform): 1 in the base currency (a body's rate is
then ignored); otherwise the body's ``exchangeRate`` (a positive number, else 400 ``INVALID_FLD_VALUE``), else
on an upsert keeping currency and subsidiary the record's own, else the account's table
(``set_exchange_rate(from, to, rate)``, default ``DEFAULT_EXCHANGE_RATES``; none known: 400).

Every error has NetSuite's shape ``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode",
["o:errorPath"]}]}``. More than ``concurrency_limit`` API requests in flight at once: 429
``CONCURRENCY_LIMIT_EXCEEDED`` (counted in ``concurrency()["rejected"]``). ``concurrency()["busy_s"]`` adds
up the time every admitted request held a slot (its latency included): ``busy_s / (limit * elapsed)`` is how
much of the account's capacity a client used.

Faults: as the base (``fail_next``, ``slow_next``) plus ``commit_then_timeout_next(count, delay_s)``: the
next write is applied, then its reply held back ``delay_s`` (longer than the client's read timeout).

Python control: ``records(type)``, ``record(type, key)`` (sublists expanded), ``edit(type, id, **fields)`` (a
user's change in the UI), ``set_exchange_rate(from, to, rate)`` / ``exchange_rate(from, to)``,
``base_currency(subsidiary)``, ``commit_then_timeout_next``, ``concurrency()``.

Control (see also ``base``):
- ``GET /_sandbox/records/{type}`` → ``{"records": [...]}``
- ``POST /_sandbox/commit_then_timeout`` ``{"count": 1, "delay_s": 0.5}``
- ``GET /_sandbox/concurrency`` → ``{"limit", "in_flight", "peak", "rejected", "admitted", "busy_s"}``
- ``POST /_sandbox/exchange_rates`` ``{"from": "JPY", "to": "USD", "rate": "0.0067"}`` (``rate`` null
  removes it) → ``{"from", "to", "rate"}``
"""

from __future__ import annotations

import copy
import hmac
import re
import time
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode

from localcloud.sandboxes.base import BadRequest, Reply, Request, json_reply
from localcloud.sandboxes.netsuite.common import (
    DEFAULT_CURRENCIES,
    DEFAULT_CURRENCY_PRECISION,
    DEFAULT_ERRORS,
    DEFAULT_EXCHANGE_RATES,
    DEFAULT_PAYMENT_OPTIONS,
    DEFAULT_SUBSIDIARIES,
    DEFAULT_SUBSIDIARY_CURRENCIES,
    RECORD_PATH,
    RFC,
    SUITEQL_PATH,
    TIMESTAMP_TOLERANCE_S,
    TITLES,
    TYPES,
    body_object,
    invalid,
)
from localcloud.sandboxes.netsuite.contract import check_answer
from localcloud.sandboxes.netsuite.customers import Customers
from localcloud.sandboxes.netsuite.deposits import Deposits
from localcloud.sandboxes.netsuite.errors import NsError
from localcloud.sandboxes.netsuite.metadata import Metadata
from localcloud.sandboxes.netsuite.payments import Payments
from localcloud.sandboxes.netsuite.refunds import Refunds
from localcloud.sandboxes.netsuite.suiteql import SuiteQL

__all__ = ["NetSuiteSandbox", "NsError"]

_PATCHABLE = {
    "customer": {"email", "companyName", "custentity_o2c_dunning"},
    "salesOrder": {"memo", "orderStatus", "item", "custbody_o2c_released"},
    "returnAuthorization": {"memo", "orderStatus", "item"},
}


class NetSuiteSandbox(Customers, Payments, Refunds, Deposits, SuiteQL, Metadata):
    vendor = "netsuite"
    #: Not kept across restarts (base.Sandbox.state_snapshot): concurrency counters and injected faults.
    runtime_state = frozenset({"_in_flight", "_peak", "_rejected", "_admitted", "_busy_s", "_commit_faults"})

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
        currency_precision: dict[str, int] | None = None,
        payment_options: dict[str, str] | None = None,
        webhook_url: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``latency_s``: every API request takes this long (``set_latency`` for a range; inside the concurrency
        window, so concurrent clients really overlap). ``webhook_url`` is unused (no outbound events yet).
        ``subsidiary_currencies``: subsidiary id → base currency code (default
        ``DEFAULT_SUBSIDIARY_CURRENCIES``); ``exchange_rates``: ``{("JPY", "USD"): "0.0067"}`` (default
        ``DEFAULT_EXCHANGE_RATES``), see ``set_exchange_rate``; ``currency_precision``: ISO code → 0 or 2
        (default ``DEFAULT_CURRENCY_PRECISION``, others 2); ``payment_options``: the account's payment methods
        a customer refund's ``paymentOption`` may reference (default ``DEFAULT_PAYMENT_OPTIONS``)."""
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.account_id = account_id
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.token_id = token_id
        self.token_secret = token_secret
        self.concurrency_limit = concurrency_limit
        if latency_s:
            self.set_latency(latency_s)
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
        self.currency_precision = dict(
            DEFAULT_CURRENCY_PRECISION if currency_precision is None else currency_precision
        )
        if any(p not in (0, 2) for p in self.currency_precision.values()):
            raise ValueError("a NetSuite currency has 0 or 2 decimals")
        self.payment_options = dict(payment_options or DEFAULT_PAYMENT_OPTIONS)
        self._init_records()
        self._nonces: set[tuple[str, str]] = set()
        self._in_flight = 0
        self._peak = 0
        self._rejected = 0
        self._admitted = 0
        self._busy_s = 0.0  # slot-seconds held by admitted requests
        self._commit_faults: list[list[float]] = []  # [delay_s, remaining]
        types = "|".join(TYPES)
        writable = "customer|salesOrder|customerPayment|invoice|customerRefund|deposit"
        patchable = "customer|salesOrder|returnAuthorization"  # the fields each takes: _patch
        credits = r"(invoice|returnAuthorization)/(\d+)/!transform/(creditMemo|returnAuthorization)"
        r = RECORD_PATH
        self.api_routes += [(m, p, self._api(h)) for m, p, h in self._metadata_routes()]
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

    def concurrency(self) -> dict[str, Any]:
        """``limit``; requests ``in_flight`` now; the ``peak`` admitted at once; ``rejected`` (429) and
        ``admitted`` since the start; ``busy_s``: slot-seconds the admitted requests held (a request holds its
        slot from its arrival to its answer)."""
        with self._lock:
            return {
                "limit": self.concurrency_limit,
                "in_flight": self._in_flight,
                "peak": self._peak,
                "rejected": self._rejected,
                "admitted": self._admitted,
                "busy_s": round(self._busy_s, 6),
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
                self._admitted += 1
                self._peak = max(self._peak, self._in_flight)
        admitted_at = time.monotonic()
        delay = 0.0
        try:
            if over:
                return self.error_reply(429)
            reply = super().dispatch(request)  # with the latency (base): inside the concurrency window
            if request.method in ("PUT", "POST", "PATCH") and 200 <= reply.status < 300:
                delay = self._take_commit_fault()
        finally:
            with self._lock:
                self._in_flight -= 1
                if not over:
                    self._busy_s += time.monotonic() - admitted_at
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

    def error_reply(
        self, status: int, message: str | None = None, code: str | None = None, path: str | None = None
    ) -> Reply:
        default_code, default_detail = DEFAULT_ERRORS.get(status, ("UNEXPECTED_ERROR", "Error."))
        title, section = TITLES.get(status, ("Error", None))
        if status == 429:
            kind = "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"
        elif section:
            kind = RFC + section
        else:
            kind = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6"
        return json_reply(
            status,
            {
                "type": kind,
                "title": title,
                "status": status,
                "o:errorDetails": [
                    {
                        "detail": message or default_detail,
                        "o:errorCode": code or default_code,
                        **({"o:errorPath": path} if path else {}),
                    }
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
                return self.error_reply(exc.status, exc.detail, exc.code, exc.path)
            except BadRequest as exc:
                return self.error_reply(400, str(exc), "INVALID_CONTENT")

        return run

    # --- TBA ------------------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        from oauthlib.oauth1.rfc5849 import signature

        unauthorized = NsError(401, *DEFAULT_ERRORS[401])
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
        if not nonce or not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_TOLERANCE_S:
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
            raise NsError(404, *DEFAULT_ERRORS[404]) from None
        href = self._location(record_type, record["id"])
        answer = {"links": [{"rel": "self", "href": href}], **record}
        if (request.query.get("expandSubResources") or "").lower() != "true":
            # NetSuite answers a sublist as a link unless asked to expand sub-resources
            answer.update(
                {
                    name: {"links": [{"rel": "self", "href": f"{href}/{name}"}]}
                    for name, value in record.items()
                    if isinstance(value, dict) and "items" in value
                }
            )
        return json_reply(200, answer)

    def _upsert(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, external_id = match.group(1), match.group(2)
        body = self._checked(record_type, body_object(request.json()), request)
        if body.get("externalId", external_id) != external_id:
            raise invalid("The externalId in the body differs from the one in the URL.")
        replace = {s for s in (request.query.get("replace") or "").split(",") if s}
        existing_id = self._eids[record_type].get(external_id)
        existing = self._records[record_type][existing_id] if existing_id else None
        record = self._build(record_type, body, existing, replace)
        record["externalId"] = external_id
        return self._save(record_type, record, existing)

    def _create(self, request: Request, match: re.Match[str]) -> Reply:
        record_type = match.group(1)
        body = self._checked(record_type, body_object(request.json()), request)
        external_id = body.get("externalId")
        if external_id is not None and str(external_id) in self._eids[record_type]:
            raise invalid("A record with this external ID already exists.", "DUP_RCRD")
        record = self._build(record_type, body, None, set())
        if external_id is not None:
            record["externalId"] = str(external_id)
        return self._save(record_type, record, None)

    def _patch(self, request: Request, match: re.Match[str]) -> Reply:
        record_type, key = match.group(1), match.group(2)
        try:
            record = self._find(record_type, key)
        except KeyError:
            raise NsError(404, *DEFAULT_ERRORS[404]) from None
        body = self._checked(record_type, body_object(request.json()), request)
        updated = copy.deepcopy(record)
        if record_type == "customer":
            self._patch_customer(updated, body)
        else:
            self._patch_order(record_type, updated, body)
        unknown = set(body) - _PATCHABLE[record_type]
        if unknown:  # NetSuite's fields, which this sandbox does not edit: say so rather than pretend
            raise invalid(f"This sandbox does not PATCH {sorted(unknown)} on a {record_type}.", "USER_ERROR")
        check_answer(record_type, updated)
        self._records[record_type][record["id"]] = updated
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
