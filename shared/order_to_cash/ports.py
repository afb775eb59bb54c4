"""The order-to-cash domain's ports: what the domain (``shared.order_to_cash``) asks of the ERP, the payment
platform, the tax engine, the CRMs and subscription billing, as ``typing.Protocol`` s with the value types that
cross them. The vendor clients (``shared.outbound``: NetSuite, Stripe, AvaTax, HubSpot, Salesforce) implement
them, ``shared.outbound.factories`` hands them out typed as these ports, and mypy checks the domain against
them; the domain imports no vendor client (``.importlinter``: ``domain-uses-ports``).

A vendor's own record (a NetSuite record, a Stripe object) is passed through as ``Record``: an open mapping
whose fields the reader narrows where it reads them. What the hub computes from a vendor's answer is a frozen
dataclass here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from shared.money import Money

if TYPE_CHECKING:
    from shared.crm.closed_won import DealState
    from shared.crm.models import Address, CrmOpportunity

#: A vendor's record as its API returns it (JSON object): open, read field by field.
Record = Mapping[str, object]

# --- ERP -----------------------------------------------------------------------------------------------

#: The ERP invoice's read-side status ids (NetSuite ``status.id``: A Open, B Paid In Full, D Pending
#: Approval, E Rejected, V Voided), as the reconciliation compares them.
INVOICE_STATUS = {"open": "A", "paidInFull": "B", "pendingApproval": "D", "rejected": "E", "voided": "V"}


@dataclass(frozen=True)
class ErpRef:
    """A record in the ERP: internal id, the hub's external id, and its document number (``tranId`` of a
    transaction, ``entityId`` of a customer) when it has one."""

    id: str
    external_id: str
    document_number: str | None = None


@dataclass(frozen=True)
class CustomerPayment:
    """A customer payment as the ERP holds it: ``amount`` in the payment's own currency,
    ``exchange_rate`` from that currency to its subsidiary's base currency (1 in the base currency),
    ``deposited`` once a deposit includes it."""

    id: str
    external_id: str
    amount: Money
    exchange_rate: Decimal
    deposited: bool


@dataclass(frozen=True)
class OrderLine:
    """One sales order line. The item is ``item_external_id`` (the item's external id in the ERP), else
    the connector's default item with ``name`` as the line description. ``amount`` is the line's net
    amount (quantity x rate less discounts), ``tax`` its tax (from the tax engine); all in the order's
    currency."""

    quantity: int
    rate: Money
    amount: Money
    tax: Money
    item_external_id: str | None = None
    name: str | None = None
    #: the order's cash rounding (its total rounded to what the ERP and the payment platform both take):
    #: the account's rounding item, non-taxable
    rounding: bool = False
    #: revenue recognition of the line (NetSuite item fields ``revRecStartDate``, ``revRecEndDate``,
    #: ``revRecTermInMonths``): a subscription's period, a service's delivery date; the ERP's revenue
    #: schedules are built from them
    rev_rec_start: date | None = None
    rev_rec_end: date | None = None
    rev_rec_term_months: int | None = None


class Erp(Protocol):
    """The ERP (``shared.outbound.netsuite.NetSuiteErp``). Every write is an upsert or a transform under the
    hub's external id, so a retry finds what an earlier attempt made."""

    def session(self) -> contextlib.AbstractContextManager[None]: ...
    def get(self, record_type: str, record_id: str) -> Record: ...
    def get_by_external_id(
        self, record_type: str, external_id: str, *, expand: bool = False
    ) -> Record | None: ...
    def customer_payment(self, external_id: str) -> CustomerPayment | None: ...
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
    ) -> ErpRef: ...
    def upsert_sales_order(
        self,
        external_id: str,
        *,
        customer_id: str,
        subsidiary_id: str,
        currency: str,
        lines: list[OrderLine],
        memo: str | None = None,
    ) -> ErpRef: ...
    def invoice_sales_order(self, order_id: str, *, external_id: str, read_number: bool = True) -> ErpRef: ...
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
    ) -> ErpRef: ...
    def activate_sales_order(self, order_id: str) -> None: ...
    def release_sales_order(self, order_id: str) -> None: ...
    def cancel_sales_order(self, order_id: str) -> None: ...
    def mark_dunning(self, customer_id: str, *, state: str | None) -> None: ...
    def invoice_with_lines(self, invoice_id: str) -> tuple[Record, list[OrderLine]]: ...
    def credit_memo_lines(self, credit_memo_id: str) -> list[OrderLine]: ...
    def tax_customer(self, customer_id: str) -> tuple[str | None, Address | None]: ...
    def credit_invoice(
        self,
        invoice_id: str,
        *,
        external_id: str,
        amount: Money,
        memo: str | None,
        invoice: Record | None = None,
    ) -> ErpRef: ...
    def refund_credit_memo(
        self,
        credit_memo_id: str,
        *,
        external_id: str,
        customer_id: str,
        amount: Money,
        memo: str | None,
        account_id: str | None = None,
    ) -> ErpRef: ...
    def open_dispute_hold(
        self, invoice_id: str, *, external_id: str, amount: Money, memo: str | None
    ) -> ErpRef: ...
    def settle_dispute(self, external_id: str, *, outcome: Literal["won", "lost"]) -> ErpRef | None: ...
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
    ) -> ErpRef: ...
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
    ) -> ErpRef: ...


