"""NetSuite (the reference ERP): REST Web Services, record API v1, as production adapter.

The same code talks to a real account (``https://<account>.suitetalk.api.netsuite.com``) and to the
local sandbox (``localcloud.sandboxes.netsuite``): only the base URL and the credentials differ.

Calls, as NetSuite documents them (paths under ``/services/rest/record/v1``):
- ``PUT /customer/eid:{ext}?replace=addressBook`` upsert → 204, ``Location: .../customer/{id}``
- ``PUT /salesOrder/eid:{ext}?replace=item`` upsert (``replace`` so a retried upsert replaces the lines
  instead of appending them) → 204 + ``Location``
- ``PUT /customerPayment/eid:{ext}?replace=apply`` → 204 + ``Location`` (``exchangeRate``: the payment
  currency's rate to the subsidiary's base currency, when the hub knows it, e.g. Stripe's)
- ``POST /salesOrder/{id}/!transform/invoice`` ``{"externalId"}`` → 204 + ``Location``
- ``PATCH /salesOrder/{id}`` ``{"orderStatus": {"id": "B"}}`` (approve: ``orderStatus`` takes only A/B) or
  ``{"item": {"items": [{"line": n, "isClosed": true}, ...]}}`` (close every line: the order is Closed — Oracle's
  "Close a Sales Order"; the lifecycle is the read-only ``status``, A..H, which no client writes) → 204
- ``GET /{type}/{id}``, ``GET /{type}/eid:{ext}``

After the sale (refunds, disputes, renewals, dunning, payouts):
- ``POST /invoice/{id}/!transform/creditMemo`` ``{"externalId", "memo", "apply", ["item"]}`` (``?replace=item``
  for a partial credit: the invoice's lines with the refund's share of each, net ``amount`` and ``tax1Amt``) →
  a credit memo, applied to the invoice as far as it is still open; the rest of it is unapplied credit that a
  customer refund pays out. The credit memos already made from the invoice (SuiteQL ``createdfrom``) tell what
  was credited before, so the tax shares of several refunds add up to the invoice's tax, never more
- ``PUT /customerRefund/eid:{ext}?replace=apply`` (applies credit memos; ``paymentOption`` = the account's
  "Stripe" payment method, ``paymentOperation`` ``REFUND``)
- ``POST /invoice/{id}/!transform/returnAuthorization`` (a dispute hold), ``PATCH /returnAuthorization/{id}``
  (approve: ``orderStatus`` B; close: every line ``isClosed``), ``POST /returnAuthorization/{id}/!transform/
  creditMemo`` (a lost dispute)
- ``PUT /invoice/eid:{ext}?replace=item`` a standalone (renewal) invoice
- ``PATCH /customer/{id}`` ``{"custentity_o2c_dunning"}``
- ``PUT /deposit/eid:{ext}?replace=payment,other,cashback`` a Stripe payout as a bank deposit
- ``POST /services/rest/query/v1/suiteql?limit=&offset=`` (``Prefer: transient``) for reconciliation reads

Representations chosen (see the methods): a refund is a credit memo transformed from the invoice plus a
customer refund applying it; a dispute is held as a *return authorization* (non-posting, Pending Approval,
so nothing moves in the GL or on the invoice while Stripe decides) — won: it is closed; lost: approved,
transformed into a credit memo and refunded; a payout is a deposit of the customer payments with "other
deposits" (positive) and "cash back" (negative: fees, refunds, dispute withdrawals) lines.

Once only: every record the hub creates carries an ``externalId`` and is written by upsert, so repeating a
write whose outcome is unknown (timeout after commit) never creates a second record. The one create that
has no upsert, the invoice transform, is guarded by looking the invoice up by its external id before the
POST and again after any failure of it; the POST itself is never blindly re-sent.

Auth strategies (``Auth``): ``TokenBasedAuth`` (TBA, OAuth 1.0a HMAC-SHA256, realm = account id, signed
by ``oauthlib``) and ``BearerAuth`` (OAuth 2.0: the access token of the machine-to-machine client
credentials flow — a JWT assertion signed with the integration's certificate, exchanged at
``/services/rest/auth/oauth2/v1/token`` — is what a future ``M2MAuth`` would fetch and cache).

Concurrency: NetSuite limits concurrent requests per *account*. Pass an ``ErpGate`` (DynamoDB semaphore
shared by every function and execution); each HTTP attempt holds one slot, backoff sleeps hold none —
or, within ``NetSuiteErp.session()`` (a task's few requests in sequence), all of them share one slot.

Every request says ``X-NetSuite-PropertyNameValidation: Error`` and ``X-NetSuite-PropertyValueValidation:
Error``: a field name or select id NetSuite does not have is a 400, never silently dropped.

Statuses are NetSuite's ids (``status.id``): sales order A..H (``SALES_ORDER_STATUS``), return authorization
A..H (``RMA_STATUS``), invoice A Open / B Paid In Full / D / E / V (``INVOICE_STATUS``), customer payment
B Not Deposited / C Deposited.

Money goes on the wire as JSON numbers with the exact digits of ``Money.to_decimal()`` in the record's
currency, never through a float; numbers coming back are parsed as ``Decimal``.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

from shared.crm.models import Address
from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
)
from shared.money import Money, erp_step, from_major
from shared.outbound import deadline
from shared.outbound.erp_gate import GATE_FULL
from shared.outbound.http import USER_AGENT, parse_retry_after, pool_manager
from shared.outbound.retry import with_retries
from shared.tax_share import refund_tax_share, split_refund

if TYPE_CHECKING:
    from shared.outbound.erp_gate import ErpGate

log = logging.getLogger("o2c.connectors.netsuite")

RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
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
# SuiteQL ``transaction.type`` of each transaction record type.
TRANSACTION_TYPES: Mapping[str, str] = {
    "salesOrder": "SalesOrd",
    "invoice": "CustInvc",
    "customerPayment": "CustPymt",
    "creditMemo": "CustCred",
    "customerRefund": "CustRfnd",
    "deposit": "Deposit",
    "returnAuthorization": "RtnAuth",
}
SUITEQL_PAGE_LIMIT = 1000  # NetSuite's largest page
_SUITEQL_COLUMNS = (
    "id, externalid, tranid, total, taxtotal, currency, status, createdfrom, "
    "TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate"
)
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
# ``status`` of an invoice.
INVOICE_STATUS = {"open": "A", "paidInFull": "B", "pendingApproval": "D", "rejected": "E", "voided": "V"}
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
_DETAIL_LIMIT = 300


# --- auth strategies ------------------------------------------------------------------------------------


class Auth(Protocol):
    """Headers that authenticate one request. Called before every attempt (a TBA signature covers the
    method, the URL with its query, a fresh nonce and timestamp)."""

    def headers(self, method: str, url: str) -> dict[str, str]: ...


def _secret(value: str | Callable[[], str]) -> str:
    return value() if callable(value) else value


class TokenBasedAuth:
    """NetSuite Token-Based Authentication: OAuth 1.0a, HMAC-SHA256, ``realm`` = the account id as NetSuite
    spells it (``1234567`` or ``1234567_SB1``). Secrets may be callables (read from a cached secret).

    The JSON body is not signed (OAuth 1.0a signs form bodies only; no ``oauth_body_hash`` is sent), as
    NetSuite expects."""

    def __init__(
        self,
        account_id: str,
        *,
        consumer_key: str | Callable[[], str],
        consumer_secret: str | Callable[[], str],
        token_id: str | Callable[[], str],
        token_secret: str | Callable[[], str],
    ) -> None:
        self.realm = realm_for(account_id)
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret

    def headers(self, method: str, url: str) -> dict[str, str]:
        from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

        client = Client(
            _secret(self._consumer_key),
            client_secret=_secret(self._consumer_secret),
            resource_owner_key=_secret(self._token_id),
            resource_owner_secret=_secret(self._token_secret),
            signature_method=SIGNATURE_HMAC_SHA256,
            realm=self.realm,
        )
        _, headers, _ = client.sign(url, http_method=method.upper())
        return {"Authorization": headers["Authorization"]}


class BearerAuth:
    """OAuth 2.0: ``Authorization: Bearer <token>``. ``access_token`` is called per request; an M2M strategy
    (client credentials with a JWT assertion) provides it from its cache, refreshing before expiry."""

    def __init__(self, access_token: Callable[[], str]) -> None:
        self._access_token = access_token

    def headers(self, method: str, url: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token()}"}


def realm_for(account_id: str) -> str:
    """The account id as the OAuth realm wants it: ``1234567-sb1`` → ``1234567_SB1``."""
    text = account_id.strip().upper().replace("-", "_")
    if not re.match(r"^[A-Z0-9_]{1,40}$", text):
        raise ValueError(f"{account_id!r} is not a NetSuite account id")
    return text


def base_url_for(account_id: str) -> str:
    """``https://<account>.suitetalk.api.netsuite.com`` (``1234567_SB1`` → host ``1234567-sb1``)."""
    return f"https://{realm_for(account_id).lower().replace('_', '-')}.suitetalk.api.netsuite.com"


