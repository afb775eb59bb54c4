"""The ``StripeSandbox``: its resource mixins put together, routing, authentication, idempotency and
Stripe's error shape.

Vendor API (``Authorization: Bearer <api_key>`` or Basic with the key as user name, else 401; POST bodies
form-encoded with bracket notation, ``metadata[o2c_x]=y``; JSON replies carrying ``object`` and ids
``cus_``/``seti_``/``pi_``/``pm_``/``ch_``/``evt_``; errors ``{"error": {"type", "code", "message",
"param", "decline_code", "payment_intent"}}``; every request is first checked against Stripe's published
contract (``contract``: unknown, missing, mistyped and out-of-enum parameters refused as Stripe refuses them,
before anything runs or is stored under an Idempotency-Key); ``expand[]`` on every endpoint as Stripe expands
(``expand``: expandable fields per the contract, ``data.`` on lists, at most 4 levels); each resource's endpoints
are described in its module. Read by id here (``_getter``):
- ``GET /v1/disputes`` (list);
- ``GET /v1/charges/{id}``, ``/v1/disputes/{id}``, ``/v1/subscriptions/{id}``,
  ``/v1/payouts/{id}``, ``/v1/balance_transactions/{id}``
A request to a path Stripe's contract does not have is 404 ``Unrecognized request URL``; a ``Stripe-Version``
Stripe does not know is 400 ``Invalid Stripe API version``, one the sandbox does not speak is 400 too.

Idempotency (every POST, per API key, 24 h): the same key with the same endpoint and parameters replays the
stored reply (``Idempotent-Replayed: true``, no second effect, no second event); another endpoint or other
parameters → 400 ``idempotency_error``; while the first request with that key is still running → 409
``idempotency_error``. Requests refused before they ran (auth, parameter validation, injected faults) store
nothing, as on Stripe.

Faults (see ``base``): ``fail_next(429|5xx, retry_after=...)``, ``slow_next(...)`` and
``commit_then_timeout_next(count=1, delay_s=None)``: the next ``count`` POSTs are applied (and their reply
stored under the Idempotency-Key) but the client never gets the reply: the connection is dropped, or with
``delay_s`` the reply comes that late (past the client's timeout).
"""

from __future__ import annotations

import base64
import copy
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from localcloud.sandboxes.base import BadRequest, Reply, Request, json_reply
from localcloud.sandboxes.stripe.balance import BalanceMixin
from localcloud.sandboxes.stripe.billing import BillingMixin
from localcloud.sandboxes.stripe.contract import check_request, check_version
from localcloud.sandboxes.stripe.control import ControlMixin
from localcloud.sandboxes.stripe.customers import CustomersMixin
from localcloud.sandboxes.stripe.debits import DebitsMixin
from localcloud.sandboxes.stripe.disputes import DisputesMixin
from localcloud.sandboxes.stripe.errors import ApiError, _ConnectionDropped, _invalid, _missing, new_id
from localcloud.sandboxes.stripe.expand import expand, expansions
from localcloud.sandboxes.stripe.forms import _nest, decode_form
from localcloud.sandboxes.stripe.payment_intents import PaymentIntentsMixin
from localcloud.sandboxes.stripe.payment_methods import PaymentMethodsMixin
from localcloud.sandboxes.stripe.radar import RadarMixin
from localcloud.sandboxes.stripe.refunds import RefundsMixin
from localcloud.sandboxes.stripe.setup_intents import SetupIntentsMixin
from localcloud.sandboxes.stripe.state import API_VERSION, Handler, StripeState, _Call, _CommitFault, _Stored
from localcloud.sandboxes.stripe.subscriptions import SubscriptionsMixin
from localcloud.sandboxes.stripe.webhook_endpoints import WebhookEndpointsMixin
from localcloud.sandboxes.stripe.webhooks import WebhooksMixin

IDEMPOTENCY_TTL_S = 24 * 3600


