"""A Stripe account (test mode) on loopback: the part of the v1 API ``shared.connectors.stripe_payments``
calls, in Stripe's wire format, with Idempotency-Key semantics, test payment methods, and Stripe-signed
webhook events delivered asynchronously, as Stripe delivers them.

Vendor API (``Authorization: Bearer <api_key>`` or Basic with the key as user name, else 401; POST bodies
form-encoded with bracket notation, ``metadata[o2c_x]=y``; JSON replies carrying ``object`` and ids
``cus_``/``seti_``/``pi_``/``pm_``/``ch_``/``evt_``; errors ``{"error": {"type", "code", "message",
"param", "decline_code", "payment_intent"}}``; unknown parameters are refused as Stripe refuses them):
- ``POST /v1/customers``, ``GET /v1/customers/search?query=metadata['k']:'v' AND email:'x'``,
  ``GET /v1/customers/{id}``
- ``POST /v1/setup_intents`` (``usage`` defaults to ``off_session``)
- ``POST /v1/payment_intents`` (``confirm=true`` charges/authorizes at once; a decline is HTTP 402
  ``card_error`` with the PaymentIntent in the error), ``GET /v1/payment_intents/{id}``,
  ``POST /v1/payment_intents/{id}/capture``, ``POST /v1/payment_intents/{id}/cancel`` (any other status
  than the allowed ones → 400 ``payment_intent_unexpected_state`` with the PaymentIntent)
- ``POST /v1/refunds`` (``payment_intent`` or ``charge``; ``amount`` defaults to what remains; partial and
  repeated refunds; more than remains → 400 ``amount_too_large``, nothing left → ``charge_already_refunded``,
  a charge under (or lost to) a dispute → ``charge_disputed``), ``GET /v1/refunds/{id}``
- ``GET /v1/charges/{id}``, ``/v1/disputes/{id}``, ``/v1/invoices/{id}``, ``/v1/subscriptions/{id}``,
  ``/v1/payouts/{id}``, ``/v1/balance_transactions/{id}``
- ``GET /v1/balance_transactions?payout=po_...`` (also ``type``, ``currency``, ``source``), newest first,
  cursor-paged: ``limit`` (1..100, default 10), ``starting_after`` / ``ending_before``, ``has_more``
- ``GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=pi_...`` (also
  ``invoice``, ``status`` paid|open|canceled; ``payment[type]`` is required with ``payment[...]`` and must
  name the kind of id given; ``payment_record``s never exist here), paged as balance transactions are;
  ``GET /v1/invoice_payments/{id}``. An unknown ``invoice`` or ``payment_intent`` is a 400
  ``resource_missing``. This is how a PaymentIntent finds its Invoice: at this API version neither the
  PaymentIntent nor the Charge names its invoice (the sandbox's Invoice still carries the older
  ``payment_intent`` field).
GET query strings are read in bracket notation as form bodies are (``payment[type]=x``, ``expand[0]=x``);
``expand`` is accepted and not applied.

Idempotency (every POST, per API key, 24 h): the same key with the same endpoint and parameters replays the
stored reply (``Idempotent-Replayed: true``, no second effect, no second event); another endpoint or other
parameters → 400 ``idempotency_error``; while the first request with that key is still running → 409
``idempotency_error``. Requests refused before they ran (auth, parameter validation, injected faults) store
nothing, as on Stripe.

Test payment methods (``TEST_CARDS``): ``pm_card_visa``, ``pm_card_mastercard`` succeed;
``pm_card_chargeDeclined`` (card_declined / generic_decline), ``pm_card_chargeDeclinedInsufficientFunds``,
``pm_card_chargeDeclinedExpiredCard``, ``pm_card_chargeDeclinedLostCard``, ``pm_card_chargeCustomerFail``
decline when charged. Using a token mints a fresh ``pm_...`` (as Stripe does); ``complete_setup`` mints one
attached to the customer, and that id behaves like its card afterwards. Saving never fails here.

Money after the sale. A confirmed PaymentIntent has a Charge (``ch_``; ``captured`` once captured). Every
captured charge, succeeded refund and lost dispute books a balance transaction (``txn_``, ``available`` at
once): ``charge`` (fee ``processing_fee``: 2.9% rounded half up + 30 of the smallest unit; net = amount -
fee), ``refund`` (minus the amount, fee 0), ``adjustment`` (a lost dispute: minus the disputed amount, fee
``DISPUTE_FEE`` = 1500 of the smallest unit). By default each currency settles in itself (``exchange_rate``
null). ``settle_into(currency, into, rate)`` makes later charges in ``currency`` settle in the ``into``
balance, as Stripe converts into an account's settlement currency: the transaction's ``amount`` is the
charge's times ``rate`` (major units, rounded half up, in Stripe's smallest unit of ``into``), its
``currency`` is ``into`` and ``exchange_rate`` the rate (a JSON number: amount in ``currency`` x
``exchange_rate`` = amount in ``into``); the fees are in ``into``: the processing fee on the converted
amount plus, as a second ``fee_details`` entry, a "Currency conversion fee" (``conversion_fee``: 1% of the
converted amount, rounded half up); ``fee`` is their sum. Refunds and lost disputes of a converted charge
come out of the balance it went to, converted at the rate in force when they are booked (a lost dispute:
when it is closed), or the charge's own rate if the conversion has ended since; the dispute fee is in
``into``. The Charge, PaymentIntent, Refund and Dispute keep their own amount and currency; the charge's
``balance_transaction`` is the converted one. ``create_payout(currency=None)`` pays out every transaction
not yet paid out in one balance currency (converted ones included): amount = the sum of their nets, a
``payout`` transaction of minus that, ``automatic`` true (so ``?payout=`` lists them, the payout's own
included). No ``charge.*`` event is sent for a charge itself.

Webhooks: ``setup_intent.succeeded``, ``payment_intent.amount_capturable_updated`` (authorized),
``payment_intent.payment_failed`` (declined), ``payment_intent.succeeded`` (captured, or charged with
automatic capture), ``payment_intent.canceled``; ``refund.created``, ``charge.refunded`` (the charge:
cumulative ``amount_refunded``, ``refunded`` once all is), ``refund.updated`` (the acquirer reference
arrived), or ``refund.created`` (pending) + ``refund.failed`` for a failed one (charge and balance
untouched);
``charge.dispute.created``, ``charge.dispute.closed``; ``customer.subscription.created``, on renewal
``payment_intent.succeeded`` + ``invoice.paid`` + ``invoice.payment_succeeded`` or
``payment_intent.payment_failed`` + ``invoice.payment_failed``, and ``customer.subscription.updated``
when the status changes (``previous_attributes.status``); ``payout.created``, ``payout.paid``. Each event (``evt_...``, ``data.object`` = a snapshot of the
whole object, metadata included) is POSTed by a background thread ``webhook_delay_s`` after the change,
signed ``Stripe-Signature: t=...,v1=...`` with ``webhook_secret``. ``hold_webhooks()`` keeps them queued
until ``release_webhooks()``; ``wait_for_webhooks()`` blocks until the queue is drained; ``webhooks_sent``
lists the attempts. A failed delivery is recorded, not retried: ``redeliver(event_id)`` is Stripe's retry.

Faults (see ``base``): ``fail_next(429|5xx, retry_after=...)``, ``slow_next(...)`` and
``commit_then_timeout_next(count=1, delay_s=None)``: the next ``count`` POSTs are applied (and their reply
stored under the Idempotency-Key) but the client never gets the reply: the connection is dropped, or with
``delay_s`` the reply comes that late (past the client's timeout).

Python control after the sale: ``fail_next_refund(count=1)`` (the next refunds end ``failed``,
``expired_or_canceled_card``), ``open_dispute(charge_id, reason) -> dp_``, ``close_dispute(dp, "won"|"lost")``,
``create_subscription(customer_id, amount, currency, interval="month", metadata) -> sub_`` (active, first
period taken as paid: no invoice, no PaymentIntent), ``renew(sub_id, succeed=True) -> in_`` (the next
period's invoice, charged by a new PaymentIntent and linked to it by an InvoicePayment: ``inpay_...``,
``is_default`` true, ``payment`` ``{"type": "payment_intent", "payment_intent": "pi_..."}``, status
``paid`` with ``amount_paid`` and ``status_transitions.paid_at``, or ``open`` with ``amount_paid`` null
when declined; a copy in the invoice's ``payments.data``; no ``invoice_payment.*`` event is sent),
``create_payout(currency=None) -> po_``, ``create_payouts() -> [po_...]`` (one per currency with a positive
balance), ``settle_into(currency, into, rate)`` (``into`` equal to ``currency`` or None, or ``rate`` None:
settle in itself again; also the constructor's ``settlement={"jpy": ("usd", "0.0067")}``); inspection
``charges()``, ``refunds()``, ``disputes()``, ``subscriptions()``, ``invoices()``, ``invoice_payments()``,
``payouts()``, ``balance_transactions()`` (oldest first), ``balance()`` (net per currency),
``settlements()``.

Control (JSON; see also ``base``):
- ``GET /_sandbox/customers`` | ``/_sandbox/setup_intents`` | ``/_sandbox/payment_intents`` |
  ``/_sandbox/events`` | ``/_sandbox/webhooks`` | ``/_sandbox/api_calls`` → ``{"data": [...]}``
- ``POST /_sandbox/setup_intents/{id}/complete`` ``{"payment_method": "pm_card_visa"}`` → the SetupIntent
- ``POST /_sandbox/webhooks/hold`` | ``/_sandbox/webhooks/release`` → ``{"held"}``
- ``POST /_sandbox/webhooks/wait`` ``{"timeout_s": 5}`` → ``{"pending": 0}`` (504 if not drained in time)
- ``POST /_sandbox/events/{id}/redeliver`` → ``{"status", "body"}``
- ``POST /_sandbox/faults/commit_then_timeout`` ``{"count": 1, "delay_s": null}`` → ``{"queued": true}``
- ``GET /_sandbox/charges`` | ``/refunds`` | ``/disputes`` | ``/subscriptions`` | ``/invoices`` |
  ``/invoice_payments`` | ``/payouts`` | ``/balance_transactions`` → ``{"data": [...]}`` (oldest first)
- ``POST /_sandbox/refunds/fail_next`` ``{"count": 1}`` → ``{"queued": true}``
- ``POST /_sandbox/charges/{id}/dispute`` ``{"reason": "fraudulent"}`` → the dispute
- ``POST /_sandbox/disputes/{id}/close`` ``{"outcome": "won"|"lost"}`` → the dispute
- ``POST /_sandbox/subscriptions`` ``{"customer", "amount", "currency", "interval", "metadata"}`` → the
  subscription; ``POST /_sandbox/subscriptions/{id}/renew`` ``{"succeed": true}`` → the invoice
- ``POST /_sandbox/payouts`` ``{"currency": null}`` → the payout; ``POST /_sandbox/payouts/every_currency``
  → ``{"data": [payouts]}``
- ``POST /_sandbox/settlement`` ``{"currency": "jpy", "into": "usd", "rate": "0.0067"}`` (``into`` null or
  equal to ``currency``, or ``rate`` null: no conversion) and ``GET /_sandbox/settlement`` →
  ``{"data": {"jpy": {"into": "usd", "rate": "0.0067"}}}``
"""

