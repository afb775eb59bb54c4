"""Stripe payments for the hub, on the official SDK (``stripe.StripeClient``): customers, SetupIntents for
saving a card (created here, confirmed by the customer's browser or server-side with a PaymentMethod),
off-session authorization / capture / void of PaymentIntents, and after the sale refunds, charges, payouts
and the balance transactions a payout is made of (for reconciliation: complete only once the payout's
``reconciliation_status`` is ``completed``, and only for automatic payouts), and the invoice a payment paid
or the payment that paid an invoice (through Stripe's invoice payments: an Invoice has no
``payment_intent`` since API 2025-03-31.basil).

- **One Idempotency-Key per business intent.** Every write takes an explicit ``idempotency_key`` (e.g.
  ``f"authorize:{erp_order_id}"``), sent as ``Idempotency-Key`` on every attempt, so a retry after a lost
  reply (timeout, dropped connection, Lambda retry, SQS redelivery) gets Stripe's stored reply instead of a
  second customer or a second authorization. Stripe keeps keys for 24 h.
- **Retries are ours, not the SDK's** (``max_network_retries=0``): the SDK neither retries a 429 nor reads
  ``Retry-After``, and sleeps at least 0.5 s. Here 429, 5xx, 409 (a request with the same key still
  running) and connection failures/timeouts are retried with exponential backoff and full jitter, or
  after ``Retry-After`` when Stripe sends one. A wait longer than ``max_retry_wait_s`` is not slept here:
  ``TransientError(retry_after=...)`` is raised so the queue retries later. ``Stripe-Should-Retry`` is
  obeyed when present.
- **A card decline is a business outcome**, not an exception: ``authorize`` returns an
  ``AuthorizationResult`` with Stripe's ``code``/``decline_code``/``message``. Other failures are classified
  (``shared.errors``): ``TransientError``, ``AuthError`` (401/403), ``NotFound`` (404),
  ``PermanentError`` (other 4xx; ``code`` is Stripe's error code, e.g. ``idempotency_error``).
- **A refund that fails is a result too**: ``create_refund`` returns a ``RefundResult`` whose ``status`` is
  Stripe's (``succeeded``, ``pending``, ``requires_action``, ``failed``, ``canceled``); a ``failed`` one
  carries ``failure_reason`` and moved no money. A ``pending`` refund may still fail later: the
  ``refund.failed`` / ``refund.updated`` webhooks are the final word. Refusals (more than remains:
  ``amount_too_large``, ``charge_already_refunded``, ``charge_disputed``) raise ``PermanentError``.
- ``capture`` and ``cancel`` are idempotent in effect too: capturing a PaymentIntent that already
  succeeded answers ``"succeeded"``, cancelling one already canceled answers ``"canceled"``.
- The SDK is imported on first use (it costs ~0.5 s): a function that never calls Stripe never pays it.
  The API key is read (``api_key()``) for every request, so a rotated secret is picked up.
- Metadata carries the caller's ids (``o2c_correlation_id``, ``o2c_opportunity_id``, ``o2c_erp_order_id``,
  ``o2c_erp_customer_id``) and nothing else: never card data. Logs carry method, path, status and Stripe's
  error code; never a body, a key or a client secret.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
)
from shared.money import Money, from_stripe, to_stripe

# the payment port's value types (``shared.order_to_cash.ports``), importable from here as before
from shared.order_to_cash.ports import AuthorizationResult as AuthorizationResult
from shared.order_to_cash.ports import DebitResult as DebitResult
from shared.order_to_cash.ports import RefundResult as RefundResult
from shared.order_to_cash.ports import Settlement as Settlement
from shared.outbound.http import parse_retry_after
from shared.outbound.retry import with_retries

if TYPE_CHECKING:
    import stripe

log = logging.getLogger("o2c.connectors.stripe")

DEFAULT_BASE_URL = "https://api.stripe.com"
ERP_CUSTOMER_KEY = "o2c_erp_customer_id"
CRM_ACCOUNT_KEY = "o2c_crm_account_id"
_DETAIL_LIMIT = 300
_UNEXPECTED_STATE = "payment_intent_unexpected_state"


@dataclass(frozen=True)
class SetupResult:
    """What confirming a SetupIntent came to. ``status`` is the SetupIntent's: ``succeeded`` (the card is
    saved: ``payment_method_id`` is attached to the customer and can be charged off session),
    ``requires_action`` (the bank wants the customer present, e.g. 3-D Secure), ``processing``, or
    ``requires_payment_method`` (refused: ``failure_code`` e.g. ``card_declined``, ``decline_code``,
    ``message`` Stripe's text for the customer)."""

    setup_intent_id: str
    status: str
    payment_method_id: str | None
    decline_code: str | None = None
    failure_code: str | None = None
    message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


#: The refund reasons Stripe takes (``POST /v1/refunds`` ``reason``); the hub's own reasons go to metadata.
STRIPE_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


class StripePayments:
    """The hub's Stripe adapter. ``api_key`` returns the secret key (``sk_...`` or a restricted ``rk_...``);
    ``base_url`` is Stripe's API or a sandbox. ``sleep`` is injectable for tests."""

    def __init__(
        self,
        api_key: Callable[[], str],
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 20,
        connect_timeout_s: float = 5,
        max_attempts: int = 3,
        max_retry_wait_s: float = 10,
        base_backoff_s: float = 0.25,
        stripe_version: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._timeout = (connect_timeout_s, timeout_s)
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        self._base_backoff_s = base_backoff_s
        self._stripe_version = stripe_version
        self._sleep = sleep
        self._client: stripe.StripeClient | None = None
        self._client_lock = threading.Lock()

    # --- customers -----------------------------------------------------------------------------------

    def ensure_customer(
        self, *, erp_customer_id: str, crm_account_id: str, name: str, email: str | None, idempotency_key: str
    ) -> str:
        """The Stripe customer (``cus_...``) of an ERP customer: found by its ``o2c_erp_customer_id``
        metadata, else created. Search lags writes by up to a minute on Stripe; the idempotency key (one
        per ERP customer, e.g. ``f"customer:{erp_customer_id}"``) makes concurrent or repeated creates
        within 24 h return the same customer."""
        query = f"metadata['{ERP_CUSTOMER_KEY}']:'{_quote(erp_customer_id)}'"
        found = self._call(
            "GET /v1/customers/search",
            lambda v1, options: v1.customers.search({"query": query, "limit": 10}, options),
        )
        matches = sorted(found.get("data") or [], key=lambda c: (c.get("created") or 0, c.get("id") or ""))
        if matches:
            if len(matches) > 1:
                log.warning(
                    "Stripe has %d customers for one ERP customer; using the oldest %s",
                    len(matches),
                    matches[0]["id"],
                )
            return str(matches[0]["id"])
        params: dict[str, Any] = {
            "name": name,
            "metadata": {ERP_CUSTOMER_KEY: erp_customer_id, CRM_ACCOUNT_KEY: crm_account_id},
        }
        if email:
            params["email"] = email
        created = self._call(
            "POST /v1/customers",
            lambda v1, options: v1.customers.create(params, options),
            idempotency_key=idempotency_key,
        )
        return _id_of(created, "cus_", "customer")

    # --- saving a card -------------------------------------------------------------------------------

    def create_setup_intent(
        self,
        *,
        customer_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        payment_method_types: Sequence[str] = ("card",),
    ) -> dict[str, Any]:
        """A SetupIntent to save a payment method for later off-session charges: a card, or a bank account
        with its mandate (``sepa_debit``, ``us_bank_account``: Stripe collects the customer's acceptance of
        the mandate when it is confirmed). Returns ``{"id", "client_secret", "status"}``; the client secret
        goes to the browser (Stripe.js), nowhere else (never logged)."""
        params: dict[str, Any] = {
            "customer": customer_id,
            "usage": "off_session",
            "allowed_payment_method_types": list(payment_method_types),
            "metadata": _metadata(metadata),
        }
        seti = self._call(
            "POST /v1/setup_intents",
            lambda v1, options: v1.setup_intents.create(params, options),
            idempotency_key=idempotency_key,
        )
        return {
            "id": _id_of(seti, "seti_", "setup intent"),
            "client_secret": seti.get("client_secret"),
            "status": seti.get("status"),
        }

    def confirm_setup_intent(
        self,
        *,
        setup_intent_id: str,
        payment_method_id: str | None = None,
        idempotency_key: str,
        payment_method_data: Mapping[str, Any] | None = None,
        mandate_data: Mapping[str, Any] | None = None,
    ) -> SetupResult:
        """Confirm the SetupIntent server-side with a PaymentMethod (``POST /v1/setup_intents/{id}/confirm``
        with ``payment_method``): a ``pm_...`` the customer's browser collected, or in test mode one of
        Stripe's test payment methods (``pm_card_visa``; Stripe mints a new ``pm_...`` from it). On success
        Stripe attaches the PaymentMethod to the SetupIntent's customer and sends ``setup_intent.succeeded``.
        A card the bank refuses is returned (``status`` ``requires_payment_method`` and the codes), not
        raised; a SetupIntent that is already succeeded or canceled is refused (``PermanentError``
        ``setup_intent_unexpected_state``)."""
        params: dict[str, Any] = {}
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
        if payment_method_data is not None:  # a bank account typed in by the customer, and the mandate
            params["payment_method_data"] = dict(payment_method_data)
        if mandate_data is not None:
            params["mandate_data"] = dict(mandate_data)
        try:
            seti = self._call(
                "POST /v1/setup_intents/{id}/confirm",
                lambda v1, options: v1.setup_intents.confirm(setup_intent_id, params, options),
                idempotency_key=idempotency_key,
            )
        except _CardDeclined as declined:
            error = declined.error
            refused = error.get("setup_intent")
            if not isinstance(refused, dict) or not refused.get("id"):
                raise InvalidRecord(
                    "POST /v1/setup_intents/{id}/confirm -> HTTP 402 card_error without its SetupIntent",
                    status=402,
                    code=error.get("code"),
                ) from None
            return SetupResult(
                setup_intent_id=str(refused["id"]),
                status=str(refused.get("status") or "requires_payment_method"),
                payment_method_id=_ref(refused.get("payment_method")),
                decline_code=error.get("decline_code"),
                failure_code=error.get("code"),
                message=error.get("message"),
            )
        status = str(seti.get("status"))
        last_error = (seti.get("last_setup_error") or {}) if status != "succeeded" else {}
        return SetupResult(
            setup_intent_id=_id_of(seti, "seti_", "setup intent"),
            status=status,
            payment_method_id=_ref(seti.get("payment_method")),
            decline_code=last_error.get("decline_code"),
            failure_code=last_error.get("code"),
            message=last_error.get("message"),
        )

    # --- payments ------------------------------------------------------------------------------------

    def authorize(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: Money,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> AuthorizationResult:
        """Hold ``amount`` on the customer's saved card (manual capture, off session). A decline is returned
        (``status`` ``requires_payment_method`` and the codes), not raised."""
        params: dict[str, Any] = {
            "amount": to_stripe(amount),
            "currency": amount.currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "allowed_payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
            "off_session": True,
            "metadata": _metadata(metadata),
            # the charge in the same reply: Radar's outcome, its review, the card's wallet
            "expand": ["latest_charge"],
        }
        try:
            pi = self._call(
                "POST /v1/payment_intents",
                lambda v1, options: v1.payment_intents.create(params, options),
                idempotency_key=idempotency_key,
            )
        except _CardDeclined as declined:
            error = declined.error
            declined_pi = error.get("payment_intent")
            if not isinstance(declined_pi, dict) or not declined_pi.get("id"):
                raise InvalidRecord(
                    "POST /v1/payment_intents -> HTTP 402 card_error without its PaymentIntent",
                    status=402,
                    code=error.get("code"),
                ) from None
            return AuthorizationResult(
                payment_intent_id=str(declined_pi["id"]),
                status=str(declined_pi.get("status") or "requires_payment_method"),
                decline_code=error.get("decline_code"),
                failure_code=error.get("code"),
                message=error.get("message"),
            )
        last_error = pi.get("last_payment_error") or {}
        return AuthorizationResult(
            payment_intent_id=_id_of(pi, "pi_", "payment intent"),
            status=str(pi.get("status")),
            decline_code=last_error.get("decline_code"),
            failure_code=last_error.get("code"),
            message=last_error.get("message"),
            **radar_and_wallet(pi),
        )

    def debit(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        method_type: str,
        amount: Money,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> DebitResult:
        """Debit ``amount`` from the customer's saved bank account (``sepa_debit``, ``us_bank_account``)
        under the mandate it was saved with, off session. A bank debit cannot be authorized and captured
        separately (Stripe refuses ``capture_method=manual`` for it): it is charged with automatic capture
        and is ``processing`` until the bank answers, days later (``payment_intent.succeeded`` or
        ``payment_intent.payment_failed``)."""
        params: dict[str, Any] = {
            "amount": to_stripe(amount),
            "currency": amount.currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "allowed_payment_method_types": [method_type],
            "confirm": True,
            "off_session": True,
            "metadata": _metadata(metadata),
        }
        pi = self._call(
            "POST /v1/payment_intents",
            lambda v1, options: v1.payment_intents.create(params, options),
            idempotency_key=idempotency_key,
        )
        last_error = pi.get("last_payment_error") or {}
        return DebitResult(
            payment_intent_id=_id_of(pi, "pi_", "payment intent"),
            status=str(pi.get("status")),
            failure_code=last_error.get("code"),
            message=last_error.get("message"),
        )

    def retrieve_payment_method(self, payment_method_id: str) -> dict[str, Any]:
        """The PaymentMethod as Stripe's JSON: its ``type`` says how it pays (``card``, ``sepa_debit``,
        ``us_bank_account``)."""
        return self._call(
            "GET /v1/payment_methods/{id}",
            lambda v1, options: v1.payment_methods.retrieve(payment_method_id, None, options),
        )

    def capture(self, *, payment_intent_id: str, idempotency_key: str) -> str:
        """Capture the whole authorized amount. Returns the PaymentIntent's status (``succeeded``), also
        when it had already been captured."""
        return self._transition(
            "capture",
            payment_intent_id,
            done="succeeded",
            idempotency_key=idempotency_key,
            send=lambda v1, options: v1.payment_intents.capture(payment_intent_id, None, options),
        )

    def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> str:
        """Void the authorization (release the held funds). Returns ``canceled``, also when it already was."""
        return self._transition(
            "cancel",
            payment_intent_id,
            done="canceled",
            idempotency_key=idempotency_key,
            send=lambda v1, options: v1.payment_intents.cancel(payment_intent_id, None, options),
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """The PaymentIntent as Stripe's JSON (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/payment_intents/{id}",
            lambda v1, options: v1.payment_intents.retrieve(payment_intent_id, None, options),
        )

    # --- after the sale ------------------------------------------------------------------------------

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: Money | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult:
        """Refund ``amount`` of the PaymentIntent's charge (``None``: all that remains). ``reason`` goes to
        Stripe when it is one of Stripe's (``duplicate``, ``fraudulent``, ``requested_by_customer``; Stripe
        refuses any other), and always to the refund's metadata as ``o2c_refund_reason``. Several partial
        refunds are fine, each under its own key (e.g. ``f"refund:{credit_memo_id}"``). A refund that fails
        at Stripe is returned with ``status`` ``failed``; more than remains is refused (``PermanentError``
        ``amount_too_large``). With an ``amount``, the PaymentIntent is read first and a currency other
        than its own is refused here (``ValueError``): Stripe takes no currency on a refund, so 100 JPY
        against a USD payment would refund 1.00 USD."""
        if reason:
            metadata = {**metadata, "o2c_refund_reason": reason}
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "metadata": _metadata(metadata)}
        if reason in STRIPE_REFUND_REASONS:
            params["reason"] = reason
        if amount is not None:
            if amount.amount <= 0:
                raise ValueError("a refund amount must be positive")
            currency = str(self.retrieve_payment_intent(payment_intent_id).get("currency") or "")
            if currency.upper() != amount.currency:
                raise ValueError(
                    f"refund in {amount.currency} for {payment_intent_id}, which was paid in {currency.upper()}"
                )
            params["amount"] = to_stripe(amount)
        refund = self._call(
            "POST /v1/refunds",
            lambda v1, options: v1.refunds.create(params, options),
            idempotency_key=idempotency_key,
        )
        return RefundResult(
            id=_id_of(refund, "re_", "refund"),
            status=str(refund.get("status")),
            amount=from_stripe(int(refund["amount"]), str(refund["currency"])),
            charge_id=_ref(refund.get("charge")),
            payment_intent_id=_ref(refund.get("payment_intent")),
            failure_reason=refund.get("failure_reason"),
        )

    def list_balance_transactions(
        self, *, payout_id: str, page_size: int = 100, expand_sources: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every balance transaction an automatic payout is made of, the payout's own (``type``
        ``payout``) included (complete only once the payout's ``reconciliation_status`` is ``completed``;
        Stripe refuses a manual payout's id with a 400), newest first, following Stripe's cursor
        pagination (``starting_after`` the last id while ``has_more``); each page is one retried request,
        fetched as the iterator reaches it.
        Items are Stripe's JSON (``id``, ``type`` e.g. ``charge``/``refund``/``adjustment``/``payout``,
        ``amount``, ``fee``, ``net``, ``currency``, ``exchange_rate``), ``source`` an id; with
        ``expand_sources`` the object itself (Stripe's ``expand[]=data.source``: a charge with its
        ``payment_intent``, a refund, the payout), in the same request."""
        if not 1 <= page_size <= 100:
            raise ValueError("page_size is 1..100")
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"payout": payout_id, "limit": page_size}
            if starting_after is not None:
                params["starting_after"] = starting_after
            if expand_sources:
                params["expand"] = ["data.source"]

            def send(v1: Any, options: dict[str, Any], params: dict[str, Any] = params) -> Any:
                return v1.balance_transactions.list(params, options)

            page = self._call("GET /v1/balance_transactions", send)
            items = page.get("data") or []
            for item in items:
                txn = dict(item)
                source = txn.get("source")
                txn["source"] = dict(source) if expand_sources and isinstance(source, dict) else _ref(source)
                yield txn
            if not page.get("has_more") or not items:
                return
            starting_after = str(items[-1]["id"])

    def list_disputes(self, *, created_since: int, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every dispute created at or after ``created_since`` (epoch seconds; ``created[gte]``), newest first,
        following Stripe's cursor pagination. Items are Stripe's JSON (``id``, ``status``, ``amount``,
        ``currency``, ``reason``, ``evidence_details.due_by``, ``payment_intent``, ``charge``)."""
        if not 1 <= page_size <= 100:
            raise ValueError("page_size is 1..100")
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"created": {"gte": created_since}, "limit": page_size}
            if starting_after is not None:
                params["starting_after"] = starting_after

            def send(v1: Any, options: dict[str, Any], params: dict[str, Any] = params) -> Any:
                return v1.disputes.list(params, options)

            page = self._call("GET /v1/disputes", send)
            items = [dict(item) for item in page.get("data") or []]
            yield from items
            if not page.get("has_more") or not items:
                return
            starting_after = str(items[-1]["id"])

    @property
    def api_version(self) -> str:
        """The Stripe API version this connector speaks: the one given, else the one its SDK is pinned to."""
        if self._stripe_version:
            return self._stripe_version
        import stripe

        return str(stripe.api_version)

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        """Every webhook endpoint of the account (Stripe's JSON: ``url``, ``enabled_events``, ``status``,
        ``api_version``), following Stripe's cursor pagination."""
        out: list[dict[str, Any]] = []
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if starting_after is not None:
                params["starting_after"] = starting_after

            def send(v1: Any, options: dict[str, Any], params: dict[str, Any] = params) -> Any:
                return v1.webhook_endpoints.list(params, options)

            page = self._call("GET /v1/webhook_endpoints", send)
            items = [dict(item) for item in page.get("data") or []]
            out.extend(items)
            if not page.get("has_more") or not items:
                return out
            starting_after = str(items[-1]["id"])

    def create_webhook_endpoint(
        self, *, url: str, enabled_events: list[str], api_version: str | None = None
    ) -> dict[str, Any]:
        """Register a webhook endpoint (``POST /v1/webhook_endpoints``), pinned to ``api_version`` (default:
        the version this connector speaks). The answer holds the signing ``secret`` (shown only here)."""
        params = {
            "url": url,
            "enabled_events": enabled_events,
            "api_version": api_version or self.api_version,
        }
        return self._call(
            "POST /v1/webhook_endpoints", lambda v1, options: v1.webhook_endpoints.create(params, options)
        )

    def retrieve_payout(self, payout_id: str) -> dict[str, Any]:
        """The Payout as Stripe's JSON (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/payouts/{id}", lambda v1, options: v1.payouts.retrieve(payout_id, None, options)
        )

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        """The Customer as Stripe's JSON (its metadata links the ERP and CRM ids)."""
        return self._call(
            "GET /v1/customers/{id}", lambda v1, options: v1.customers.retrieve(customer_id, None, options)
        )

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        """The Invoice as Stripe's JSON (its current status: a late webhook must not undo a later fact)."""
        return self._call(
            "GET /v1/invoices/{id}", lambda v1, options: v1.invoices.retrieve(invoice_id, None, options)
        )

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        """The Invoice (``in_...``) the PaymentIntent paid or was attempted for: the invoice of its first
        InvoicePayment (``GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=``),
        as at this API version neither the PaymentIntent nor its Charge names an invoice (a subscription
        renewal's payment carries no metadata either). None for a payment made without an invoice (a
        one-off PaymentIntent). A declined renewal's payment also answers its (still open) invoice."""
        params: dict[str, Any] = {
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
            "limit": 1,
        }
        page = self._call(
            "GET /v1/invoice_payments",
            lambda v1, options: v1.invoice_payments.list(params, options),
        )
        for item in page.get("data") or []:
            invoice_id = _ref(item.get("invoice"))
            if invoice_id is not None:
                return invoice_id
        return None

    def payment_of_invoice(self, invoice_id: str) -> str | None:
        """The PaymentIntent (``pi_...``) that paid the Invoice: the one of its ``paid`` InvoicePayment
        (``GET /v1/invoice_payments?invoice=in_...&status=paid``), as since API 2025-03-31.basil an Invoice
        names no ``payment_intent`` (nor ``charge``) and a webhook's invoice carries no ``payments``. None
        when no PaymentIntent paid it (paid out of band, or not paid yet); ``NotFound`` when Stripe has no
        such invoice (it answers the list filter with a 400 ``resource_missing``)."""
        params: dict[str, Any] = {"invoice": invoice_id, "status": "paid", "limit": 10}
        try:
            page = self._call(
                "GET /v1/invoice_payments",
                lambda v1, options: v1.invoice_payments.list(params, options),
            )
        except PermanentError as exc:
            if exc.code == "resource_missing" and not isinstance(exc, NotFound):
                raise NotFound(str(exc), status=exc.status, code=exc.code, detail=exc.detail) from exc
            raise
        for item in page.get("data") or []:
            payment = item.get("payment") or {}
            if payment.get("type") == "payment_intent":
                intent = _ref(payment.get("payment_intent"))
                if intent is not None:
                    return intent
        return None

    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        """The Charge as Stripe's JSON: ``amount_captured``, ``amount_refunded``, ``refunded``,
        ``disputed``, ``balance_transaction`` (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/charges/{id}", lambda v1, options: v1.charges.retrieve(charge_id, None, options)
        )

    def retrieve_dispute(self, dispute_id: str) -> dict[str, Any]:
        """The Dispute as Stripe's JSON: ``status``, ``reason``, ``amount``, ``currency``, ``charge``,
        ``payment_intent``, ``evidence_details.due_by`` (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/disputes/{id}", lambda v1, options: v1.disputes.retrieve(dispute_id, None, options)
        )

    def retrieve_refund(self, refund_id: str) -> dict[str, Any]:
        """The Refund as Stripe's JSON (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/refunds/{id}", lambda v1, options: v1.refunds.retrieve(refund_id, None, options)
        )

    def retrieve_balance_transaction(self, txn_id: str) -> dict[str, Any]:
        """The BalanceTransaction as Stripe's JSON: ``amount``, ``currency``, ``exchange_rate``, ``fee``,
        ``fee_details``, ``net`` (``NotFound`` if there is none)."""
        return self._call(
            "GET /v1/balance_transactions/{id}",
            lambda v1, options: v1.balance_transactions.retrieve(txn_id, None, options),
        )

    def settlement_of(self, payment_intent_id: str) -> Settlement | None:
        """How the PaymentIntent's captured charge settled: its ``latest_charge`` and that charge's
        ``balance_transaction``, in one read (``expand[]=latest_charge.balance_transaction``). None while
        there is no captured charge with a balance transaction (not yet captured, declined, canceled)."""
        params = {"expand": ["latest_charge.balance_transaction"]}
        intent = self._call(
            "GET /v1/payment_intents/{id}",
            lambda v1, options: v1.payment_intents.retrieve(payment_intent_id, params, options),
        )
        charge = intent.get("latest_charge")
        if not charge:
            return None
        if not isinstance(charge, dict):
            raise InvalidRecord(f"payment {payment_intent_id}: Stripe did not expand its latest_charge")
        charge_id = _ref(charge)
        txn = charge.get("balance_transaction")
        txn_id = _ref(txn)
        if not charge.get("captured") or txn_id is None:
            return None
        if not isinstance(txn, dict):
            raise InvalidRecord(f"charge {charge_id}: Stripe did not expand its balance_transaction")
        try:
            currency = str(txn["currency"])
            rate = txn.get("exchange_rate")
            return Settlement(
                charged=from_stripe(int(charge["amount_captured"]), str(charge["currency"])),
                settled=from_stripe(int(txn["amount"]), currency),
                exchange_rate=None if rate is None else Decimal(repr(float(rate))),
                fee=from_stripe(int(txn.get("fee") or 0), currency),
                balance_transaction_id=txn_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecord(f"charge {charge_id}: unexpected balance transaction {txn_id}") from exc

    # --- internals -----------------------------------------------------------------------------------

    def _transition(
        self,
        verb: str,
        payment_intent_id: str,
        *,
        done: str,
        idempotency_key: str,
        send: Callable[[Any, dict[str, Any]], Any],
    ) -> str:
        try:
            pi = self._call(f"POST /v1/payment_intents/{{id}}/{verb}", send, idempotency_key=idempotency_key)
        except PaymentIntentStateError as exc:
            current = exc.payment_intent_status
            if current is None:
                current = self.retrieve_payment_intent(payment_intent_id).get("status")
            if current == done:
                log.info("%s %s: already %s", verb, payment_intent_id, done)
                return done
            raise
        return str(pi.get("status"))

    def _stripe_client(self) -> stripe.StripeClient:
        with self._client_lock:
            if self._client is None:
                import stripe  # lazy: ~0.5 s of imports, paid only by functions that call Stripe

                self._client = stripe.StripeClient(
                    self._api_key(),
                    base_addresses={"api": self.base_url},
                    stripe_version=self._stripe_version,
                    max_network_retries=0,  # ours: see the module docstring
                    http_client=stripe.RequestsClient(timeout=self._timeout),
                )
            return self._client

    def _call(
        self,
        what: str,
        send: Callable[[Any, dict[str, Any]], Any],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send with retries; Stripe's JSON as plain dicts."""
        if idempotency_key is not None and not idempotency_key.strip():
            raise ValueError("idempotency_key must not be empty")
        client = self._stripe_client()
        import stripe  # already loaded by _stripe_client

        def attempt_once() -> dict[str, Any]:
            options: dict[str, Any] = {"api_key": self._api_key()}
            if idempotency_key is not None:
                options["idempotency_key"] = idempotency_key
            try:
                return dict(send(client.v1, options).to_dict())
            except stripe.StripeError as exc:
                raise self._classify(exc, what) from exc

        return with_retries(
            attempt_once,
            what=what,
            max_attempts=self._max_attempts,
            base_backoff_s=self._base_backoff_s,
            max_wait_s=self._max_retry_wait_s,
            sleep=self._sleep,
        )

    def _classify(self, exc: stripe.StripeError, what: str) -> ConnectorError:
        """The connector error a Stripe SDK exception stands for."""
        import stripe

        status = exc.http_status
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        code = error.get("code") or (error.get("type") if error.get("type") == "idempotency_error" else None)
        detail = str(error.get("message") or exc.user_message or "")[:_DETAIL_LIMIT] or None
        message = (
            f"{what} -> "
            + (f"HTTP {status}" if status else type(exc).__name__)
            + (f" {code}" if code else "")
        )
        headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
        should_retry = headers.get("stripe-should-retry")

        if isinstance(exc, stripe.CardError):
            return _CardDeclined(message, error=error)
        if isinstance(exc, stripe.APIConnectionError):
            # timeout, refused/reset/dropped connection: the request may or may not have been applied;
            # the retry carries the same Idempotency-Key, so Stripe replays instead of applying twice
            return TransientError(message, code="connection_error")
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
            return AuthError(message, status=status, code=code)  # no detail: it may echo the key
        if should_retry == "true" or (
            should_retry != "false"
            and (isinstance(exc, stripe.RateLimitError) or status in (408, 409) or (status or 0) >= 500)
        ):
            retry_after = parse_retry_after(headers.get("retry-after"))
            return TransientError(message, status=status, retry_after=retry_after, code=code, detail=detail)
        if status == 404:
            return NotFound(message, status=status, code=code, detail=detail)
        if code == _UNEXPECTED_STATE:
            pi = error.get("payment_intent")
            return PaymentIntentStateError(
                message,
                status=status,
                code=code,
                detail=detail,
                payment_intent_status=pi.get("status") if isinstance(pi, dict) else None,
            )
        return PermanentError(message, status=status, code=code, detail=detail)


class PaymentIntentStateError(PermanentError):
    """The PaymentIntent is not in a status that allows the operation (Stripe's
    ``payment_intent_unexpected_state``), e.g. capturing a canceled one. ``payment_intent_status`` is its
    status when Stripe said so."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        payment_intent_status: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, detail=detail)
        self.payment_intent_status = payment_intent_status


class _CardDeclined(PermanentError):
    """A 402 ``card_error``: ``authorize`` and ``confirm_setup_intent`` turn it into their result."""

    def __init__(self, message: str, *, error: dict[str, Any]) -> None:
        super().__init__(message, status=402, code=error.get("code"), detail=error.get("message"))
        self.error = error


def radar_and_wallet(pi: Mapping[str, Any]) -> dict[str, Any]:
    """What the PaymentIntent's charge (expanded ``latest_charge``) says of Radar and the wallet: its
    ``outcome.risk_level`` / ``risk_score``, its ``review`` (or the PaymentIntent's), and
    ``payment_method_details.card.wallet.type``. Nothing when the charge is not expanded."""
    charge = pi.get("latest_charge")
    if not isinstance(charge, Mapping):
        return {"review_id": _ref(pi.get("review"))}
    outcome = charge.get("outcome") or {}
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    score = outcome.get("risk_score")
    return {
        "risk_level": outcome.get("risk_level"),
        "risk_score": int(score) if isinstance(score, int | float) else None,
        "review_id": _ref(charge.get("review")) or _ref(pi.get("review")),
        "wallet": (card.get("wallet") or {}).get("type"),
    }


def _metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    return {str(key): str(value) for key, value in metadata.items()}


def _quote(value: str) -> str:
    """A value inside single quotes in Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _ref(value: Any) -> str | None:
    """An id from a field that holds an id or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _id_of(obj: dict[str, Any], prefix: str, what: str) -> str:
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id.startswith(prefix):
        raise InvalidRecord(f"Stripe returned a {what} without a {prefix} id")
    return object_id


__all__ = [
    "AuthorizationResult",
    "PaymentIntentStateError",
    "RefundResult",
    "Settlement",
    "SetupResult",
    "StripePayments",
]