class StripeSandbox(
    CustomersMixin,
    SetupIntentsMixin,
    PaymentMethodsMixin,
    PaymentIntentsMixin,
    DebitsMixin,
    RefundsMixin,
    DisputesMixin,
    SubscriptionsMixin,
    RadarMixin,
    BillingMixin,
    BalanceMixin,
    WebhookEndpointsMixin,
    WebhooksMixin,
    ControlMixin,
    StripeState,
):
    vendor = "stripe"
    #: Not kept across restarts (base.Sandbox.state_snapshot): delivery machinery, injected faults, call logs.
    runtime_state = frozenset(
        {"_wh", "_wh_cond", "_worker", "_failing_refunds", "_commit_faults", "_api_calls", "_sent"}
    )

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        api_key: str,
        webhook_delay_s: float = 0.05,
        api_version: str = API_VERSION,
        settlement: dict[str, tuple[str, str]] | None = None,
        reconciliation_delay_s: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``settlement``: ``{"jpy": ("usd", "0.0067")}``, as ``settle_into`` for each entry;
        ``reconciliation_delay_s``: from a payout's ``payout.paid`` to its ``payout.reconciliation_completed``."""
        super().__init__(
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            api_key=api_key,
            webhook_delay_s=webhook_delay_s,
            api_version=api_version,
            host=host,
            port=port,
        )
        api: list[tuple[str, str, Handler]] = [
            ("POST", r"^/v1/customers$", self._create_customer),
            ("GET", r"^/v1/customers/search$", self._search_customers),
            ("GET", r"^/v1/customers/([^/]+)$", self._get_customer),
            ("POST", r"^/v1/setup_intents$", self._create_setup_intent),
            ("GET", r"^/v1/setup_intents/([^/]+)$", self._get_setup_intent),
            ("POST", r"^/v1/setup_intents/([^/]+)/confirm$", self._confirm_setup_intent),
            ("GET", r"^/v1/payment_methods/([^/]+)$", self._get_payment_method),
            ("POST", r"^/v1/payment_intents$", self._create_payment_intent),
            ("GET", r"^/v1/payment_intents/([^/]+)$", self._get_payment_intent),
            ("POST", r"^/v1/payment_intents/([^/]+)/capture$", self._capture),
            ("POST", r"^/v1/payment_intents/([^/]+)/cancel$", self._cancel),
            ("POST", r"^/v1/refunds$", self._create_refund),
            ("GET", r"^/v1/refunds/([^/]+)$", self._getter(self._refunds, "refund")),
            ("GET", r"^/v1/charges/([^/]+)$", self._getter(self._charges, "charge")),
            ("GET", r"^/v1/disputes$", self._list_disputes),
            ("GET", r"^/v1/disputes/([^/]+)$", self._getter(self._disputes, "dispute")),
            ("GET", r"^/v1/invoices/([^/]+)$", self._get_invoice),
            ("GET", r"^/v1/invoice_payments$", self._list_invoice_payments),
            (
                "GET",
                r"^/v1/invoice_payments/([^/]+)$",
                self._getter(self._invoice_payments, "invoice_payment"),
            ),
            ("GET", r"^/v1/subscriptions/([^/]+)$", self._getter(self._subscriptions, "subscription")),
            ("POST", r"^/v1/subscriptions$", self._create_api_subscription),
            ("GET", r"^/v1/subscriptions$", self._list_subscriptions),
            ("POST", r"^/v1/products$", self._create_product),
            ("GET", r"^/v1/payouts/([^/]+)$", self._getter(self._payouts, "payout")),
            ("POST", r"^/v1/webhook_endpoints$", self._create_webhook_endpoint),
            ("GET", r"^/v1/webhook_endpoints$", self._list_webhook_endpoints),
            ("GET", r"^/v1/webhook_endpoints/([^/]+)$", self._get_webhook_endpoint),
            ("GET", r"^/v1/balance_transactions$", self._list_balance_transactions),
            (
                "GET",
                r"^/v1/balance_transactions/([^/]+)$",
                self._getter(self._balance_txns, "balance_transaction"),
            ),
            ("GET", r"^/v1/reviews/([^/]+)$", self._get_review),
            ("POST", r"^/v1/reviews/([^/]+)/approve$", self._approve_review),
            ("GET", r"^/v1/radar/early_fraud_warnings/([^/]+)$", self._get_early_fraud_warning),
        ]
        self.api_routes += [(method, re.compile(path), self._api(fn)) for method, path, fn in api]
        self.control_routes += [
            ("GET", re.compile(r"^/_sandbox/customers$"), self._c_list(self.customers)),
            ("GET", re.compile(r"^/_sandbox/setup_intents$"), self._c_list(self.setup_intents)),
            ("GET", re.compile(r"^/_sandbox/payment_intents$"), self._c_list(self.payment_intents)),
            ("GET", re.compile(r"^/_sandbox/events$"), self._c_list(self.events)),
            ("GET", re.compile(r"^/_sandbox/webhook_endpoints$"), self._c_list(self.webhook_endpoints)),
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
            ("GET", re.compile(r"^/_sandbox/products$"), self._c_list(self.products)),
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
            ("POST", re.compile(r"^/_sandbox/payouts/reconciliation/hold$"), self._c_hold_reconciliation),
            (
                "POST",
                re.compile(r"^/_sandbox/payouts/reconciliation/release$"),
                self._c_release_reconciliation,
            ),
            ("POST", re.compile(r"^/_sandbox/payouts/([^/]+)/reconcile$"), self._c_reconcile_payout),
            ("GET", re.compile(r"^/_sandbox/settlement$"), self._c_settlements),
            ("POST", re.compile(r"^/_sandbox/clock/advance$"), self._c_advance_clock),
            ("GET", re.compile(r"^/_sandbox/mandates$"), self._c_list(self.mandates)),
            ("POST", re.compile(r"^/_sandbox/settlement$"), self._c_settle_into),
            *self.control_routes_radar(),
        ]
        self.reconciliation_delay_s = reconciliation_delay_s
        for currency, (into, rate) in (settlement or {}).items():
            self.settle_into(currency, into, rate)

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

    def commit_then_timeout_next(self, count: int = 1, *, delay_s: float | None = None) -> None:
        """The next ``count`` POSTs are applied (reply stored under their Idempotency-Key), but the reply is
        lost: the connection is dropped, or with ``delay_s`` the reply comes only after that many seconds."""
        if count < 1 or (delay_s is not None and delay_s < 0):
            raise ValueError("commit_then_timeout_next needs count >= 1 and delay_s >= 0")
        with self._lock:
            self._commit_faults.append(_CommitFault(count, delay_s))

    @property
    def api_calls(self) -> list[dict[str, Any]]:
        """API requests as received, faulted ones included: ``{"method", "path", "params" (decoded form or
        query; None if undecodable), "idempotency_key"}``. Never the API key."""
        with self._lock:
            return copy.deepcopy(self._api_calls)

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

    def _api(self, fn: Handler) -> Callable[[Request, re.Match[str]], Reply]:
        def serve(request: Request, match: re.Match[str]) -> Reply:
            request_id = new_id("req", 14)
            try:
                api_key = self._authenticate(request)
                check_version(request.headers.get("Stripe-Version"), self.api_version)
                if request.method == "POST":
                    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
                    if request.body and content_type != "application/x-www-form-urlencoded":
                        raise _invalid(
                            "Stripe's API takes form-encoded bodies (application/x-www-form-urlencoded)"
                        )
                    params = decode_form(request.body)
                else:
                    params = _nest(request.pairs or request.query.items())
                check_request(request.method, request.path, params)  # Stripe's contract, before anything runs
                paths = expansions(request.method, request.path, params)
            except ApiError as exc:
                return self._error_json(exc, request_id)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            call = _Call(request_id, key, params, paths)
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
        if call.expand:
            with self._lock:
                data = copy.deepcopy(data)
                expand(data, call.expand, self._find)
        return json_reply(200, data, self._headers(call)), True

    def _find(self, object_id: str) -> dict[str, Any] | None:
        """The object with this id as ``GET`` returns it, whatever its kind (caller holds the lock)."""
        minted = self._payment_methods.get(object_id)
        if minted is not None:
            return copy.deepcopy(minted.obj)
        for store in (
            self._customers,
            self._setup_intents,
            self._payment_intents,
            self._charges,
            self._refunds,
            self._disputes,
            self._subscriptions,
            self._invoices,
            self._invoice_payments,
            self._payouts,
            self._balance_txns,
            self._reviews,
            self._early_fraud_warnings,
        ):
            found = store.get(object_id)
            if found is not None:
                return copy.deepcopy(found)
        return None

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

    def _getter(self, store: dict[str, dict[str, Any]], what: str) -> Handler:
        def get(call: _Call, match: re.Match[str]) -> dict[str, Any]:
            with self._lock:
                obj = store.get(match.group(1))
                if obj is None:
                    raise _missing(what, match.group(1))
                return copy.deepcopy(obj)

        return get


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