from __future__ import annotations

import base64
import calendar
import collections
import copy
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_reply
from shared.money import convert, from_stripe, to_stripe
from shared.providers.stripe import signature_header

log = logging.getLogger("localcloud.sandboxes.stripe")

#: The API version the sandbox's webhook endpoint is pinned to (the SDK's pinned version).
API_VERSION = "2026-10-28.endive"
IDEMPOTENCY_TTL_S = 24 * 3600
_ALNUM = string.ascii_letters + string.digits
_DOC = "https://stripe.com/docs/error-codes/"
_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"}
)
_CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
# Stripe's amounts for these ISO zero-decimal currencies are in hundredths (whole units only).
_HUNDREDTHS_ONLY = frozenset({"isk", "ugx"})


@dataclass(frozen=True)
class SandboxCard:
    brand: str
    last4: str
    code: str | None = None  # None: the charge succeeds
    decline_code: str | None = None
    message: str | None = None


TEST_CARDS: dict[str, SandboxCard] = {
    "pm_card_visa": SandboxCard("visa", "4242"),
    "pm_card_mastercard": SandboxCard("mastercard", "4444"),
    "pm_card_chargeDeclined": SandboxCard(
        "visa", "0002", "card_declined", "generic_decline", "Your card was declined."
    ),
    "pm_card_chargeDeclinedInsufficientFunds": SandboxCard(
        "visa", "9995", "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": SandboxCard(
        "visa", "0069", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedLostCard": SandboxCard(
        "visa", "9987", "card_declined", "lost_card", "Your card was declined."
    ),
    "pm_card_chargeCustomerFail": SandboxCard(
        "visa", "0341", "card_declined", "generic_decline", "Your card was declined."
    ),
}

_COMMON_PARAMS = frozenset({"expand"})
_CUSTOMER_PARAMS = _COMMON_PARAMS | {"name", "email", "description", "phone", "metadata", "address"}
_SETUP_INTENT_PARAMS = _COMMON_PARAMS | {
    "customer",
    "usage",
    "metadata",
    "description",
    "payment_method_types",
    "automatic_payment_methods",
}
_PAYMENT_INTENT_PARAMS = _COMMON_PARAMS | {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "payment_method_types",
    "automatic_payment_methods",
    "capture_method",
    "confirm",
    "off_session",
    "metadata",
    "description",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor_suffix",
    "error_on_requires_action",
}
_CAPTURE_PARAMS = _COMMON_PARAMS | {"amount_to_capture", "metadata"}
_CANCEL_PARAMS = _COMMON_PARAMS | {"cancellation_reason"}
_REFUND_PARAMS = _COMMON_PARAMS | {"payment_intent", "charge", "amount", "metadata", "reason"}
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_BALANCE_TXN_LIST_PARAMS = _COMMON_PARAMS | {
    "payout",
    "limit",
    "starting_after",
    "ending_before",
    "type",
    "currency",
    "source",
}
_INVOICE_PAYMENT_LIST_PARAMS = _COMMON_PARAMS | {
    "invoice",
    "payment",
    "status",
    "limit",
    "starting_after",
    "ending_before",
}
_INVOICE_PAYMENT_FILTER_PARAMS = frozenset({"type", "payment_intent", "payment_record"})
_INVOICE_PAYMENT_STATUSES = frozenset({"canceled", "open", "paid"})
_DISPUTE_REASONS = frozenset(
    {
        "bank_cannot_process",
        "check_returned",
        "credit_not_processed",
        "customer_initiated",
        "debit_not_authorized",
        "duplicate",
        "fraudulent",
        "general",
        "incorrect_account_details",
        "insufficient_funds",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
    }
)
_INTERVALS = frozenset({"day", "week", "month", "year"})
#: What a lost dispute costs, in the smallest unit of the dispute's currency (15.00 USD on Stripe).
DISPUTE_FEE = 1500


class ApiError(Exception):
    """A Stripe error reply. ``executed``: the endpoint ran (its reply is stored under the Idempotency-Key,
    as Stripe stores card declines and state errors but not validation failures)."""

    def __init__(self, status: int, error: dict[str, Any], *, executed: bool = False) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.executed = executed


class _ConnectionDropped(BaseException):
    """Raised out of ``dispatch`` to close the connection without a reply. A ``BaseException`` so that the
    base handler's ``except Exception`` (→ 500) does not turn it into a reply."""


def _invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = _DOC + code.replace("_", "-")
    if param:
        error["param"] = param
    return ApiError(status, error)


def _missing(what: str, object_id: str, param: str | None = None) -> ApiError:
    return _invalid(
        f"No such {what}: '{object_id}'", param=param, code="resource_missing", status=400 if param else 404
    )


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALNUM) for _ in range(length))


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: ``a[b][c]=v`` → nested dicts, ``a[0]=v`` / ``a[]=v`` → lists."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _invalid("Invalid request body: not UTF-8") from None
    return _nest(pairs)


