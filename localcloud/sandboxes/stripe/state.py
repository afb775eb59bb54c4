"""The state a ``StripeSandbox`` is made of, and the request being served (``_Call``)."""

from __future__ import annotations

import collections
import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from localcloud.sandboxes.base import Reply, Sandbox

if TYPE_CHECKING:
    from localcloud.sandboxes.stripe.cards import SandboxCard, _PaymentMethod


#: The API version the sandbox's webhook endpoint is pinned to (the SDK's pinned version).
API_VERSION = "2026-10-28.endive"


@dataclass
class _Call:
    """The API request being served: what its events record under ``request``."""

    request_id: str
    idempotency_key: str | None
    params: dict[str, Any]
    #: the request's ``expand[]`` paths, checked (``expand.expansions``), applied to the reply after it ran
    expand: list[list[str]] = field(default_factory=list)


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
    endpoint: str | None = None  # a WebhookEndpoint (we_...), or None: the sandbox's webhook_url


@dataclass
class _Webhooks:
    queue: collections.deque[_Outgoing] = field(default_factory=collections.deque)
    held: bool = False
    in_flight: int = 0
    stopping: bool = False


Handler = Callable[[_Call, "re.Match[str]"], dict[str, Any]]


class StripeState(Sandbox):
    """The account's records and the delivery state, shared by the resource mixins of ``StripeSandbox``."""

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        api_key: str,
        webhook_delay_s: float,
        api_version: str,
        host: str,
        port: int,
    ) -> None:
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
        self._reviews: dict[str, dict[str, Any]] = {}  # Radar (radar.py)
        self._early_fraud_warnings: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._products: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._invoice_payments: dict[str, dict[str, Any]] = {}  # oldest first
        self._payouts: dict[str, dict[str, Any]] = {}
        self._balance_txns: dict[str, dict[str, Any]] = {}  # oldest first
        self._paid_out_in: dict[str, str] = {}  # txn_ -> po_ that paid it out
        self._settlement: dict[str, tuple[str, Decimal]] = {}  # charge currency -> (balance currency, rate)
        self.reconciliation_delay_s = 0.2  # payout.paid -> payout.reconciliation_completed
        self._reconciliation_held = False
        self._failing_refunds = 0
        self._webhook_endpoints: dict[str, dict[str, Any]] = {}  # oldest first
        self._endpoint_secrets: dict[str, str] = {}  # we_ -> whsec_
        self._own_endpoints: set[str] = set()  # we_ registered for webhook_url: they follow it
        self._events: dict[str, dict[str, Any]] = {}
        self._event_bodies: dict[str, bytes] = {}
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._commit_faults: list[_CommitFault] = []
        self._api_calls: list[dict[str, Any]] = []
        self._sent: list[dict[str, Any]] = []
        self._wh = _Webhooks()
        self._wh_cond = threading.Condition()
        self._worker: threading.Thread | None = None

    def _snapshot(self, store: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of every object in one of the sandbox's stores, oldest first."""
        with self._lock:
            return copy.deepcopy(list(store.values()))

    if TYPE_CHECKING:  # what the mixins call on one another

        def complete_setup(
            self, setup_intent_id: str, payment_method: str = "pm_card_visa"
        ) -> dict[str, Any]: ...

        def settle_into(
            self, currency: str, into: str | None, rate: Decimal | str | float | None
        ) -> None: ...

        def settlements(self) -> dict[str, dict[str, str]]: ...

        def fail_next_refund(self, count: int = 1) -> None: ...

        def open_dispute(self, charge_id: str, reason: str = "fraudulent") -> str: ...

        def close_dispute(self, dispute_id: str, outcome: str = "won") -> dict[str, Any]: ...

        def create_subscription(
            self,
            customer_id: str,
            amount: int,
            currency: str,
            interval: str = "month",
            metadata: dict[str, str] | None = None,
        ) -> str: ...

        def renew(self, subscription_id: str, *, succeed: bool = True) -> str: ...

        def create_payout(self, currency: str | None = None, *, automatic: bool = True) -> str: ...

        def complete_reconciliation(self, payout_id: str) -> bool: ...

        def hold_reconciliation(self) -> None: ...

        def release_reconciliation(self) -> list[str]: ...

        def create_payouts(self) -> list[str]: ...

        def commit_then_timeout_next(self, count: int = 1, *, delay_s: float | None = None) -> None: ...

        def hold_webhooks(self) -> None: ...

        def release_webhooks(self) -> None: ...

        def wait_for_webhooks(self, timeout_s: float = 5.0) -> None: ...

        def redeliver(self, event_id: str) -> tuple[int, str]: ...

        def _payment_intent_param(self, payment_intent_id: str) -> dict[str, Any]: ...

        def _new_payment_intent(
            self, amount: int, currency: str, *, customer: str, pm: dict[str, Any]
        ) -> dict[str, Any]: ...

        def _decline(
            self, pi: dict[str, Any], charge: dict[str, Any], card: SandboxCard, pm: dict[str, Any]
        ) -> None: ...

        def _new_charge(
            self, pi: dict[str, Any], pm: dict[str, Any], *, description: str | None = None
        ) -> dict[str, Any]: ...

        def _capture_charge(self, charge: dict[str, Any], amount: int) -> None: ...

        def _in_balance_of(
            self, charge: dict[str, Any], amount: int, currency: str
        ) -> tuple[int, str, Decimal | None]: ...

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
        ) -> dict[str, Any]: ...

        def _customer_param(self, params: dict[str, Any]) -> str | None: ...

        def _endpoints_for(self, event_type: str) -> list[str]: ...

        def _card_for(self, payment_method: str, *, param: str) -> SandboxCard: ...

        def _payment_method_for(self, pm_param: str, card: SandboxCard) -> dict[str, Any]: ...

        def _mint_payment_method(self, card: SandboxCard, *, customer: str | None) -> dict[str, Any]: ...

        def is_bank_method(self, payment_method: str | None) -> bool: ...

        def bank_method(self, payment_method: str) -> dict[str, Any]: ...

        def now(self) -> float: ...

        def advance_clock(self, seconds: float) -> list[str]: ...

        def mandates(self) -> list[dict[str, Any]]: ...

        def _save_bank_account(self, seti: dict[str, Any], params: dict[str, Any], call: _Call) -> None: ...

        def _check_debit(
            self, pm: dict[str, Any], params: dict[str, Any], currency: str, capture: str
        ) -> str: ...

        def _start_debit(self, pi: dict[str, Any], pm: dict[str, Any], mandate: str, call: _Call) -> None: ...

        def _open_review(self, charge: dict[str, Any], call: _Call | None) -> dict[str, Any]: ...

        def _setup_succeeded(self, seti: dict[str, Any], pm: dict[str, Any], call: _Call | None) -> None: ...

        def _emit(
            self,
            event_type: str,
            obj: dict[str, Any],
            call: _Call | None,
            previous: dict[str, Any] | None = None,
        ) -> None: ...