# --- payments ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationResult:
    """What an off-session authorization came to. ``status`` is the PaymentIntent's: ``requires_capture``
    (authorized, funds held), ``requires_payment_method`` (declined: ``failure_code`` e.g.
    ``card_declined``, ``decline_code`` e.g. ``insufficient_funds``, ``message`` Stripe's text for the
    payer), ``requires_action`` (the bank wants the customer present), ``succeeded``, ``processing``."""

    payment_intent_id: str
    status: str
    decline_code: str | None = None
    failure_code: str | None = None
    message: str | None = None
    #: Radar on the charge (``outcome.risk_level``: ``normal``, ``elevated``, ``highest``; ``risk_score``
    #: 0-100) and the review Radar opened on it (``prv_...``; capture waits for it), when Stripe says
    risk_level: str | None = None
    risk_score: int | None = None
    review_id: str | None = None
    #: the card's wallet (``payment_method_details.card.wallet.type``: ``apple_pay``, ``google_pay`` ...)
    wallet: str | None = None

    @property
    def authorized(self) -> bool:
        return self.status == "requires_capture"


@dataclass(frozen=True)
class DebitResult:
    """What submitting a bank debit came to. ``status`` is the PaymentIntent's: ``processing`` (submitted;
    the bank answers days later), ``succeeded``, or ``requires_payment_method`` (refused at once:
    ``failure_code``, ``message``)."""

    payment_intent_id: str
    status: str
    failure_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """What a refund came to. ``status`` is the Refund's: ``succeeded``, ``pending`` (may still fail:
    watch ``refund.failed``), ``requires_action``, ``failed`` (``failure_reason`` e.g.
    ``expired_or_canceled_card``, ``lost_or_stolen_card``, ``unknown``; nothing was refunded) or
    ``canceled``. ``amount`` is the refund's, in ISO minor units."""

    id: str
    status: str
    amount: Money
    charge_id: str | None
    payment_intent_id: str | None
    failure_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "canceled")


@dataclass(frozen=True)
class Settlement:
    """How a captured charge reached the Stripe balance. ``charged``: what the customer paid, in the
    charge's currency; ``settled``: the balance transaction's amount, in the balance currency Stripe
    settled it in; ``exchange_rate``: Stripe's rate between them (``charged`` x rate = ``settled``; None
    when the charge settled in its own currency); ``fee``: every Stripe fee on it (processing and currency
    conversion), in the balance currency."""

    charged: Money
    settled: Money
    exchange_rate: Decimal | None
    fee: Money
    balance_transaction_id: str

    @property
    def net(self) -> Money:
        """What the charge added to the balance: ``settled`` less ``fee``."""
        return Money.of(self.settled.amount - self.fee.amount, self.settled.currency)