def _nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket notation decoded (see ``decode_form``): also a GET's query string, which Stripe reads the
    same way (``payment[type]=payment_intent`` → ``{"payment": {"type": "payment_intent"}}``)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise _invalid(f"Invalid parameter name: {key}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for index, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if index == len(parts) - 1:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise _invalid(f"Invalid array or hash: {key}", param=parts[0])
                node = child
    return _lists(root)


def _lists(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _lists(value)
            if value and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
        out[key] = value
    return out


_CLAUSE = re.compile(
    r"""\s*(?:(?P<meta>metadata\[(?P<q>['"])(?P<mkey>.*?)(?P=q)\])|(?P<field>[a-z_]+))\s*"""
    r"""(?P<op>[:~])\s*(?P<vq>['"])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)\s*""",
    re.DOTALL,
)


def _search_filter(query: str) -> Callable[[dict[str, Any]], bool]:
    """A subset of Stripe's search query language for customers: ``field:'v'``, ``field~'v'``,
    ``metadata['k']:'v'``, joined by all-AND or all-OR."""
    clauses: list[tuple[str | None, str | None, str, str]] = []
    joins: set[str] = set()
    pos = 0
    while True:
        match = _CLAUSE.match(query, pos)
        if match is None:
            raise _invalid(f"Invalid search query: {query!r}", param="query", code="search_query_invalid")
        value = re.sub(r"\\(.)", r"\1", match.group("value"))
        clauses.append((match.group("mkey"), match.group("field"), match.group("op"), value))
        pos = match.end()
        if pos >= len(query):
            break
        join = re.match(r"(AND|OR)\s+", query[pos:], re.IGNORECASE)
        if join is None:
            raise _invalid(f"Invalid search query: {query!r}", param="query", code="search_query_invalid")
        joins.add(join.group(1).upper())
        pos += join.end()
    if len(joins) > 1:
        raise _invalid("Search queries cannot mix AND and OR", param="query", code="search_query_invalid")

    def test(obj: dict[str, Any], clause: tuple[str | None, str | None, str, str]) -> bool:
        meta_key, field_name, op, value = clause
        if meta_key is not None:
            actual = (obj.get("metadata") or {}).get(meta_key)
        elif field_name in ("email", "name", "phone", "description", "created"):
            actual = obj.get(field_name)
        else:
            raise _invalid(
                f"Field {field_name!r} is not searchable", param="query", code="search_query_invalid"
            )
        if actual is None:
            return False
        if op == ":":
            return str(actual).lower() == value.lower() if field_name == "email" else str(actual) == value
        return value.lower() in str(actual).lower()

    combine = any if joins == {"OR"} else all
    for clause in clauses:  # validate fields now, not on the first object
        test({}, clause)
    return lambda obj: combine(test(obj, clause) for clause in clauses)


@dataclass
class _Call:
    """The API request being served: what its events record under ``request``."""

    request_id: str
    idempotency_key: str | None
    params: dict[str, Any]


@dataclass
class _Stored:
    endpoint: str
    fingerprint: str
    created: float
    reply: Reply | None = None  # None while the first request is still running


@dataclass
class _CommitFault:
    remaining: int
    delay_s: float | None


@dataclass
class _Outgoing:
    event_id: str
    due: float


@dataclass
class _PaymentMethod:
    obj: dict[str, Any]
    card: SandboxCard


@dataclass
class _Webhooks:
    queue: collections.deque[_Outgoing] = field(default_factory=collections.deque)
    held: bool = False
    in_flight: int = 0
    stopping: bool = False


Handler = Callable[[_Call, "re.Match[str]"], dict[str, Any]]


class StripeSandbox(Sandbox):
    vendor = "stripe"

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        api_key: str,
        webhook_delay_s: float = 0.05,
        api_version: str = API_VERSION,
        settlement: dict[str, tuple[str, str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``settlement``: ``{"jpy": ("usd", "0.0067")}``, as ``settle_into`` for each entry."""
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.webhook_delay_s = webhook_delay_s
        self.api_version = api_version
        self._customers: dict[str, dict[str, Any]] = {}
        self._setup_intents: dict[str, dict[str, Any]] = {}
        self._payment_intents: dict[str, dict[str, Any]] = {}
        self._payment_methods: dict[str, _PaymentMethod] = {}
        self._charges: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._invoice_payments: dict[str, dict[str, Any]] = {}  # oldest first
        self._payouts: dict[str, dict[str, Any]] = {}
        self._balance_txns: dict[str, dict[str, Any]] = {}  # oldest first
        self._paid_out_in: dict[str, str] = {}  # txn_ -> po_ that paid it out
        self._settlement: dict[str, tuple[str, Decimal]] = {}  # charge currency -> (balance currency, rate)
        self._failing_refunds = 0
        self._events: dict[str, dict[str, Any]] = {}
        self._event_bodies: dict[str, bytes] = {}
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._commit_faults: list[_CommitFault] = []
        self._api_calls: list[dict[str, Any]] = []
        self._sent: list[dict[str, Any]] = []
        self._wh = _Webhooks()
        self._wh_cond = threading.Condition()
        self._worker: threading.Thread | None = None
        api: list[tuple[str, str, Handler]] = [
            ("POST", r"^/v1/customers$", self._create_customer),
            ("GET", r"^/v1/customers/search$", self._search_customers),
            ("GET", r"^/v1/customers/([^/]+)$", self._get_customer),
            ("POST", r"^/v1/setup_intents$", self._create_setup_intent),
            ("POST", r"^/v1/payment_intents$", self._create_payment_intent),
            ("GET", r"^/v1/payment_intents/([^/]+)$", self._get_payment_intent),
            ("POST", r"^/v1/payment_intents/([^/]+)/capture$", self._capture),
            ("POST", r"^/v1/payment_intents/([^/]+)/cancel$", self._cancel),
            ("POST", r"^/v1/refunds$", self._create_refund),
            ("GET", r"^/v1/refunds/([^/]+)$", self._getter(self._refunds, "refund")),
            ("GET", r"^/v1/charges/([^/]+)$", self._getter(self._charges, "charge")),
            ("GET", r"^/v1/disputes/([^/]+)$", self._getter(self._disputes, "dispute")),
            ("GET", r"^/v1/invoices/([^/]+)$", self._getter(self._invoices, "invoice")),
            ("GET", r"^/v1/invoice_payments$", self._list_invoice_payments),
            (
                "GET",
                r"^/v1/invoice_payments/([^/]+)$",
                self._getter(self._invoice_payments, "invoice_payment"),
            ),
            ("GET", r"^/v1/subscriptions/([^/]+)$", self._getter(self._subscriptions, "subscription")),
            ("GET", r"^/v1/payouts/([^/]+)$", self._getter(self._payouts, "payout")),
            ("GET", r"^/v1/balance_transactions$", self._list_balance_transactions),
            (
                "GET",
                r"^/v1/balance_transactions/([^/]+)$",
                self._getter(self._balance_txns, "balance_transaction"),
            ),
        ]
        self.api_routes += [(method, re.compile(path), self._api(fn)) for method, path, fn in api]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/customers$"), self._c_list(self.customers)),
            ("GET", re.compile(r"^/_sandbox/setup_intents$"), self._c_list(self.setup_intents)),
            ("GET", re.compile(r"^/_sandbox/payment_intents$"), self._c_list(self.payment_intents)),
            ("GET", re.compile(r"^/_sandbox/events$"), self._c_list(self.events)),
            ("GET", re.compile(r"^/_sandbox/webhooks$"), self._c_list(lambda: self.webhooks_sent)),
            ("GET", re.compile(r"^/_sandbox/api_calls$"), self._c_list(lambda: self.api_calls)),
            ("POST", re.compile(r"^/_sandbox/setup_intents/([^/]+)/complete$"), self._c_complete_setup),
            ("POST", re.compile(r"^/_sandbox/webhooks/hold$"), self._c_hold),
            ("POST", re.compile(r"^/_sandbox/webhooks/release$"), self._c_release),
            ("POST", re.compile(r"^/_sandbox/webhooks/wait$"), self._c_wait),
            ("POST", re.compile(r"^/_sandbox/events/([^/]+)/redeliver$"), self._c_redeliver_event),
            ("POST", re.compile(r"^/_sandbox/faults/commit_then_timeout$"), self._c_commit_then_timeout),
            ("GET", re.compile(r"^/_sandbox/charges$"), self._c_list(self.charges)),
            ("GET", re.compile(r"^/_sandbox/refunds$"), self._c_list(self.refunds)),
            ("GET", re.compile(r"^/_sandbox/disputes$"), self._c_list(self.disputes)),
            ("GET", re.compile(r"^/_sandbox/subscriptions$"), self._c_list(self.subscriptions)),
            ("GET", re.compile(r"^/_sandbox/invoices$"), self._c_list(self.invoices)),
            ("GET", re.compile(r"^/_sandbox/invoice_payments$"), self._c_list(self.invoice_payments)),
            ("GET", re.compile(r"^/_sandbox/payouts$"), self._c_list(self.payouts)),
            ("GET", re.compile(r"^/_sandbox/balance_transactions$"), self._c_list(self.balance_transactions)),
            ("POST", re.compile(r"^/_sandbox/refunds/fail_next$"), self._c_fail_next_refund),
            ("POST", re.compile(r"^/_sandbox/charges/([^/]+)/dispute$"), self._c_open_dispute),
            ("POST", re.compile(r"^/_sandbox/disputes/([^/]+)/close$"), self._c_close_dispute),
            ("POST", re.compile(r"^/_sandbox/subscriptions$"), self._c_create_subscription),
            ("POST", re.compile(r"^/_sandbox/subscriptions/([^/]+)/renew$"), self._c_renew),
            ("POST", re.compile(r"^/_sandbox/payouts$"), self._c_create_payout),
            ("POST", re.compile(r"^/_sandbox/payouts/every_currency$"), self._c_create_payouts),
            ("GET", re.compile(r"^/_sandbox/settlement$"), self._c_settlements),
            ("POST", re.compile(r"^/_sandbox/settlement$"), self._c_settle_into),
        ]
        for currency, (into, rate) in (settlement or {}).items():
            self.settle_into(currency, into, rate)

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> StripeSandbox:
        super().start()
        server = self._server
        handler = server.RequestHandlerClass if server is not None else None
        if (
            server is not None
            and isinstance(handler, type)
            and issubclass(handler, BaseHTTPRequestHandler)
            and not getattr(handler, "_drops_connections", False)
        ):
            server.RequestHandlerClass = _dropping(handler)
        with self._wh_cond:
            self._wh.stopping = False
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._deliver_loop, name="stripe-webhooks", daemon=True
                )
                self._worker.start()
        return self

    def stop(self) -> None:
        with self._wh_cond:
            self._wh.stopping = True
            self._wh_cond.notify_all()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(timeout=5)
        super().stop()

    def __enter__(self) -> StripeSandbox:
        return self.start()

    # --- Python control API --------------------------------------------------------------------------

    def complete_setup(self, setup_intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """What the customer does in the browser: confirm the SetupIntent with a card. Mints a PaymentMethod
        attached to the customer, marks the SetupIntent succeeded and sends ``setup_intent.succeeded``."""
        with self._lock:
            seti = self._setup_intents[setup_intent_id]
            if seti["status"] == "succeeded":
                raise ValueError(f"{setup_intent_id} already succeeded")
            card = self._card_for(payment_method, param="payment_method")
            pm = self._mint_payment_method(card, customer=seti["customer"])
            seti.update(status="succeeded", payment_method=pm["id"], latest_attempt=new_id("setatt", 24))
            self._emit("setup_intent.succeeded", seti, None)
            return copy.deepcopy(seti)

    # --- after the sale: refunds, disputes, renewals, payouts (Python control API) -----------------------

    def settle_into(self, currency: str, into: str | None, rate: Decimal | str | float | None) -> None:
        """From now on, charges in ``currency`` settle into the ``into`` balance at ``rate`` (major units:
        1 ``currency`` = ``rate`` ``into``; a float is read through its repr): their balance transactions
        (and those of their refunds and lost disputes) are in ``into``, with ``exchange_rate`` = ``rate``
        and a 1% currency conversion fee on a charge. Calling again changes the rate for later
        transactions; ``into`` equal to ``currency``, or None, or ``rate`` None ends the conversion."""
        code = currency.lower()
        target = (into or code).lower()
        for value in (code, target):
            if not re.fullmatch(r"[a-z]{3}", value):
                raise ValueError(f"invalid currency {value!r}")
        with self._lock:
            if target == code or rate is None:
                self._settlement.pop(code, None)
                return
            exact = _rate(rate)
            self._settlement[code] = (target, exact)

    def settlements(self) -> dict[str, dict[str, str]]:
        """The conversions in force: ``{"jpy": {"into": "usd", "rate": "0.0067"}}``."""
        with self._lock:
            return {c: {"into": into, "rate": str(rate)} for c, (into, rate) in self._settlement.items()}

    def fail_next_refund(self, count: int = 1) -> None:
        """The next ``count`` refunds end ``failed`` (``failure_reason`` ``expired_or_canceled_card``): the
        API answers the refund with that status, ``refund.created`` and ``refund.failed`` are sent, and
        neither the charge nor the balance changes."""
        if count < 1:
            raise ValueError("fail_next_refund needs count >= 1")
        with self._lock:
            self._failing_refunds += count

    def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> str:
        """The cardholder disputes a captured charge: a ``dp_...`` over what is left of it after refunds,
        status ``needs_response``, evidence due in 7 days; sends ``charge.dispute.created``."""
        if reason not in _DISPUTE_REASONS:
            raise ValueError(f"unknown dispute reason {reason!r}")
        with self._lock:
            charge = self._charges[charge_id]
            if not charge["captured"]:
                raise ValueError(f"{charge_id} was not captured: there is nothing to dispute")
            if any(d["charge"] == charge_id for d in self._disputes.values()):
                raise ValueError(f"{charge_id} is already disputed")
            amount = charge["amount_captured"] - charge["amount_refunded"]
            if amount <= 0:
                raise ValueError(f"{charge_id} was refunded in full: there is nothing to dispute")
            now = int(time.time())
            dispute: dict[str, Any] = {
                "id": new_id("dp", 24),
                "object": "dispute",
                "amount": amount,
                "balance_transactions": [],
                "charge": charge_id,
                "created": now,
                "currency": charge["currency"],
                "evidence": {},
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "payment_method_details": {"card": {"brand": _card_brand(charge)}, "type": "card"},
                "reason": reason,
                "status": "needs_response",
            }
            self._disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute, None)
            return str(dispute["id"])

    def close_dispute(self, dispute_id: str, outcome: str = "won") -> dict[str, Any]:
        """The issuer decides: ``won`` (the funds stay) or ``lost`` (the disputed amount and a 15.00 dispute
        fee, 1500 minor units of the dispute's currency, leave the balance: an ``adjustment`` balance
        transaction). Sends ``charge.dispute.closed``; returns the dispute."""
        if outcome not in ("won", "lost"):
            raise ValueError('outcome is "won" or "lost"')
        with self._lock:
            dispute = self._disputes[dispute_id]
            if dispute["status"] in ("won", "lost", "warning_closed"):
                raise ValueError(f"{dispute_id} is already closed ({dispute['status']})")
            previous = {"status": dispute["status"]}
            if outcome == "lost":
                amount, currency, rate = self._in_balance_of(
                    self._charges[dispute["charge"]], dispute["amount"], dispute["currency"]
                )
                txn = self._add_balance_txn(
                    "adjustment",
                    -amount,
                    currency,
                    source=dispute_id,
                    fee=DISPUTE_FEE,
                    description=f"Chargeback withdrawal for {dispute['charge']}",
                    reporting_category="dispute",
                    fee_description="Dispute fee",
                    exchange_rate=rate,
                )
                dispute["balance_transactions"] = [copy.deepcopy(txn)]
            dispute["status"] = outcome
            self._emit("charge.dispute.closed", dispute, None, previous)
            return copy.deepcopy(dispute)

    def create_subscription(
        self,
        customer_id: str,
        amount: int,
        currency: str,
        interval: str = "month",
        metadata: dict[str, str] | None = None,
    ) -> str:
        """An active ``sub_...`` billing ``amount`` (Stripe's smallest unit) every ``interval`` (day, week,
        month, year), its first period starting now and taken as paid (no invoice is made for it). Sends
        ``customer.subscription.created``. ``renew`` bills the following periods."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise ValueError("amount is a positive integer in Stripe's smallest unit")
        currency = currency.lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise ValueError(f"invalid currency {currency!r}")
        if interval not in _INTERVALS:
            raise ValueError(f"interval is one of {sorted(_INTERVALS)}")
        with self._lock:
            if customer_id not in self._customers:
                raise KeyError(customer_id)
            now = int(time.time())
            sub_id = new_id("sub", 24)
            price = {
                "id": new_id("price", 24),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "currency": currency,
                "product": new_id("prod", 14),
                "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"},
                "type": "recurring",
                "unit_amount": amount,
            }
            sub: dict[str, Any] = {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": now,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "collection_method": "charge_automatically",
                "created": now,
                "currency": currency,
                "customer": customer_id,
                "default_payment_method": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": new_id("si", 14),
                            "object": "subscription_item",
                            "created": now,
                            "current_period_start": now,
                            "current_period_end": _add_interval(now, interval),
                            "metadata": {},
                            "price": price,
                            "quantity": 1,
                            "subscription": sub_id,
                        }
                    ],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": dict(metadata or {}),
                "start_date": now,
                "status": "active",
            }
            self._subscriptions[sub_id] = sub
            self._emit("customer.subscription.created", sub, None)
            return sub_id

    def renew(self, subscription_id: str, *, succeed: bool = True) -> str:
        """The subscription reaches the end of its period: the period moves on, and an invoice for the new
        period (``billing_reason`` ``subscription_cycle``) is charged off session by a new PaymentIntent,
        which an InvoicePayment links to the invoice (``paid``, or ``open`` if declined). Paid: the charge
        books a balance transaction, and ``payment_intent.succeeded``, ``invoice.paid`` and
        ``invoice.payment_succeeded`` are sent (``customer.subscription.updated`` too if it was past due).
        Declined (``succeed=False``): ``payment_intent.payment_failed``, ``invoice.payment_failed`` (the
        invoice stays ``open``, ``attempt_count`` 1, ``next_payment_attempt`` in 3 days) and, if it was
        active, ``customer.subscription.updated`` to ``past_due``. Returns the ``in_...`` id."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            if sub["status"] == "canceled":
                raise ValueError(f"{subscription_id} is canceled")
            item = sub["items"]["data"][0]
            price = item["price"]
            amount, currency = int(price["unit_amount"]), str(price["currency"])
            start = int(item["current_period_end"])
            end = _add_interval(start, price["recurring"]["interval"])
            item.update(current_period_start=start, current_period_end=end)
            customer = self._customers[sub["customer"]]
            now = int(time.time())
            card = TEST_CARDS["pm_card_visa" if succeed else "pm_card_chargeDeclinedInsufficientFunds"]
            pm = self._mint_payment_method(card, customer=sub["customer"])
            pi = self._new_payment_intent(amount, currency, customer=sub["customer"], pm=pm)
            invoice_id = new_id("in", 24)
            pi["description"] = "Subscription update"
            number = 1 + sum(1 for i in self._invoices.values() if i["customer"] == sub["customer"])
            line = {
                "id": new_id("il", 24),
                "object": "line_item",
                "amount": amount,
                "currency": currency,
                "description": f"1 x Subscription (at {amount} {currency} / {price['recurring']['interval']})",
                "invoice": invoice_id,
                "metadata": {},
                "parent": {
                    "type": "subscription_item_details",
                    "subscription_item_details": {
                        "subscription": subscription_id,
                        "subscription_item": item["id"],
                    },
                },
                "period": {"start": start, "end": end},
                "pricing": {"price_details": {"price": price["id"], "product": price["product"]}},
                "quantity": 1,
            }
            invoice: dict[str, Any] = {
                "id": invoice_id,
                "object": "invoice",
                "account_country": "US",
                "amount_due": amount,
                "amount_paid": 0,
                "amount_remaining": amount,
                "attempt_count": 1,
                "attempted": True,
                "auto_advance": True,
                "billing_reason": "subscription_cycle",
                "collection_method": "charge_automatically",
                "created": now,
                "currency": currency,
                "customer": sub["customer"],
                "customer_email": customer.get("email"),
                "customer_name": customer.get("name"),
                "lines": {
                    "object": "list",
                    "data": [line],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/invoices/{invoice_id}/lines",
                },
                "livemode": False,
                "metadata": {},
                "next_payment_attempt": None,
                "number": f"{customer['invoice_prefix']}-{number:04d}",
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {
                        "metadata": copy.deepcopy(sub["metadata"]),
                        "subscription": subscription_id,
                    },
                },
                "payment_intent": pi["id"],
                "payments": {
                    "object": "list",
                    "data": [],  # the InvoicePayment below, as it ends
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/invoice_payments?invoice={invoice_id}",
                },
                "period_end": end,
                "period_start": start,
                "status": "open",
                "status_transitions": {
                    "finalized_at": now,
                    "marked_uncollectible_at": None,
                    "paid_at": None,
                    "voided_at": None,
                },
                "subtotal": amount,
                "total": amount,
            }
            payment: dict[str, Any] = {
                "id": new_id("inpay", 24),
                "object": "invoice_payment",
                "amount_paid": None,
                "amount_requested": amount,
                "created": now,
                "currency": currency,
                "invoice": invoice_id,
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
                "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            }
            self._invoices[invoice_id] = invoice
            self._invoice_payments[payment["id"]] = payment
            sub["latest_invoice"] = invoice_id
            charge = self._new_charge(pi, pm, description="Subscription update")
            if succeed:
                self._capture_charge(charge, amount)
                pi.update(status="succeeded", amount_received=amount)
                invoice.update(status="paid", amount_paid=amount, amount_remaining=0)
                invoice["status_transitions"]["paid_at"] = now
                payment.update(status="paid", amount_paid=amount)
                payment["status_transitions"]["paid_at"] = now
                invoice["payments"]["data"] = [copy.deepcopy(payment)]
                self._emit("payment_intent.succeeded", pi, None)
                self._emit("invoice.paid", invoice, None)
                self._emit("invoice.payment_succeeded", invoice, None)
                if sub["status"] != "active":
                    previous = {"status": sub["status"]}
                    sub["status"] = "active"
                    self._emit("customer.subscription.updated", sub, None, previous)
            else:
                self._decline(pi, charge, card, pm)
                invoice["next_payment_attempt"] = now + 3 * 86400
                invoice["payments"]["data"] = [copy.deepcopy(payment)]  # still open: the invoice is unpaid
                self._emit("payment_intent.payment_failed", pi, None)
                self._emit("invoice.payment_failed", invoice, None)
                if sub["status"] == "active":
                    sub["status"] = "past_due"
                    self._emit("customer.subscription.updated", sub, None, {"status": "active"})
            return invoice_id

    def create_payout(self, currency: str | None = None) -> str:
        """Stripe's scheduled payout: every available balance transaction in ``currency`` not yet paid out
        goes out in one ``po_...`` of the sum of their nets, with its own ``payout`` balance transaction
        (minus that sum); sends ``payout.created`` and ``payout.paid``. Without ``currency``: the one
        currency with unpaid transactions (``ValueError`` if there are several: see ``create_payouts``),
        also when their sum is not positive."""
        with self._lock:
            currencies = self._unpaid_currencies()
            if currency is None:
                if len(currencies) != 1:
                    raise ValueError(
                        f"unpaid balance transactions in {currencies or 'no currency'}: name the currency "
                        "or call create_payouts()"
                    )
                currency = currencies[0]
            return self._pay_out(currency.lower())

    def create_payouts(self) -> list[str]:
        """One payout per currency whose unpaid balance is positive (a negative balance stays, as on Stripe)."""
        with self._lock:
            ids: list[str] = []
            for currency in self._unpaid_currencies():
                if sum(t["net"] for t in self._unpaid(currency)) > 0:
                    ids.append(self._pay_out(currency))
            return ids

    def commit_then_timeout_next(self, count: int = 1, *, delay_s: float | None = None) -> None:
        """The next ``count`` POSTs are applied (reply stored under their Idempotency-Key), but the reply is
        lost: the connection is dropped, or with ``delay_s`` the reply comes only after that many seconds."""
        if count < 1 or (delay_s is not None and delay_s < 0):
            raise ValueError("commit_then_timeout_next needs count >= 1 and delay_s >= 0")
        with self._lock:
            self._commit_faults.append(_CommitFault(count, delay_s))

    def hold_webhooks(self) -> None:
        """Events from now on stay queued (in order) until ``release_webhooks``."""
        with self._wh_cond:
            self._wh.held = True

    def release_webhooks(self) -> None:
        with self._wh_cond:
            self._wh.held = False
            self._wh_cond.notify_all()

    def wait_for_webhooks(self, timeout_s: float = 5.0) -> None:
        """Block until every queued event was delivered (``TimeoutError`` if not within ``timeout_s``,
        e.g. while held)."""
        deadline = time.monotonic() + timeout_s
        with self._wh_cond:
            while self._wh.queue or self._wh.in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._wh.queue) + self._wh.in_flight} webhook(s) still pending")
                self._wh_cond.wait(remaining)

    def redeliver(self, event_id: str) -> tuple[int, str]:
        """POST the event again now (same body, signed anew), as Stripe's retry or the dashboard's Resend."""
        with self._lock:
            body = self._event_bodies[event_id]
        return self._deliver(event_id, body)

    def redelivery_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return self._signed_headers(body)  # Stripe signs every attempt with a fresh timestamp

    # --- inspection ----------------------------------------------------------------------------------

    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._customers.values()))

    def setup_intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._setup_intents.values()))

    def payment_intents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._payment_intents.values()))

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._payment_intents[payment_intent_id])

    def charges(self) -> list[dict[str, Any]]:
        return self._snapshot(self._charges)

    def charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._charges[charge_id])

    def refunds(self) -> list[dict[str, Any]]:
        return self._snapshot(self._refunds)

    def disputes(self) -> list[dict[str, Any]]:
        return self._snapshot(self._disputes)

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._snapshot(self._subscriptions)

    def invoices(self) -> list[dict[str, Any]]:
        return self._snapshot(self._invoices)

    def invoice_payments(self) -> list[dict[str, Any]]:
        """Every InvoicePayment (one per invoice charged), oldest first (the API lists newest first)."""
        return self._snapshot(self._invoice_payments)

    def payouts(self) -> list[dict[str, Any]]:
        return self._snapshot(self._payouts)

    def balance_transactions(self) -> list[dict[str, Any]]:
        """Every balance transaction, oldest first (the API lists newest first)."""
        return self._snapshot(self._balance_txns)

    def _snapshot(self, store: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of every object in one of the sandbox's stores, oldest first."""
        with self._lock:
            return copy.deepcopy(list(store.values()))

    def balance(self) -> dict[str, int]:
        """Available balance per currency: the sum of every balance transaction's net."""
        with self._lock:
            totals: dict[str, int] = {}
            for txn in self._balance_txns.values():
                totals[txn["currency"]] = totals.get(txn["currency"], 0) + txn["net"]
            return totals

    def events(self) -> list[dict[str, Any]]:
        """Every event created so far (delivered or not), oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._events.values()))

    @property
    def webhooks_sent(self) -> list[dict[str, Any]]:
        """Delivery attempts: ``{"event_id", "type", "status" (None if unreachable), "response", "error",
        "attempt"}``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._sent)

    @property
    def api_calls(self) -> list[dict[str, Any]]:
        """API requests as received, faulted ones included: ``{"method", "path", "params" (decoded form or
        query; None if undecodable), "idempotency_key"}``. Never the API key."""
        with self._lock:
            return copy.deepcopy(self._api_calls)

    # --- Stripe's error shape ---

    def dispatch(self, request: Request) -> Reply:
        if not (request.path == "/_sandbox" or request.path.startswith("/_sandbox/")):
            try:
                params: dict[str, Any] | None = (
                    decode_form(request.body) if request.method == "POST" else dict(request.query)
                )
            except ApiError:
                params = None
            with self._lock:
                self._api_calls.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "params": params,
                        "idempotency_key": request.headers.get("Idempotency-Key"),
                    }
                )
        return super().dispatch(request)

    # --- Stripe's error shape ------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        if status == 429:
            error: dict[str, Any] = {
                "type": "invalid_request_error",
                "code": code or "rate_limit",
                "message": message
                or "Too many requests hit the API too quickly. We recommend an exponential backoff of your "
                "requests.",
            }
        elif status >= 500:
            error = {"type": "api_error", "message": message or "Something went wrong on Stripe's end."}
            if code:
                error["code"] = code
        elif status == 409:
            error = {
                "type": "idempotency_error",
                "message": message
                or "There is currently another in-progress request using this Idempotent Key. Please try again "
                "later.",
            }
        elif status in (404, 405) and message is None:
            error = {"type": "invalid_request_error", "message": "Unrecognized request URL."}
        else:
            error = {"type": "invalid_request_error", "message": message or "Invalid request."}
            if code:
                error["code"] = code
        return json_reply(status, {"error": error}, {"Request-Id": new_id("req", 14)})

    # --- the API wrapper: auth, parameters, idempotency, commit-then-timeout ---------------------------

    def _api(self, fn: Handler) -> Callable[[Request, re.Match[str]], Reply]:
        def serve(request: Request, match: re.Match[str]) -> Reply:
            request_id = new_id("req", 14)
            try:
                api_key = self._authenticate(request)
                if request.method == "POST":
                    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
                    if request.body and content_type != "application/x-www-form-urlencoded":
                        raise _invalid(
                            "Stripe's API takes form-encoded bodies (application/x-www-form-urlencoded)"
                        )
                    params = decode_form(request.body)
                else:
                    params = _nest(request.query.items())
            except ApiError as exc:
                return self._error_json(exc, request_id)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            call = _Call(request_id, key, params)
            if key is None:
                reply = self._execute(fn, call, match)[0]
            else:
                reply = self._idempotent(fn, call, match, api_key, f"{request.method} {request.path}")
            if request.method == "POST" and (reply.status < 300 or reply.status == 402):
                self._maybe_lose_reply()
            return reply

        return serve

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("Authorization") or ""
        scheme, _, credential = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credential.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credential).decode().partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            raise _invalid(
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                status=401,
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            masked = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
            raise _invalid(f"Invalid API Key provided: {masked}", status=401)
        return key

    def _execute(self, fn: Handler, call: _Call, match: re.Match[str]) -> tuple[Reply, bool]:
        try:
            data = fn(call, match)
        except ApiError as exc:
            return self._error_json(exc, call.request_id), exc.executed
        except BadRequest as exc:
            return self._error_json(_invalid(str(exc)), call.request_id), False
        return json_reply(200, data, self._headers(call)), True

    def _idempotent(
        self, fn: Handler, call: _Call, match: re.Match[str], api_key: str, endpoint: str
    ) -> Reply:
        assert call.idempotency_key is not None
        slot = (api_key, call.idempotency_key)
        fingerprint = json.dumps(call.params, sort_keys=True)
        now = time.time()
        with self._lock:
            stored = self._idempotency.get(slot)
            if stored is not None and now - stored.created > IDEMPOTENCY_TTL_S:
                stored = None
            if stored is None:
                self._idempotency[slot] = _Stored(endpoint, fingerprint, now)
            elif stored.endpoint != endpoint:
                return self._idempotency_error(
                    call,
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were first used "
                    f"for ('{stored.endpoint}' vs '{endpoint}'). Try using a key other than "
                    f"'{call.idempotency_key}' if you meant to execute a different request.",
                )
            elif stored.fingerprint != fingerprint:
                return self._idempotency_error(
                    call,
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{call.idempotency_key}' if you meant to execute a "
                    "different request.",
                )
            elif stored.reply is None:
                return self._idempotency_error(
                    call,
                    409,
                    "There is currently another in-progress request using this Idempotent Key (that probably "
                    "means you submitted twice, and the other request is still going through): "
                    f"{call.idempotency_key}. Please try again later.",
                )
            else:
                replay = stored.reply
                return Reply(replay.status, replay.body, {**replay.headers, "Idempotent-Replayed": "true"})
        reply, executed = self._execute(fn, call, match)
        with self._lock:
            if executed:
                self._idempotency[slot].reply = reply
            else:
                del self._idempotency[slot]
        return reply

    def _idempotency_error(self, call: _Call, status: int, message: str) -> Reply:
        return self._error_json(
            ApiError(status, {"type": "idempotency_error", "message": message}), call.request_id
        )

    def _maybe_lose_reply(self) -> None:
        with self._lock:
            if not self._commit_faults:
                return
            fault = self._commit_faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._commit_faults.pop(0)
        if fault.delay_s is None:
            raise _ConnectionDropped
        time.sleep(fault.delay_s)

    def _headers(self, call: _Call) -> dict[str, str]:
        headers = {"Request-Id": call.request_id, "Stripe-Version": self.api_version}
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def _error_json(self, exc: ApiError, request_id: str) -> Reply:
        error = dict(exc.error)
        error.setdefault("request_log_url", f"https://dashboard.stripe.com/test/logs/{request_id}")
        return json_reply(exc.status, {"error": error}, {"Request-Id": request_id})

    # --- customers -----------------------------------------------------------------------------------

    def _create_customer(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CUSTOMER_PARAMS)
        metadata = _metadata(params)
        with self._lock:
            customer: dict[str, Any] = {
                "id": new_id("cus", 14),
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": int(time.time()),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": _opt_str(params, "description"),
                "email": _opt_str(params, "email"),
                "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": None,
                    "footer": None,
                    "rendering_options": None,
                },
                "livemode": False,
                "metadata": metadata,
                "name": _opt_str(params, "name"),
                "phone": _opt_str(params, "phone"),
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
            self._customers[customer["id"]] = customer
            return copy.deepcopy(customer)

    def _search_customers(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        query = call.params.get("query")
        if not query:
            raise _invalid("Missing required param: query.", param="query", code="parameter_missing")
        matches = _search_filter(str(query))
        limit = _int(call.params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        with self._lock:
            found = [c for c in self._customers.values() if matches(c)]
        found.sort(key=lambda c: c["created"], reverse=True)  # Stripe: newest first
        return {
            "object": "search_result",
            "data": copy.deepcopy(found[:limit]),
            "has_more": len(found) > limit,
            "next_page": None,
            "url": "/v1/customers/search",
        }

    def _get_customer(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            customer = self._customers.get(match.group(1))
            if customer is None:
                raise _missing("customer", match.group(1))
            return copy.deepcopy(customer)

    # --- setup intents -------------------------------------------------------------------------------

    def _create_setup_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _SETUP_INTENT_PARAMS)
        metadata = _metadata(params)
        usage = _opt_str(params, "usage") or "off_session"
        if usage not in ("off_session", "on_session"):
            raise _invalid(f"Invalid usage: {usage}", param="usage", code="parameter_invalid_string")
        with self._lock:
            customer = self._customer_param(params)
            seti_id = new_id("seti", 24)
            seti: dict[str, Any] = {
                "id": seti_id,
                "object": "setup_intent",
                "application": None,
                "automatic_payment_methods": None,
                "cancellation_reason": None,
                "client_secret": f"{seti_id}_secret_{new_id('x', 24)[2:]}",
                "created": int(time.time()),
                "customer": customer,
                "description": _opt_str(params, "description"),
                "last_setup_error": None,
                "latest_attempt": None,
                "livemode": False,
                "mandate": None,
                "metadata": metadata,
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_types": _list(params, "payment_method_types") or ["card"],
                "single_use_mandate": None,
                "status": "requires_payment_method",
                "usage": usage,
            }
            self._setup_intents[seti_id] = seti
            return copy.deepcopy(seti)

    # --- payment intents -----------------------------------------------------------------------------

    def _create_payment_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _PAYMENT_INTENT_PARAMS)
        metadata = _metadata(params)
        amount = _int(params, "amount")
        currency = _opt_str(params, "currency")
        if not currency:
            raise _invalid("Missing required param: currency.", param="currency", code="parameter_missing")
        currency = currency.lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(
                f"Invalid currency: {currency}.", param="currency", code="parameter_invalid_string"
            )
        if amount < 1:
            raise _invalid("Amount must be at least 1.", param="amount", code="amount_too_small")
        if currency in _HUNDREDTHS_ONLY and amount % 100:
            raise _invalid(
                f"Amounts in {currency.upper()} must be whole units: a multiple of 100.",
                param="amount",
                code="parameter_invalid_integer",
            )
        capture_method = _opt_str(params, "capture_method") or "automatic_async"
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise _invalid(
                f"Invalid capture_method: {capture_method}",
                param="capture_method",
                code="parameter_invalid_string",
            )
        confirm = _bool(params, "confirm")
        if "off_session" in params and not confirm:
            raise _invalid(
                "You can only use off_session with confirm=true.",
                param="off_session",
                code="parameter_invalid",
            )
        with self._lock:
            customer = self._customer_param(params)
            pm_param = _opt_str(params, "payment_method")
            card = self._card_for(pm_param, param="payment_method") if pm_param else None
            if confirm and card is None:
                raise _invalid(
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                    code="payment_intent_unexpected_state",
                )
            pi_id = new_id("pi", 24)
            pi: dict[str, Any] = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_details": {"tip": {}},
                "amount_received": 0,
                "application": None,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": capture_method,
                "client_secret": f"{pi_id}_secret_{new_id('x', 25)[2:]}",
                "confirmation_method": "automatic",
                "created": int(time.time()),
                "currency": currency,
                "customer": customer,
                "description": _opt_str(params, "description"),
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": metadata,
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_types": _list(params, "payment_method_types") or ["card"],
                "receipt_email": _opt_str(params, "receipt_email"),
                "setup_future_usage": _opt_str(params, "setup_future_usage"),
                "status": "requires_confirmation" if card else "requires_payment_method",
            }
            self._payment_intents[pi_id] = pi
            if not confirm or card is None or pm_param is None:
                return copy.deepcopy(pi)
            pm = self._payment_method_for(pm_param, card)
            charge_id = new_id("ch", 24)
            pi["latest_charge"] = charge_id
            if card.code is not None:
                pi["status"] = "requires_payment_method"
                pi["last_payment_error"] = {
                    "type": "card_error",
                    "code": card.code,
                    "decline_code": card.decline_code,
                    "charge": charge_id,
                    "doc_url": _DOC + card.code.replace("_", "-"),
                    "message": card.message,
                    "payment_method": copy.deepcopy(pm),
                }
                self._emit("payment_intent.payment_failed", pi, call)
                raise ApiError(
                    402,
                    {
                        "type": "card_error",
                        "code": card.code,
                        "decline_code": card.decline_code,
                        "charge": charge_id,
                        "doc_url": _DOC + card.code.replace("_", "-"),
                        "message": card.message,
                        "payment_intent": copy.deepcopy(pi),
                        "payment_method": copy.deepcopy(pm),
                    },
                    executed=True,
                )
            pi["payment_method"] = pm["id"]
            charge = self._new_charge(pi, pm)
            if capture_method == "manual":
                pi.update(status="requires_capture", amount_capturable=amount)
                self._emit("payment_intent.amount_capturable_updated", pi, call)
            else:
                self._capture_charge(charge, amount)
                pi.update(status="succeeded", amount_received=amount)
                self._emit("payment_intent.succeeded", pi, call)
            return copy.deepcopy(pi)

    def _get_payment_intent(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._payment_intent(match.group(1)))

    def _capture(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CAPTURE_PARAMS)
        with self._lock:
            pi = self._payment_intent(match.group(1))
            if pi["status"] != "requires_capture":
                raise _unexpected_state(
                    pi,
                    f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
                    "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                )
            amount = _int(params, "amount_to_capture", default=pi["amount_capturable"])
            if not 1 <= amount <= pi["amount_capturable"]:
                raise _invalid(
                    "The amount_to_capture must be at least 1 and no more than the amount_capturable.",
                    param="amount_to_capture",
                    code="amount_too_large",
                )
            if "metadata" in params:
                pi["metadata"] = {**pi["metadata"], **_metadata(params)}
                pi["metadata"] = {k: v for k, v in pi["metadata"].items() if v != ""}
            charge = self._charges.get(pi["latest_charge"] or "")
            if charge is not None:
                self._capture_charge(charge, amount)
            pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
            self._emit("payment_intent.succeeded", pi, call)
            return copy.deepcopy(pi)

    def _cancel(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CANCEL_PARAMS)
        reason = _opt_str(params, "cancellation_reason")
        if reason is not None and reason not in _CANCELLATION_REASONS:
            raise _invalid(
                f"Invalid cancellation_reason: {reason}",
                param="cancellation_reason",
                code="parameter_invalid_string",
            )
        with self._lock:
            pi = self._payment_intent(match.group(1))
            if pi["status"] not in _CANCELABLE:
                raise _unexpected_state(
                    pi,
                    f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
                    "PaymentIntent with one of the following statuses may be canceled: "
                    "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
                    "processing.",
                )
            pi.update(
                status="canceled",
                canceled_at=int(time.time()),
                cancellation_reason=reason,
                amount_capturable=0,
            )
            self._emit("payment_intent.canceled", pi, call)
            return copy.deepcopy(pi)

    # --- refunds, charges, balance transactions (API) -------------------------------------------------

    def _getter(self, store: dict[str, dict[str, Any]], what: str) -> Handler:
        def get(call: _Call, match: re.Match[str]) -> dict[str, Any]:
            with self._lock:
                obj = store.get(match.group(1))
                if obj is None:
                    raise _missing(what, match.group(1))
                return copy.deepcopy(obj)

        return get

    def _create_refund(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _REFUND_PARAMS)
        metadata = _metadata(params)
        reason = _opt_str(params, "reason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise _invalid(f"Invalid reason: {reason}", param="reason", code="parameter_invalid_string")
        amount = _int(params, "amount") if "amount" in params else None
        if amount is not None and amount < 1:
            raise _invalid("Amount must be at least 1.", param="amount", code="amount_too_small")
        pi_id, charge_id = _opt_str(params, "payment_intent"), _opt_str(params, "charge")
        if pi_id is None and charge_id is None:
            raise _invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        with self._lock:
            if pi_id is not None:
                pi = self._payment_intent_param(pi_id)
                charge = self._charges.get(pi["latest_charge"] or "")
                if charge is None or not charge["captured"] or pi["status"] != "succeeded":
                    raise _invalid(
                        f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                        param="payment_intent",
                        code="charge_not_refundable",
                    )
                if charge_id is not None and charge_id != charge["id"]:
                    raise _invalid(
                        f"The charge {charge_id} does not belong to PaymentIntent {pi_id}.", param="charge"
                    )
            else:
                assert charge_id is not None
                found = self._charges.get(charge_id)
                if found is None:
                    raise _missing("charge", charge_id, param="charge")
                charge = found
            if any(
                d["charge"] == charge["id"] and d["status"] not in ("won", "warning_closed")
                for d in self._disputes.values()
            ):
                error = _invalid(
                    f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                    code="charge_disputed",
                )
                error.executed = True
                raise error
            remaining = charge["amount_captured"] - charge["amount_refunded"]
            if remaining <= 0:
                error = _invalid(
                    f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
                )
                error.executed = True
                raise error
            if amount is None:
                amount = remaining
            elif amount > remaining:
                error = _invalid(
                    f"Refund amount ({_format(amount, charge['currency'])}) is greater than unrefunded amount "
                    f"on charge ({_format(remaining, charge['currency'])})",
                    param="amount",
                    code="amount_too_large",
                )
                error.executed = True
                raise error
            failing = self._failing_refunds > 0
            if failing:
                self._failing_refunds -= 1
            refund: dict[str, Any] = {
                "id": new_id("re", 24),
                "object": "refund",
                "amount": amount,
                "balance_transaction": None,
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "destination_details": {
                    "card": {
                        "reference": None,
                        "reference_status": "pending",
                        "reference_type": "acquirer_reference_number",
                        "type": "refund",
                    },
                    "type": "card",
                },
                "failure_balance_transaction": None,
                "failure_reason": None,
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            self._refunds[refund["id"]] = refund
            if failing:  # as on Stripe: created pending, then failed (the reply already says so)
                refund["status"] = "pending"
                self._emit("refund.created", refund, call)
                refund.update(status="failed", failure_reason="expired_or_canceled_card")
                refund["destination_details"]["card"]["reference_status"] = "unavailable"
                self._emit("refund.failed", refund, call, {"status": "pending", "failure_reason": None})
                return copy.deepcopy(refund)
            booked, currency, rate = self._in_balance_of(charge, amount, charge["currency"])
            txn = self._add_balance_txn(
                "refund",
                -booked,
                currency,
                source=refund["id"],
                fee=0,
                description="REFUND FOR CHARGE"
                + (f" ({charge['description']})" if charge["description"] else ""),
                reporting_category="refund",
                exchange_rate=rate,
            )
            refund["balance_transaction"] = txn["id"]
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
            reply = copy.deepcopy(refund)
            self._emit("refund.created", refund, call)
            self._emit(
                "charge.refunded", charge, call, {"amount_refunded": charge["amount_refunded"] - amount}
            )
            previous = {"destination_details": copy.deepcopy(refund["destination_details"])}
            refund["destination_details"]["card"].update(
                reference="".join(secrets.choice(string.digits) for _ in range(23)),
                reference_status="available",
            )
            self._emit("refund.updated", refund, call, previous)
            return reply

    def _list_balance_transactions(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _BALANCE_TXN_LIST_PARAMS)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        payout = _opt_str(params, "payout")
        kind, currency, source = (_opt_str(params, name) for name in ("type", "currency", "source"))
        after, before = _opt_str(params, "starting_after"), _opt_str(params, "ending_before")
        with self._lock:
            if payout is not None and payout not in self._payouts:
                raise _missing("payout", payout, param="payout")
            newest_first = list(reversed(self._balance_txns.values()))
            position = {txn["id"]: index for index, txn in enumerate(newest_first)}
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor is not None and cursor not in position:
                    raise _missing("balance_transaction", cursor, param=name)
            items = [
                txn
                for txn in newest_first
                if (payout is None or self._paid_out_in.get(txn["id"]) == payout)
                and (kind is None or txn["type"] == kind)
                and (currency is None or txn["currency"] == currency.lower())
                and (source is None or txn["source"] == source)
                and (after is None or position[txn["id"]] > position[after])
                and (before is None or position[txn["id"]] < position[before])
            ]
            page = items[-limit:] if before is not None and after is None else items[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(items) > limit,
                "url": "/v1/balance_transactions",
            }

    def _list_invoice_payments(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _INVOICE_PAYMENT_LIST_PARAMS)
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        invoice, status = _opt_str(params, "invoice"), _opt_str(params, "status")
        if status is not None and status not in _INVOICE_PAYMENT_STATUSES:
            raise _invalid(
                f"Invalid status: must be one of {', '.join(sorted(_INVOICE_PAYMENT_STATUSES))}",
                param="status",
                code="parameter_invalid_string",
            )
        kind, payment_intent, payment_record = _payment_filter(params)
        after, before = _opt_str(params, "starting_after"), _opt_str(params, "ending_before")
        with self._lock:
            if invoice is not None and invoice not in self._invoices:
                raise _missing("invoice", invoice, param="invoice")
            if payment_intent is not None and payment_intent not in self._payment_intents:
                raise _missing("payment_intent", payment_intent, param="payment[payment_intent]")
            if payment_record is not None:  # the sandbox records no payments outside Stripe
                raise _missing("payment_record", payment_record, param="payment[payment_record]")
            newest_first = list(reversed(self._invoice_payments.values()))
            position = {inpay["id"]: index for index, inpay in enumerate(newest_first)}
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor is not None and cursor not in position:
                    raise _missing("invoice_payment", cursor, param=name)
            items = [
                inpay
                for inpay in newest_first
                if (invoice is None or inpay["invoice"] == invoice)
                and (status is None or inpay["status"] == status)
                and (kind is None or inpay["payment"]["type"] == kind)
                and (payment_intent is None or inpay["payment"].get("payment_intent") == payment_intent)
                and (after is None or position[inpay["id"]] > position[after])
                and (before is None or position[inpay["id"]] < position[before])
            ]
            page = items[-limit:] if before is not None and after is None else items[:limit]
            return {
                "object": "list",
                "data": copy.deepcopy(page),
                "has_more": len(items) > limit,
                "url": "/v1/invoice_payments",
            }

    # --- charges, balance, payouts (call with the lock held) ---------------------------------------------

    def _payment_intent_param(self, payment_intent_id: str) -> dict[str, Any]:
        pi = self._payment_intents.get(payment_intent_id)
        if pi is None:
            raise _missing("payment_intent", payment_intent_id, param="payment_intent")
        return pi

    def _new_payment_intent(
        self, amount: int, currency: str, *, customer: str, pm: dict[str, Any]
    ) -> dict[str, Any]:
        """A PaymentIntent confirmed off session with automatic capture (a renewal's), status
        ``processing`` until the caller settles it."""
        pi_id = new_id("pi", 24)
        pi: dict[str, Any] = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{new_id('x', 25)[2:]}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": customer,
            "description": None,
            "last_payment_error": None,
            "latest_charge": new_id("ch", 24),
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": pm["id"],
            "payment_method_types": ["card"],
            "receipt_email": None,
            "setup_future_usage": None,
            "status": "processing",
        }
        self._payment_intents[pi_id] = pi
        return pi

    def _decline(
        self, pi: dict[str, Any], charge: dict[str, Any], card: SandboxCard, pm: dict[str, Any]
    ) -> None:
        assert card.code is not None
        charge.update(
            status="failed",
            paid=False,
            failure_code=card.code,
            failure_message=card.message,
            outcome={
                "network_status": "declined_by_network",
                "reason": card.decline_code,
                "type": "issuer_declined",
            },
        )
        pi["status"] = "requires_payment_method"
        pi["payment_method"] = None
        pi["last_payment_error"] = {
            "type": "card_error",
            "code": card.code,
            "decline_code": card.decline_code,
            "charge": charge["id"],
            "doc_url": _DOC + card.code.replace("_", "-"),
            "message": card.message,
            "payment_method": copy.deepcopy(pm),
        }

    def _new_charge(
        self, pi: dict[str, Any], pm: dict[str, Any], *, description: str | None = None
    ) -> dict[str, Any]:
        """The charge ``pi["latest_charge"]`` names: authorized (``captured`` false) until ``_capture_charge``."""
        card = pm.get("card") or {}
        charge: dict[str, Any] = {
            "id": pi["latest_charge"],
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "O2C HUB",
            "captured": False,
            "created": int(time.time()),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": description if description is not None else pi.get("description"),
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": copy.deepcopy(pi["metadata"]),
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": True,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "brand": card.get("brand"),
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                    "funding": card.get("funding"),
                    "last4": card.get("last4"),
                },
                "type": "card",
            },
            "receipt_url": None,
            "refunded": False,
            "status": "succeeded",
        }
        self._charges[charge["id"]] = charge
        return charge

    def _capture_charge(self, charge: dict[str, Any], amount: int) -> None:
        currency, rate = charge["currency"], None
        settlement = self._settlement.get(currency)
        booked = amount
        if settlement is not None:
            currency, rate = settlement
            booked = _converted(amount, charge["currency"], rate, currency)
        txn = self._add_balance_txn(
            "charge",
            booked,
            currency,
            source=charge["id"],
            fee=processing_fee(booked),
            description=charge["description"],
            reporting_category="charge",
            fee_description="Stripe processing fees",
            exchange_rate=rate,
            conversion_fee=0 if rate is None else conversion_fee(booked),
        )
        charge.update(captured=True, amount_captured=amount, balance_transaction=txn["id"])

    def _in_balance_of(
        self, charge: dict[str, Any], amount: int, currency: str
    ) -> tuple[int, str, Decimal | None]:
        """``amount`` (Stripe's smallest unit of ``currency``, the charge's) as it leaves the balance the
        charge went to: unchanged if the charge settled in its own currency, else converted into the
        charge's settlement currency at the rate in force now (the charge's own rate if that conversion
        has ended since)."""
        txn = self._balance_txns.get(charge.get("balance_transaction") or "")
        if txn is None or txn["exchange_rate"] is None or txn["currency"] == currency:
            return amount, currency, None
        into = str(txn["currency"])
        current = self._settlement.get(currency)
        rate = current[1] if current is not None and current[0] == into else _rate(txn["exchange_rate"])
        return _converted(amount, currency, rate, into), into, rate

    def _add_balance_txn(
        self,
        kind: str,
        amount: int,
        currency: str,
        *,
        source: str,
        fee: int,
        description: str | None,
        reporting_category: str,
        fee_description: str = "Stripe processing fees",
        exchange_rate: Decimal | None = None,
        conversion_fee: int = 0,
    ) -> dict[str, Any]:
        now = int(time.time())
        fee_details = [
            {
                "amount": value,
                "application": None,
                "currency": currency,
                "description": description_,
                "type": "stripe_fee",
            }
            for value, description_ in ((fee, fee_description), (conversion_fee, "Currency conversion fee"))
            if value
        ]
        total_fee = fee + conversion_fee
        txn: dict[str, Any] = {
            "id": new_id("txn", 24),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "balance_type": "payments",
            "created": now,
            "currency": currency,
            "description": description,
            "exchange_rate": None if exchange_rate is None else float(exchange_rate),
            "fee": total_fee,
            "fee_details": fee_details,
            "net": amount - total_fee,
            "reporting_category": reporting_category,
            "source": source,
            "status": "available",
            "type": kind,
        }
        self._balance_txns[txn["id"]] = txn
        return txn

    def _unpaid(self, currency: str) -> list[dict[str, Any]]:
        return [
            txn
            for txn in self._balance_txns.values()
            if txn["currency"] == currency and txn["type"] != "payout" and txn["id"] not in self._paid_out_in
        ]

    def _unpaid_currencies(self) -> list[str]:
        return sorted(
            {
                t["currency"]
                for t in self._balance_txns.values()
                if t["type"] != "payout" and t["id"] not in self._paid_out_in
            }
        )

    def _pay_out(self, currency: str) -> str:
        txns = self._unpaid(currency)
        if not txns:
            raise ValueError(f"no unpaid balance transactions in {currency}")
        amount = sum(int(t["net"]) for t in txns)
        if amount <= 0:
            raise ValueError(f"the unpaid {currency} balance is {amount}: nothing to pay out")
        now = int(time.time())
        payout_id = new_id("po", 24)
        own = self._add_balance_txn(
            "payout",
            -amount,
            currency,
            source=payout_id,
            fee=0,
            description="STRIPE PAYOUT",
            reporting_category="payout",
        )
        payout: dict[str, Any] = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "application_fee": None,
            "application_fee_amount": None,
            "arrival_date": now - now % 86400,
            "automatic": True,
            "balance_transaction": own["id"],
            "created": now,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": "ba_" + "1O2cHubSandboxBank00000",
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "original_payout": None,
            "reconciliation_status": "completed",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": "in_transit",
            "trace_id": {"status": "pending", "value": None},
            "type": "bank_account",
        }
        self._payouts[payout_id] = payout
        for txn in [*txns, own]:
            self._paid_out_in[txn["id"]] = payout_id
        self._emit("payout.created", payout, None)
        payout.update(status="paid", trace_id={"status": "supported", "value": new_id("trace", 14)[6:]})
        self._emit("payout.paid", payout, None, {"status": "in_transit"})
        return payout_id

    # --- helpers (call with the lock held) --------------------------------------------------------------

    def _payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        pi = self._payment_intents.get(payment_intent_id)
        if pi is None:
            raise _missing("payment_intent", payment_intent_id)
        return pi

    def _customer_param(self, params: dict[str, Any]) -> str | None:
        customer = _opt_str(params, "customer")
        if customer is not None and customer not in self._customers:
            raise _missing("customer", customer, param="customer")
        return customer

    def _card_for(self, payment_method: str, *, param: str) -> SandboxCard:
        if payment_method in TEST_CARDS:
            return TEST_CARDS[payment_method]
        minted = self._payment_methods.get(payment_method)
        if minted is None:
            raise _missing("PaymentMethod", payment_method, param=param)
        return minted.card

    def _payment_method_for(self, pm_param: str, card: SandboxCard) -> dict[str, Any]:
        """The stored PaymentMethod, or a fresh one for a test token (Stripe mints one per use)."""
        minted = self._payment_methods.get(pm_param)
        if minted is not None:
            return minted.obj
        return self._mint_payment_method(card, customer=None)

    def _mint_payment_method(self, card: SandboxCard, *, customer: str | None) -> dict[str, Any]:
        pm: dict[str, Any] = {
            "id": new_id("pm", 24),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
                "country": "US",
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 4,
                "fingerprint": new_id("x", 16)[2:],
                "funding": "credit",
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "wallet": None,
            },
            "created": int(time.time()),
            "customer": customer,
            "livemode": False,
            "metadata": {},
            "type": "card",
        }
        self._payment_methods[pm["id"]] = _PaymentMethod(pm, card)
        return pm

    # --- events and their delivery -----------------------------------------------------------------------

    def _emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        call: _Call | None,
        previous: dict[str, Any] | None = None,
    ) -> None:
        event_id = new_id("evt", 24)
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        if previous is not None:
            event["data"]["previous_attributes"] = copy.deepcopy(previous)
        with self._lock:
            self._events[event_id] = event
            self._event_bodies[event_id] = json.dumps(event, indent=2).encode()
        with self._wh_cond:
            self._wh.queue.append(_Outgoing(event_id, time.monotonic() + self.webhook_delay_s))
            self._wh_cond.notify_all()

    def _deliver_loop(self) -> None:
        while True:
            with self._wh_cond:
                while not self._wh.stopping and (self._wh.held or not self._wh.queue):
                    self._wh_cond.wait(0.5)
                if self._wh.stopping:
                    return
                outgoing = self._wh.queue[0]
                wait = outgoing.due - time.monotonic()
                if wait > 0:
                    self._wh_cond.wait(wait)  # may wake early: loop and look again (held? stopping?)
                    continue
                self._wh.queue.popleft()
                self._wh.in_flight += 1
            try:
                with self._lock:
                    body = self._event_bodies[outgoing.event_id]
                self._deliver(outgoing.event_id, body)
            except OSError:
                pass  # recorded in webhooks_sent; Stripe would retry later, here redeliver() does
            except Exception:
                log.exception("stripe sandbox: delivering %s failed", outgoing.event_id)
            finally:
                with self._wh_cond:
                    self._wh.in_flight -= 1
                    self._wh_cond.notify_all()

    def _deliver(self, event_id: str, body: bytes) -> tuple[int, str]:
        with self._lock:
            event_type = self._events[event_id]["type"]
            attempt = 1 + sum(1 for sent in self._sent if sent["event_id"] == event_id)
        record: dict[str, Any] = {
            "event_id": event_id,
            "type": event_type,
            "attempt": attempt,
            "status": None,
            "response": None,
            "error": None,
        }
        try:
            status, text = self.post_webhook(body, self._signed_headers(body))
            record.update(status=status, response=text[:1000])
            return status, text
        except OSError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            log.info("stripe sandbox: webhook %s %s not delivered: %s", event_type, event_id, exc)
            raise
        finally:
            with self._lock:
                self._sent.append(record)

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature_header(body, [self.webhook_secret]),
        }

    # --- control endpoints -------------------------------------------------------------------------------

    def _c_list(
        self, source: Callable[[], list[dict[str, Any]]]
    ) -> Callable[[Request, re.Match[str]], Reply]:
        return lambda request, match: json_reply(200, {"data": source()})

    def _c_complete_setup(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        try:
            seti = self.complete_setup(match.group(1), str(spec.get("payment_method") or "pm_card_visa"))
        except ApiError as exc:
            raise BadRequest(str(exc)) from None
        return json_reply(200, seti)

    def _c_hold(self, request: Request, match: re.Match[str]) -> Reply:
        self.hold_webhooks()
        return json_reply(200, {"held": True})

    def _c_release(self, request: Request, match: re.Match[str]) -> Reply:
        self.release_webhooks()
        return json_reply(200, {"held": False})

    def _c_wait(self, request: Request, match: re.Match[str]) -> Reply:
        timeout_s = float(_control_body(request).get("timeout_s", 5))
        try:
            self.wait_for_webhooks(timeout_s)
        except TimeoutError as exc:
            return json_reply(504, {"error": str(exc)})
        return json_reply(200, {"pending": 0})

    def _c_redeliver_event(self, request: Request, match: re.Match[str]) -> Reply:
        status, body = self.redeliver(match.group(1))
        return json_reply(200, {"status": status, "body": body})

    def _c_commit_then_timeout(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        delay_s = spec.get("delay_s")
        self.commit_then_timeout_next(
            int(spec.get("count", 1)), delay_s=None if delay_s is None else float(delay_s)
        )
        return json_reply(200, {"queued": True})

    def _c_fail_next_refund(self, request: Request, match: re.Match[str]) -> Reply:
        self.fail_next_refund(int(_control_body(request).get("count", 1)))
        return json_reply(200, {"queued": True})

    def _c_open_dispute(self, request: Request, match: re.Match[str]) -> Reply:
        reason = str(_control_body(request).get("reason") or "fraudulent")
        dispute_id = self.open_dispute(match.group(1), reason)
        with self._lock:
            return json_reply(200, copy.deepcopy(self._disputes[dispute_id]))

    def _c_close_dispute(self, request: Request, match: re.Match[str]) -> Reply:
        outcome = str(_control_body(request).get("outcome") or "won")
        return json_reply(200, self.close_dispute(match.group(1), outcome))

    def _c_create_subscription(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        metadata = spec.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise BadRequest('"metadata" must be an object')
        amount = spec.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise BadRequest('"amount" must be an integer (Stripe\'s smallest unit)')
        sub_id = self.create_subscription(
            str(spec["customer"]),
            amount,
            str(spec.get("currency") or ""),
            str(spec.get("interval") or "month"),
            {str(k): str(v) for k, v in metadata.items()},
        )
        with self._lock:
            return json_reply(200, copy.deepcopy(self._subscriptions[sub_id]))

    def _c_renew(self, request: Request, match: re.Match[str]) -> Reply:
        succeed = _control_body(request).get("succeed", True)
        if not isinstance(succeed, bool):
            raise BadRequest('"succeed" must be true or false')
        invoice_id = self.renew(match.group(1), succeed=succeed)
        with self._lock:
            return json_reply(200, copy.deepcopy(self._invoices[invoice_id]))

    def _c_create_payout(self, request: Request, match: re.Match[str]) -> Reply:
        currency = _control_body(request).get("currency")
        payout_id = self.create_payout(None if currency is None else str(currency))
        with self._lock:
            return json_reply(200, copy.deepcopy(self._payouts[payout_id]))

    def _c_settlements(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"data": self.settlements()})

    def _c_settle_into(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _control_body(request)
        currency, into, rate = spec.get("currency"), spec.get("into"), spec.get("rate")
        if not isinstance(currency, str) or not (into is None or isinstance(into, str)):
            raise BadRequest('"currency" and "into" are currency codes ("into" may be null)')
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, str | int | Decimal)):
            raise BadRequest('"rate" is a decimal string such as "0.0067", or null')
        try:
            self.settle_into(currency, into, rate)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return json_reply(200, {"data": self.settlements()})

    def _c_create_payouts(self, request: Request, match: re.Match[str]) -> Reply:
        ids = self.create_payouts()
        with self._lock:
            return json_reply(200, {"data": [copy.deepcopy(self._payouts[i]) for i in ids]})


def _dropping(handler: type[BaseHTTPRequestHandler]) -> type[BaseHTTPRequestHandler]:
    """The base handler, closing the connection without a reply when ``dispatch`` raises
    ``_ConnectionDropped`` (nothing was written yet: the reply is only sent after ``dispatch`` returns)."""

    def handle_one_request(self: BaseHTTPRequestHandler) -> None:
        try:
            handler.handle_one_request(self)
        except _ConnectionDropped:
            self.close_connection = True

    return type(
        f"Dropping{handler.__name__}",
        (handler,),
        {"handle_one_request": handle_one_request, "_drops_connections": True},
    )


def processing_fee(amount: int) -> int:
    """The sandbox's card processing fee: 2.9% (rounded half up) + 30 of the smallest unit."""
    return (amount * 29 + 500) // 1000 + 30


def conversion_fee(amount: int) -> int:
    """The sandbox's currency conversion fee on a converted charge: 1% of the converted amount (Stripe's
    smallest unit of the balance currency), rounded half up."""
    return (amount + 50) // 100


def _rate(value: Decimal | str | float | int) -> Decimal:
    """An exchange rate, exact (a float through its repr); ``ValueError`` unless positive and finite."""
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"an exchange rate is a positive decimal, got {value!r}") from None
    if not exact.is_finite() or exact <= 0:
        raise ValueError(f"an exchange rate is positive, got {value!r}")
    return exact