# --- HTTP -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    location: str | None
    body: Any


#: seconds of a session's lease that must be left, beyond one attempt's timeouts, before it is used again
_LEASE_MARGIN_S = 2.0


class _Held:
    """A session's slot (``NetSuiteHttp.session``): the lease id, None while none is held, and when it expires
    at the latest (epoch seconds, the gate's clock)."""

    __slots__ = ("expires", "lease")

    def __init__(self) -> None:
        self.lease: str | None = None
        self.expires = 0.0


class RequestOutcomeUnknown(TransientError):
    """The request was sent and no answer came (read timeout, connection dropped): NetSuite may have applied
    it and may still be processing it."""


class NetSuiteHttp:
    """JSON over HTTP to one NetSuite account, on the process-wide urllib3 pool.

    Transient failures (429 incl. ``CONCURRENCY_LIMIT_EXCEEDED``, 5xx, 408, timeouts, resets) are retried
    with exponential backoff and full jitter (``Retry-After`` when given; a wait above ``max_retry_wait_s``
    is raised at once) — for idempotent methods only; a POST is sent once unless ``retry=True``. Each
    attempt holds a slot of ``gate`` (if any); the sleeps between attempts do not. Within the invocation's
    deadline (``deadline``): the gate waits for a slot only as long as leaves time for the request, an
    attempt's timeouts are cut to the time left, and no retry or backoff starts that could not finish.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth,
        gate: ErpGate | None = None,
        timeout_s: float = 10,
        max_attempts: int = 3,
        max_retry_wait_s: float = 10,
        base_backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.gate = gate
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.max_retry_wait_s = max_retry_wait_s
        self.base_backoff_s = base_backoff_s
        self.sleep = sleep
        self._local = threading.local()  # the thread's session (``session``), if any

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        method = method.upper()
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        what = f"{method} {path}"
        body = None if json is None else dumps(json)
        if retry is None:
            retry = method != "POST"
        attempts = self.max_attempts if retry else 1
        return with_retries(
            lambda: self._once(method, url, what, body, headers),
            what=what,
            max_attempts=attempts,
            base_backoff_s=self.base_backoff_s,
            max_wait_s=self.max_retry_wait_s,
            sleep=self.sleep,
            # the gate already waited wait_s for a slot: the queue / state machine retries later
            give_up=lambda exc: exc.code == GATE_FULL,
        )

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Every request this thread sends within the block shares one slot of the gate: taken at the first
        request (a block that sends none costs nothing), kept between requests and across retries, given back
        at the end — one acquire and one release instead of one per request. The requests go one after
        another, so the ERP sees at most one of them at a time, as it would with a slot each. Before a request
        that could outlast the lease (connect + read timeout), the lease is extended (``ErpGate.renew``), or a
        new slot taken if it was lost; a request whose answer never came keeps its slot until the lease
        expires (NetSuite may still be running it) and the next request takes a new one. Nested sessions are
        the outer one. Without a gate, a no-op."""
        if self.gate is None or getattr(self._local, "session", None) is not None:
            yield
            return
        held = _Held()
        self._local.session = held
        try:
            yield
        finally:
            self._local.session = None
            if held.lease is not None:
                self.gate.release(held.lease)

    def _once(
        self, method: str, url: str, what: str, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> Response:
        if self.gate is None:
            return self._send(method, url, what, body, extra)
        held: _Held | None = getattr(self._local, "session", None)
        if held is not None:
            return self._in_session(held, self.gate, method, url, what, body, extra)
        lease = self.gate.acquire()
        try:
            response = self._send(method, url, what, body, extra)
        except RequestOutcomeUnknown:
            # NetSuite may still be working on it (a read timeout or a dropped connection does not stop the
            # request on its side, and it still counts against the account's limit): the slot is kept until
            # its lease expires rather than handed to the next request, which NetSuite would refuse with 429.
            self.gate.keep_until_expiry(lease)
            raise
        except BaseException:
            self.gate.release(lease)
            raise
        self.gate.release(lease)
        return response

    def _in_session(
        self,
        held: _Held,
        gate: ErpGate,
        method: str,
        url: str,
        what: str,
        body: bytes | None,
        extra: Mapping[str, str] | None,
    ) -> Response:
        longest = 2 * self.timeout_s + _LEASE_MARGIN_S  # connect + read of one attempt, and some slack
        if held.lease is not None and held.expires - gate.now() < longest:
            renewed = gate.renew(held.lease)
            if renewed is None:  # expired or pruned: the slot may be someone else's now
                held.lease = None
            else:
                held.expires = renewed
        if held.lease is None:
            taken = gate.now()  # the lease's expiry is counted from the gate's clock at its write, later
            held.lease = gate.acquire()
            held.expires = taken + gate.lease_s
        try:
            return self._send(method, url, what, body, extra)
        except RequestOutcomeUnknown:
            # NetSuite may still be running it: the slot stays taken until its lease expires, and the
            # session's next request takes a new one
            gate.keep_until_expiry(held.lease)
            held.lease = None
            raise

    def _send(
        self, method: str, url: str, what: str, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> Response:
        import urllib3

        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            # refuse unknown field names instead of silently dropping them
            "X-NetSuite-PropertyNameValidation": "Error",
            # refuse a select id or a read-only field instead of ignoring it
            "X-NetSuite-PropertyValueValidation": "Error",
            **(extra or {}),  # e.g. the metadata catalog's Accept
            **self.auth.headers(method, url),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            response = pool_manager().request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=deadline.http_timeout(self.timeout_s, self.timeout_s),
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            # never reached NetSuite: nothing runs there
            raise TransientError(f"{what} -> {type(exc).__name__}") from exc
        except urllib3.exceptions.HTTPError as exc:
            # sent, no answer: for a write the outcome is unknown (NetSuite may have committed it), and
            # NetSuite may still be processing it
            raise RequestOutcomeUnknown(f"{what} -> {type(exc).__name__}") from exc
        status: int = response.status
        data: bytes = response.data or b""
        log.debug("%s -> %d in %.0f ms", what, status, (time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            parsed: Any = None
            if data.strip():
                try:
                    parsed = jsonlib.loads(data, parse_float=Decimal)
                except ValueError:
                    raise PermanentError(
                        f"{what} -> HTTP {status}: body is not JSON", status=status
                    ) from None
            return Response(status, response.headers.get("Location"), parsed)
        raise classify(
            status, what=what, body=data, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )


def classify(status: int, *, what: str, body: bytes, retry_after: float | None) -> ConnectorError:
    """NetSuite's error ``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`` →
    the hub's error class. 429 (``CONCURRENCY_LIMIT_EXCEEDED`` or the request-rate limit), 408 and 5xx are
    transient; 400 is a record NetSuite will not accept (``InvalidRecord``); 404 ``NotFound``; 401/403
    ``AuthError``."""
    code, detail = netsuite_error(body)
    message = f"{what} -> HTTP {status}" + (f" {code}" if code else "")
    if status in (408, 429) or status >= 500:
        return TransientError(message, status=status, retry_after=retry_after, code=code, detail=detail)
    if status in (401, 403):
        return AuthError(message, status=status, code=code, detail=detail)
    if status == 404:
        return NotFound(message, status=status, code=code, detail=detail)
    if status == 400:
        return InvalidRecord(message, status=status, code=code, detail=detail)
    return PermanentError(message, status=status, code=code, detail=detail)


def netsuite_error(body: bytes) -> tuple[str | None, str | None]:
    """(first ``o:errorCode``, its ``detail`` or the ``title``) from a NetSuite error body."""
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = detail = None
    details = data.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        code = details[0].get("o:errorCode")
        detail = details[0].get("detail")
    detail = detail or data.get("title")
    return (
        str(code) if code is not None else None,
        str(detail)[:_DETAIL_LIMIT] if detail is not None else None,
    )


def dumps(data: Any) -> bytes:
    """JSON with ``Decimal`` as a JSON number with exactly its digits (never through a float)."""

    def mark(value: object) -> str:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError("money and quantities must be finite")
            return f"\x00dec:{value:f}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = jsonlib.dumps(data, default=mark, separators=(",", ":"))
    return re.sub(r'"\\u0000dec:(-?[0-9.]+)\\u0000"', r"\1", text).encode()


# --- the connector --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErpRef:
    """A record in the ERP: internal id, the hub's external id, and its document number (``tranId`` of a
    transaction, ``entityId`` of a customer) when it has one."""

    id: str
    external_id: str
    document_number: str | None = None


@dataclass(frozen=True)
class CustomerPayment:
    """A customer payment as NetSuite holds it: ``amount`` in the payment's own currency,
    ``exchange_rate`` from that currency to its subsidiary's base currency (1 in the base currency),
    ``deposited`` once a deposit includes it."""

    id: str
    external_id: str
    amount: Money
    exchange_rate: Decimal
    deposited: bool


@dataclass(frozen=True)
class OrderLine:
    """One sales order line. The item is ``item_external_id`` (the item's external id in NetSuite), else
    the connector's ``default_item_id`` with ``name`` as the line description. ``amount`` is the line's net
    amount (quantity x rate less discounts), ``tax`` its tax (from the tax engine); all in the order's
    currency."""

    quantity: int
    rate: Money
    amount: Money
    tax: Money
    item_external_id: str | None = None
    name: str | None = None
    #: the order's cash rounding (its total rounded to what NetSuite and Stripe both take): the account's
    #: rounding item (``rounding_item_id``), non-taxable
    rounding: bool = False
    #: revenue recognition of the line (NetSuite item fields ``revRecStartDate``, ``revRecEndDate``,
    #: ``revRecTermInMonths``): a subscription's period, a service's delivery date; the ERP's revenue
    #: schedules are built from them
    rev_rec_start: date | None = None
    rev_rec_end: date | None = None
    rev_rec_term_months: int | None = None


class NetSuiteErp:
    """NetSuite REST record API. ``auth`` is a strategy (``TokenBasedAuth``, ``BearerAuth``). ``http``,
    when given, is used as is (it carries its own auth and gate); otherwise one is built from ``base_url``
    (default: the account's SuiteTalk host), ``auth`` and ``gate``.

    ``currency_ids`` maps ISO codes to the account's currency internal ids; ``default_item_id`` is the item
    (e.g. a non-inventory "CRM line" item) used for order lines that name no item external id.

    After the sale: ``credit_item_id`` is the (non-taxable, non-inventory) "Refund" item of a partial credit
    memo's single line (default: ``default_item_id``); ``stripe_payment_option_id`` the payment method
    "Stripe" a customer refund's ``paymentOption`` references; ``dispute_account_id`` the account a lost dispute's refund is paid from
    (the Stripe clearing account the payout's dispute withdrawal went to; default: the refund's default);
    ``adjustment_account_id`` the account of a deposit's other-deposit / cash-back lines (Stripe fees and
    adjustments clearing). ``rounding_item_id``: the (non-taxable, other charge) "Rounding" item of an order's
    cash-rounding line (a KWD total rounded to 10 fils: NetSuite keeps 2 decimals, Stripe takes multiples of 10).
    """

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

    # --- after the sale: refunds, disputes, renewals, dunning, payouts ---------------------------------

    def credit_invoice(
        self,
        invoice_id: str,
        *,
        external_id: str,
        amount: Money,
        memo: str | None,
        invoice: Mapping[str, Any] | None = None,
    ) -> ErpRef:
        """A credit memo of ``amount`` against the invoice, once per ``external_id`` (looked up before the
        transform and after any failure of it, as the invoice transform).

        NetSuite: ``POST /invoice/{id}/!transform/creditMemo``. A full credit (``amount`` = the invoice
        total) keeps the lines NetSuite copies from the invoice, so tax is reversed line by line. A partial
        credit (Stripe refunds an amount, tax included, not lines) replaces them (``?replace=item``) with the
        invoice's lines carrying the refund's share: its tax share (``shared.tax_share``: the invoice's tax in
        proportion to what has been credited, cumulatively, so that all credits together reverse at most the
        invoice's tax and exactly that when the invoice is credited in full) spread over the lines' tax, the
        rest over their net amounts. The memo is applied to the invoice up to what the invoice still owes; the
        rest is unapplied credit for ``refund_credit_memo``. ``invoice``: the invoice as just read with its
        lines (``get_by_external_id(..., expand=True)``), so it is not read again. A new credit memo's
        reference has no document number (nothing the hub does uses it: no read back)."""
        invoice_id = _internal_id(invoice_id, "invoice")
        external_id = _external_id(external_id)
        found = self.get_by_external_id("creditMemo", external_id)
        if found is not None:
            return _ref(found, external_id, "tranId")
        if (
            invoice is None
            or str(invoice.get("id")) != invoice_id
            or not isinstance(invoice.get("item"), dict)
        ):
            invoice = self._get("invoice", invoice_id, expand=True)
        return self._credit("invoice", invoice, external_id, amount, memo, invoice_id, looked_up=True)

    def refund_credit_memo(
        self,
        credit_memo_id: str,
        *,
        external_id: str,
        customer_id: str,
        amount: Money,
        memo: str | None,
        account_id: str | None = None,
    ) -> ErpRef:
        """The money went back to the customer: a customer refund (payment method "Stripe") of ``amount``
        applying the credit memo. ``PUT /customerRefund/eid:{ext}?replace=apply``: one refund per external
        id; a repeat replaces its apply line instead of adding one. ``account_id``: the account paid from."""
        external_id = _external_id(external_id)
        _positive(amount, "a customer refund")
        value = amount.to_decimal()
        body: dict[str, Any] = {
            "externalId": external_id,
            "customer": {"id": _internal_id(customer_id, "customer")},
            "currency": {"id": self._currency_id(amount.currency)},
            "apply": {
                "items": [
                    {
                        "doc": {"id": _internal_id(credit_memo_id, "creditMemo")},
                        "apply": True,
                        "amount": value,
                    }
                ]
            },
        }
        if self._stripe_payment_option_id:
            body["paymentOption"] = {"id": _internal_id(self._stripe_payment_option_id, "payment option")}
        body["paymentOperation"] = {"id": "REFUND"}  # the money went back (not a credit to the card on file)
        if account_id:
            body["account"] = {"id": _internal_id(account_id, "account")}
        if memo:
            body["memo"] = memo
        # the refund's reference is its id (from ``Location``): nothing the hub does uses its document number
        return self._upsert(
            "customerRefund",
            external_id,
            body,
            query={"replace": "apply"},
            number_field="tranId",
            read_number=False,
        )

    def open_dispute_hold(
        self, invoice_id: str, *, external_id: str, amount: Money, memo: str | None
    ) -> ErpRef:
        """A chargeback under review: a return authorization for ``amount`` from the invoice, left Pending
        Approval. It is non-posting (no GL impact, the invoice stays as it is) yet visible on the customer
        and the invoice as a pending credit. Its lines carry the dispute's share of the invoice's lines and tax
        (as a partial credit's), so the credit memo a lost dispute becomes reverses that tax. Once per external
        id (the dispute id)."""
        invoice_id = _internal_id(invoice_id, "invoice")
        external_id = _external_id(external_id)
        found = self.get_by_external_id("returnAuthorization", external_id)
        if found is not None:
            return _ref(found, external_id, "tranId")
        invoice = self._get("invoice", invoice_id, expand=True)
        _positive(amount, "a dispute hold")
        _same_currency(amount, invoice, self._currency_ids, f"invoice {invoice_id}")
        body: dict[str, Any] = {
            "externalId": external_id,
            "item": {"items": self._refund_lines(invoice, external_id, amount)},
            "orderStatus": {"id": RMA_ORDER_STATUS["pendingApproval"]},
        }
        if memo:
            body["memo"] = memo
        return self._transform_once(
            "invoice", invoice_id, "returnAuthorization", external_id, body, query={"replace": "item"}
        )

    def settle_dispute(self, external_id: str, *, outcome: Literal["won", "lost"]) -> ErpRef | None:
        """Close the dispute hold. ``won``: the return authorization is closed, every line (nothing was or will
        be booked) → None. ``lost``: it is approved and transformed into a credit memo (external id
        ``{ext}-cm``, applied to the invoice as far as it is open) and the credit refunded to the customer
        (customer refund ``{ext}-rf``, from ``dispute_account_id``) → the credit memo. Each step looks for
        its result first, so repeating either outcome changes nothing; the other outcome afterwards is an
        ``InvalidRecord``."""
        external_id = _external_id(external_id)
        if outcome not in ("won", "lost"):
            raise ValueError("a dispute is won or lost")
        hold = self.get_by_external_id("returnAuthorization", external_id)
        if hold is None:
            raise NotFound(f"no dispute hold {external_id}")
        hold_id = _internal_id(hold.get("id"), "returnAuthorization")
        status = _status_id(hold)
        called_off = (RMA_STATUS["cancelled"], RMA_STATUS["closed"])
        if outcome == "won":
            if status in called_off:
                return None
            if status != RMA_STATUS["pendingApproval"]:
                raise InvalidRecord(f"dispute {external_id} was already settled as lost")
            self._close_lines("returnAuthorization", hold_id)
            return None
        if status in called_off:
            raise InvalidRecord(f"dispute {external_id} was already settled as won")
        credit_eid = _external_id(f"{external_id}-cm")
        credit = self.get_by_external_id("creditMemo", credit_eid)
        if credit is not None:
            credit_ref = _ref(credit, credit_eid, "tranId")
        else:
            if status == RMA_STATUS["pendingApproval"]:
                self._http.request(
                    "PATCH",
                    f"{RECORD_PATH}/returnAuthorization/{hold_id}",
                    json={"orderStatus": {"id": RMA_ORDER_STATUS["pendingReceipt"]}},
                )
            amount = self._money_field(hold, "total")
            invoice_id = _ref_id_of(hold.get("createdFrom"))
            invoice = self._get("invoice", invoice_id) if invoice_id else None
            credit_ref = self._credit(
                "returnAuthorization", invoice, credit_eid, amount, hold.get("memo"), hold_id
            )
            credit = self._get("creditMemo", credit_ref.id)
        unapplied = self._money_field(credit, "unapplied")
        if unapplied.amount > 0:  # what the invoice did not absorb went back to the customer (the chargeback)
            customer_id = _ref_id_of(credit.get("entity"))
            if customer_id is None:
                raise InvalidRecord(f"credit memo {credit_ref.id}: no customer")
            self.refund_credit_memo(
                credit_ref.id,
                external_id=f"{external_id}-rf",
                customer_id=customer_id,
                amount=unapplied,
                memo=hold.get("memo"),
                account_id=self._dispute_account_id,
            )
        return credit_ref

    def upsert_renewal_invoice(
        self,
        external_id: str,
        *,
        customer_id: str,
        subsidiary_id: str,
        currency: str,
        lines: list[OrderLine],
        period_start: date,
        period_end: date,
        memo: str | None = None,
    ) -> ErpRef:
        """A standalone invoice for one subscription period (``PUT /invoice/eid:{ext}?replace=item``, dated
        ``period_start``, ``startDate``/``endDate`` = the period). Never a second invoice for the external id;
        an invoice that already has payments or credits applied is left as it is."""
        external_id = _external_id(external_id)
        if period_end < period_start:
            raise ValueError("a period ends on or after its start")
        if not lines:
            raise InvalidRecord(f"invoice {external_id}: no lines")
        code = currency.upper()
        existing = self.get_by_external_id("invoice", external_id)
        if existing is not None and _decimal(existing.get("amountRemaining")) != _decimal(
            existing.get("total")
        ):
            return _ref(existing, external_id, "tranId")
        body: dict[str, Any] = {
            "externalId": external_id,
            "entity": {"id": _internal_id(customer_id, "customer")},
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(code)},
            "tranDate": period_start.isoformat(),
            "startDate": period_start.isoformat(),
            "endDate": period_end.isoformat(),
            "item": {"items": [self._line(external_id, n, line, code) for n, line in enumerate(lines, 1)]},
        }
        if memo:
            body["memo"] = memo
        return self._upsert("invoice", external_id, body, query={"replace": "item"}, number_field="tranId")

    def mark_dunning(self, customer_id: str, *, state: str | None) -> None:
        """Show the customer's dunning state in the ERP: the custom entity field ``custentity_o2c_dunning``
        (free-form text, e.g. ``past_due``; None clears it). Idempotent."""
        customer_id = _internal_id(customer_id, "customer")
        if state is not None and not _DUNNING_STATE.match(state):
            raise ValueError(f"{state[:40]!r} is not a dunning state (lower-case letters, digits, _)")
        self._http.request(
            "PATCH", f"{RECORD_PATH}/customer/{customer_id}", json={"custentity_o2c_dunning": state}
        )

    def upsert_deposit(
        self,
        external_id: str,
        *,
        subsidiary_id: str,
        currency: str,
        account_id: str | None,
        payments: list[tuple[str, Money]],
        other: list[tuple[str, Money]],
        total: Money,
        tran_date: date | None = None,
        memo: str | None = None,
    ) -> ErpRef:
        """A payout as a bank deposit (``PUT /deposit/eid:{ext}?replace=payment,other,cashback``): the
        customer payments it pays out (whole, from undeposited funds; each ``Money`` in the deposit's
        currency: a payment in another currency at its base-currency amount, ``shared.money.convert(payment,
        its exchange rate, deposit currency)``, which NetSuite accepts when the deposit is in the base
        currency of the payment's subsidiary), positive ``other`` amounts as
        "other deposits" lines and negative ones (fees, refunds, dispute withdrawals) as "cash back" lines,
        on ``adjustment_account_id``. ``total`` is the payout: lines that do not sum to it exactly are
        refused (``InvalidRecord``) before anything is sent. ``account_id``: the bank account (None: the
        account's default)."""
        external_id = _external_id(external_id)
        code = currency.upper()
        for what, money in [("total", total), *[(f"payment {p}", m) for p, m in payments], *other]:
            if money.currency != code:
                raise ValueError(f"deposit {external_id}: {what} in {money.currency}, deposit in {code}")
        if not payments and not other:
            raise InvalidRecord(f"deposit {external_id}: no lines")
        summed = sum((m.amount for _, m in payments), 0) + sum((m.amount for _, m in other), 0)
        if summed != total.amount:
            raise InvalidRecord(
                f"deposit {external_id}: lines sum to {Money.of(summed, code).format()}, "
                f"the payout is {total.format()}"
            )
        line_account = (
            {"account": {"id": _internal_id(self._adjustment_account_id, "account")}}
            if self._adjustment_account_id
            else {}
        )
        deposits: list[dict[str, Any]] = []
        cash_back: list[dict[str, Any]] = []
        for line_memo, money in other:
            if money.amount == 0:
                continue
            line = {
                **line_account,
                "amount": Money.of(abs(money.amount), code).to_decimal(),
                "memo": line_memo,
            }
            (deposits if money.amount > 0 else cash_back).append(line)
        body: dict[str, Any] = {
            "externalId": external_id,
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(code)},
            "payment": {
                "items": [
                    {
                        "id": _internal_id(p, "customerPayment"),
                        "deposit": True,
                        "paymentAmount": m.to_decimal(),
                    }
                    for p, m in payments
                ]
            },
            "other": {"items": deposits},
            "cashback": {"items": cash_back},
        }
        if account_id:
            body["account"] = {"id": _internal_id(account_id, "account")}
        if tran_date is not None:
            body["tranDate"] = tran_date.isoformat()
        if memo:
            body["memo"] = memo
        # the deposit's reference is its id (from ``Location``): nothing the hub does uses its document number
        return self._upsert(
            "deposit",
            external_id,
            body,
            query={"replace": "payment,other,cashback"},
            number_field="tranId",
            read_number=False,
        )

    # --- reconciliation reads ------------------------------------------------------------------------

    def list_records(
        self,
        record_type: str,
        *,
        since: date | None = None,
        external_id: str | None = None,
        created_from: str | None = None,
        page_size: int = SUITEQL_PAGE_LIMIT,
    ) -> list[dict[str, Any]]:
        """Transactions of one type (dated ``since`` or later; with ``external_id``; made from the transaction
        ``created_from``), by SuiteQL, every page: ``[{"id", "externalId", "tranId", "total": Decimal,
        "taxTotal": Decimal, "currency": ISO code, "status", "createdFrom": id, "tranDate": date}]`` in internal
        id order."""
        if record_type not in TRANSACTION_TYPES:
            raise ValueError(f"{record_type!r} is not a transaction record type")
        if not 1 <= page_size <= SUITEQL_PAGE_LIMIT:
            raise ValueError(f"page_size is 1 to {SUITEQL_PAGE_LIMIT}")
        where = [f"type = '{TRANSACTION_TYPES[record_type]}'"]
        if since is not None:
            where.append(f"trandate >= TO_DATE('{since.isoformat()}', 'YYYY-MM-DD')")
        if external_id is not None:
            where.append(f"externalid = '{_external_id(external_id)}'")  # the pattern admits no quote
        if created_from is not None:
            where.append(f"createdfrom = '{_internal_id(created_from, 'transaction')}'")  # digits only
        # SuiteQL over REST takes no bind parameters: every value above is from a fixed map, an ISO date or
        # an external id (letters, digits, _ and -), so none can leave its quotes.
        conditions = " AND ".join(where)
        query = f"SELECT {_SUITEQL_COLUMNS} FROM transaction WHERE {conditions} ORDER BY id"  # noqa: S608
        currencies = {v: k for k, v in self._currency_ids.items()}
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = self._http.request(
                "POST",
                SUITEQL_PATH,
                query={"limit": str(page_size), "offset": str(offset)},
                json={"q": query},
                retry=True,  # a query, not a write
                headers={"Prefer": "transient"},
            ).body
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise InvalidRecord("SuiteQL: unexpected response shape")
            for item in body["items"]:
                rows.append(_suiteql_row(item, currencies))
            if not body.get("hasMore"):
                return rows
            offset += page_size

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

        return with_retries(
            look_up_then_transform,
            what=f"transform {source_type} {source_id} to {target_type} {external_id}",
            max_attempts=self._http.max_attempts,
            base_backoff_s=self._http.base_backoff_s,
            max_wait_s=self._http.max_retry_wait_s,
            sleep=self._http.sleep,
        )

    def _credit(
        self,
        source_type: str,
        invoice: Mapping[str, Any] | None,
        external_id: str,
        amount: Money,
        memo: str | None,
        source_id: str,
        *,
        looked_up: bool = False,
    ) -> ErpRef:
        """A credit memo transformed from the invoice or the return authorization, applied to the invoice
        up to its amount remaining. ``looked_up``: the caller has just found no credit memo with that
        external id (the first look-up before the transform is skipped; retries still look)."""
        _positive(amount, "a credit memo")
        body: dict[str, Any] = {"externalId": external_id}
        if memo:
            body["memo"] = memo
        query = None
        if invoice is not None:
            what = f"invoice {invoice.get('id')}"
            _same_currency(amount, invoice, self._currency_ids, what)
            total = self._money_field(invoice, "total")
            if amount.amount > total.amount:
                raise InvalidRecord(
                    f"credit {external_id}: {amount.format()} is more than {what} ({total.format()})"
                )
            if source_type == "invoice" and amount.amount < total.amount:
                body["item"] = {"items": self._refund_lines(invoice, external_id, amount)}
                query = {"replace": "item"}
            remaining = self._money_field(invoice, "amountRemaining")
            applied = min(amount.amount, remaining.amount)
            if applied > 0:
                invoice_id = _internal_id(invoice.get("id"), "invoice")
                body["apply"] = {
                    "items": [
                        {
                            "doc": {"id": invoice_id},
                            "apply": True,
                            "amount": Money.of(applied, amount.currency).to_decimal(),
                        }
                    ]
                }
        return self._transform_once(
            source_type,
            source_id,
            "creditMemo",
            external_id,
            body,
            query=query,
            read_number=not looked_up,
            looked_up=looked_up,
        )

    def _credit_line(self, external_id: str, net: Money, tax: Money) -> dict[str, Any]:
        if not self._credit_item_id:
            raise InvalidRecord(
                f"credit {external_id}: a partial credit needs credit_item_id (or default_item_id)"
            )
        value = net.to_decimal()
        return {
            "item": {"id": _internal_id(self._credit_item_id, "item")},
            "description": "Refund",
            "quantity": 1,
            "rate": value,
            "amount": value,
            "tax1Amt": tax.to_decimal(),
        }

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

    def credited(self, invoice_id: str) -> tuple[Decimal, Decimal]:
        """What the credit memos made from the invoice add up to so far, in the invoice's currency: (total, tax
        total). SuiteQL gives a credit memo's amounts with the sign of the posting (negative), so their size is
        taken. A lost dispute's credit memo is made from its return authorization and is not counted: Stripe
        refunds nothing of a charge under or lost to a dispute, so no credit follows it."""
        invoice_id = _internal_id(invoice_id, "invoice")
        total = tax = Decimal(0)
        for row in self.list_records("creditMemo", created_from=invoice_id):
            total += abs(row["total"] or 0)
            tax += abs(row["taxTotal"] or 0)
        return total, tax

    def _refund_lines(
        self, invoice: Mapping[str, Any], external_id: str, amount: Money
    ) -> list[dict[str, Any]]:
        """Lines crediting ``amount`` (tax included) of the invoice: its tax share (``shared.tax_share``, given
        what was credited before) over the invoice lines' tax, the rest over their net amounts; each line keeps
        the invoice line's item (and so its tax code). An invoice whose lines cannot be read gets one line of
        the "Refund" item carrying the net and the tax share. Every part is a multiple of what NetSuite holds
        in the currency (``erp_step``: KWD to 2 decimals, 10 fils), as the refund is."""
        code = _record_currency(invoice, self._currency_ids)
        invoice_id = _internal_id(invoice.get("id"), "invoice")
        step = erp_step(code)
        if amount.amount % step:
            raise InvalidRecord(
                f"credit {external_id}: {amount.format()} has more decimals than NetSuite keeps for {code}"
            )
        total = self._money_field(invoice, "total")
        tax_total = from_major(_decimal(invoice.get("taxTotal") or 0), code)
        before, tax_before = self.credited(invoice_id)
        share = refund_tax_share(
            gross=total.amount,
            tax=tax_total.amount,
            credited_before=from_major(before, code).amount,
            tax_credited_before=from_major(tax_before, code).amount,
            amount=amount.amount,
            step=step,
        )
        items = (invoice.get("item") or {}).get("items") if isinstance(invoice.get("item"), dict) else None
        lines = [
            line for line in items or [] if isinstance(line, dict) and isinstance(line.get("item"), dict)
        ]
        if not lines:
            return [
                self._credit_line(external_id, Money.of(amount.amount - share, code), Money.of(share, code))
            ]
        weights = [
            (
                from_major(_decimal(line.get("amount") or 0), code).amount,
                from_major(_decimal(line.get("tax1Amt") or 0), code).amount,
            )
            for line in lines
        ]
        out = []
        for line, (net, tax) in zip(lines, split_refund(weights, amount.amount, share, step), strict=True):
            if net == 0 and tax == 0:
                continue
            item = line["item"]
            ref = {"id": str(item["id"])} if item.get("id") else {"externalId": str(item.get("externalId"))}
            value = Money.of(net, code).to_decimal()
            description = line.get("description")
            out.append(
                {
                    "item": ref,
                    "description": f"Refund: {description}"[:250] if description else "Refund",
                    "quantity": 1,
                    "rate": value,
                    "amount": value,
                    "tax1Amt": Money.of(tax, code).to_decimal(),
                }
            )
        return out

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


def _suiteql_row(item: Any, currencies: Mapping[str, str]) -> dict[str, Any]:
    """One SuiteQL row (lower-case columns, values mostly strings) as the connector's dict."""
    if not isinstance(item, dict):
        raise InvalidRecord("SuiteQL: a row is not an object")
    total = item.get("total")
    tax = item.get("taxtotal")
    day = item.get("trandate")
    currency = item.get("currency")
    return {
        "id": str(item.get("id")),
        "externalId": item.get("externalid"),
        "tranId": item.get("tranid"),
        "total": None if total in (None, "") else _decimal(total),
        "taxTotal": None if tax in (None, "") else _decimal(tax),
        "createdFrom": None if item.get("createdfrom") in (None, "") else str(item["createdfrom"]),
        "currency": currencies.get(str(currency), str(currency)) if currency is not None else None,
        "status": item.get("status"),
        "tranDate": date.fromisoformat(str(day)) if day else None,
    }


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