class Payments(Protocol):
    """The payment platform (``shared.outbound.stripe_payments.StripePayments``). Writes carry an
    Idempotency-Key derived from the deal; reads return the platform's objects (``Record``)."""

    def ensure_customer(
        self, *, erp_customer_id: str, crm_account_id: str, name: str, email: str | None, idempotency_key: str
    ) -> str: ...
    def create_setup_intent(
        self,
        *,
        customer_id: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        payment_method_types: Sequence[str] = ("card",),
    ) -> Record: ...
    def authorize(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount: Money,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> AuthorizationResult: ...
    def debit(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        method_type: str,
        amount: Money,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> DebitResult: ...
    def capture(self, *, payment_intent_id: str, idempotency_key: str) -> str: ...
    def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> str: ...
    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: Money | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
        reason: str | None = None,
    ) -> RefundResult: ...
    def retrieve_payment_method(self, payment_method_id: str) -> Record: ...
    def retrieve_payment_intent(self, payment_intent_id: str) -> Record: ...
    def retrieve_charge(self, charge_id: str) -> Record: ...
    def retrieve_customer(self, customer_id: str) -> Record: ...
    def retrieve_invoice(self, invoice_id: str) -> Record: ...
    def retrieve_payout(self, payout_id: str) -> Record: ...
    def retrieve_dispute(self, dispute_id: str) -> Record: ...
    def invoice_of_payment(self, payment_intent_id: str) -> str | None: ...
    def payment_of_invoice(self, invoice_id: str) -> str | None: ...
    def settlement_of(self, payment_intent_id: str) -> Settlement | None: ...
    def list_balance_transactions(
        self, *, payout_id: str, page_size: int = 100, expand_sources: bool = False
    ) -> Iterable[Record]: ...
    def list_disputes(self, *, created_since: int, page_size: int = 100) -> Iterable[Record]: ...


@dataclass(frozen=True)
class RecurringItem:
    """One subscription item: ``unit_price`` billed every ``interval_count`` x ``interval`` for ``quantity``."""

    product_id: str
    unit_price: Money
    quantity: int
    interval: str  # day | week | month | year
    interval_count: int = 1


class Billing(Protocol):
    """The payment platform's subscriptions (``shared.outbound.stripe_subscriptions.StripeSubscriptions``)."""

    def create_product(self, *, name: str, metadata: Mapping[str, str], idempotency_key: str) -> str: ...
    def find_subscription(self, *, customer_id: str, key: str, value: str) -> Record | None: ...
    def create_subscription(
        self,
        *,
        customer_id: str,
        items: Sequence[RecurringItem],
        payment_method_id: str | None,
        trial_end: int | None,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> Record: ...


# --- tax -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxLine:
    """One line to tax: ``amount`` is the line's total (quantity x price), ``tax_code`` the engine's (e.g.
    AvaTax ``SW054000`` for SaaS), ``item_code`` the SKU."""

    number: str
    amount: Money
    quantity: int = 1
    item_code: str | None = None
    tax_code: str | None = None


class LineTax(NamedTuple):
    number: str
    tax: Money


@dataclass(frozen=True)
class TaxResult:
    total_tax: Money
    lines: list[LineTax]


@dataclass(frozen=True)
class ReturnLine:
    """One line of a return: what was given back of an original line, ``amount`` its net and ``tax`` its tax,
    both positive (the return makes them negative)."""

    number: str
    amount: Money
    tax: Money
    quantity: int = 1
    item_code: str | None = None


@dataclass(frozen=True)
class RecordedReturn:
    """A return the tax engine recorded: its code, status (``Committed``) and totals (negative: liability
    falls)."""

    code: str
    status: str
    total_amount: Money
    total_tax: Money


@dataclass(frozen=True)
class SaleLine:
    """One invoiced line: ``amount`` its net (quantity x price), ``tax`` the tax invoiced on it."""

    number: str
    amount: Money
    tax: Money
    quantity: int = 1
    item_code: str | None = None
    tax_code: str | None = None


@dataclass(frozen=True)
class RecordedSale:
    """A sale the tax engine recorded: its code, status (``Committed``), totals, and the tax the engine
    computed on its own (AvaTax ``totalTaxCalculated``; differs from ``total_tax`` when the invoiced tax is
    not what the engine would charge today)."""

    code: str
    status: str
    total_amount: Money
    total_tax: Money
    tax_calculated: Money | None


class Tax(Protocol):
    """The tax engine (``shared.outbound.avatax.AvaTax``): a quote's tax, and the sales and returns it
    records (once per document code)."""

    def calculate(
        self,
        *,
        document_code: str,
        customer_code: str,
        date: date,
        ship_to: Address,
        ship_from: Address | None,
        lines: list[TaxLine],
        currency: str,
    ) -> TaxResult: ...
    def record_sale(
        self,
        *,
        document_code: str,
        customer_code: str,
        date: date,
        ship_to: Address,
        lines: list[SaleLine],
        currency: str,
        reason: str,
    ) -> RecordedSale: ...
    def record_return(
        self,
        *,
        document_code: str,
        reference_code: str,
        customer_code: str,
        date: date,
        tax_date: date,
        ship_to: Address,
        lines: list[ReturnLine],
        currency: str,
        reason: str,
    ) -> RecordedReturn: ...


# --- CRM -----------------------------------------------------------------------------------------------


class Crm(Protocol):
    """A CRM (``shared.outbound.hubspot.HubSpotCrm``, ``shared.outbound.salesforce.SalesforceCrm``): its deals
    (HubSpot deals, Salesforce opportunities) read fresh, tasks for their owners, the hub's payment status
    written on them."""

    def fetch_opportunity(self, opportunity_id: str, /) -> CrmOpportunity: ...
    def fetch_deal_state(self, opportunity_id: str, /) -> DealState: ...
    def create_task(
        self,
        opportunity_id: str,
        /,
        *,
        subject: str,
        body: str,
        due: datetime,
        owner_id: str | None,
        idempotency_key: str,
    ) -> str: ...
    def write_payment_status(self, opportunity_id: str, status: str, /) -> None: ...