def _converted(amount: int, currency: str, rate: Decimal, into: str) -> int:
    """``amount`` (Stripe's smallest unit of ``currency``) times ``rate`` in Stripe's smallest unit of
    ``into``, rounded half up (away from zero: a refund converts to exactly minus its charge at one rate)."""
    magnitude = to_stripe(convert(from_stripe(abs(amount), currency), rate, into))
    return -magnitude if amount < 0 else magnitude


def _add_interval(ts: int, interval: str) -> int:
    """``ts`` moved on by one ``interval``; months and years keep the day of month where it exists."""
    moment = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return ts + 86400
    if interval == "week":
        return ts + 7 * 86400
    months = 1 if interval == "month" else 12
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def _format(amount: int, currency: str) -> str:
    try:
        return from_stripe(amount, currency).format()
    except ValueError:
        return f"{amount} {currency.upper()}"


def _card_brand(charge: dict[str, Any]) -> str | None:
    return ((charge.get("payment_method_details") or {}).get("card") or {}).get("brand")


def _unexpected_state(pi: dict[str, Any], message: str) -> ApiError:
    error = _invalid(message, code="payment_intent_unexpected_state")
    error.error["payment_intent"] = copy.deepcopy(pi)
    error.executed = True
    return error


def _control_body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    body = request.json()
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _only(params: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    for name in params:
        if name not in allowed:
            raise _invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")
    return params


def _payment_filter(params: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``payment[type]``, ``payment[payment_intent]``, ``payment[payment_record]`` of an invoice payment
    list, as Stripe checks them: ``type`` is required in the hash, one of ``payment_intent`` /
    ``payment_record``, and names the kind of id given with it."""
    payment = params.get("payment")
    if payment is None or payment == "":
        return None, None, None
    if not isinstance(payment, dict):
        raise _invalid("Invalid hash: payment", param="payment", code="parameter_invalid_hash")
    for name in payment:
        if name not in _INVOICE_PAYMENT_FILTER_PARAMS:
            raise _invalid(
                f"Received unknown parameter: payment[{name}]",
                param=f"payment[{name}]",
                code="parameter_unknown",
            )
    fields = {name: _opt_str(payment, name) for name in sorted(_INVOICE_PAYMENT_FILTER_PARAMS)}
    kind = fields["type"]
    if kind is None:
        raise _invalid(
            "Missing required param: payment[type].", param="payment[type]", code="parameter_missing"
        )
    if kind not in ("payment_intent", "payment_record"):
        raise _invalid(
            "Invalid payment[type]: must be one of payment_intent or payment_record",
            param="payment[type]",
            code="parameter_invalid_string",
        )
    for other in ("payment_intent", "payment_record"):
        if fields[other] is not None and kind != other:
            raise _invalid(
                f"payment[{other}] can only be used with payment[type]={other}.",
                param=f"payment[{other}]",
                code="parameter_invalid",
            )
    return kind, fields["payment_intent"], fields["payment_record"]


def _opt_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {name}", param=name, code="parameter_invalid_string")
    return value


def _int(params: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return default
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value):
        raise _invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    return int(value)


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=name, code="parameter_invalid_boolean")
    return bool(value == "true")


def _list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"Invalid array: {name}", param=name, code="parameter_invalid_array")
    return list(value)


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata rules: up to 50 keys, keys up to 40 characters, values up to 500; "" unsets."""
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid("Invalid hash: metadata", param="metadata", code="parameter_invalid_hash")
    if len(value) > 50:
        raise _invalid("Metadata can have up to 50 keys.", param="metadata", code="parameter_invalid_hash")
    for key, item in value.items():
        if len(key) > 40 or len(item) > 500:
            raise _invalid(
                "Metadata keys are up to 40 characters and values up to 500.",
                param=f"metadata[{key[:40]}]",
                code="parameter_invalid_string",
            )
    return {k: v for k, v in value.items() if v != ""}


__all__ = [
    "API_VERSION",
    "DISPUTE_FEE",
    "TEST_CARDS",
    "SandboxCard",
    "StripeSandbox",
    "conversion_fee",
    "decode_form",
    "processing_fee",
]
