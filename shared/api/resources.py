"""Request and response models of the /v1 API: the contract (``api/openapi.json`` is generated from them).

Within ``/v1`` changes are additive only: new optional request fields, new response fields, new enum values.
Amounts are exact: ``Money`` is minor units and an ISO currency (as in every canonical event); request
amounts are decimal strings in major units (``"100.00"``), never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.money import CurrencyCode, Money

Id = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:-]+$")]
#: a customer's id as the caller gives it: the ERP customer is ``api-<it>``, and NetSuite takes external ids of
#: letters, digits, ``_`` and ``-``, at most 200 characters (``shared/outbound/netsuite/model.py``)
CustomerExternalId = Annotated[str, Field(min_length=1, max_length=196, pattern=r"^[A-Za-z0-9_-]+$")]
MajorAmount = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,12}(\.[0-9]{1,3})?$",
        description="A positive decimal amount in the currency's major unit, e.g. 100.00",
        examples=["100.00"],
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- orders ----------------------------------------------------------------------------------------------


class AddressIn(_In):
    street: Annotated[str, Field(min_length=1, max_length=200)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    state: Annotated[str, Field(max_length=100)] | None = None
    postalCode: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class CustomerIn(_In):
    externalId: Annotated[
        CustomerExternalId, Field(description="The caller's id of the customer (ERP external id api-<it>)")
    ]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$", max_length=320)]
    firstName: Annotated[str, Field(max_length=100)] | None = None
    lastName: Annotated[str, Field(max_length=100)] | None = None
    billingAddress: AddressIn
    taxId: Annotated[str, Field(max_length=50)] | None = None
    region: (
        Annotated[str, Field(max_length=50, description="Sales region: picks the ERP subsidiary")] | None
    ) = None


class CustomerWriteIn(CustomerIn):
    """The customer master from outside the CRM: the ERP customer ``api-<externalId>`` (created or updated)
    and its Stripe customer, the same records an order of this customer books against."""

    currency: CurrencyCode


class CustomerView(_Out):
    id: str = Field(description="The customer's ERP external id (api-<externalId>, hubspot-<company> ...)")
    erpCustomerId: str
    stripeCustomerId: str | None = None
    name: str | None = None
    openInvoices: list[InvoiceSummary] = Field(default_factory=list)
    payments: list[ErpPaymentView] = Field(default_factory=list, description="The last ones, newest first")
    holds: list[str] = Field(default_factory=list, description="Why its orders are on hold, if any")
    crmAccount: CrmAccountLink | None = Field(
        default=None, description="The CRM account the ERP customer was made from (none for an API customer)"
    )
    dunning: str | None = Field(
        default=None, description="The dunning state the hub set on the ERP customer (e.g. past_due), if any"
    )
    lastPayments: list[PaymentView] = Field(
        default_factory=list,
        description="Its last payments (newest first, at most 5) with their status as Stripe and the ERP see it",
    )
    openDisputes: list[DisputeSummary] = Field(
        default_factory=list, description="Disputes (chargebacks) of its payments that Stripe has not closed"
    )


class CrmAccountLink(_Out):
    system: Literal["hubspot", "salesforce"]
    accountId: str


class DisputeSummary(_Out):
    disputeId: str
    status: str = Field(description="Stripe's dispute status now (needs_response, under_review, ...)")
    reason: str | None = None
    amount: Money | None = None
    paymentIntentId: str | None = None
    chargeId: str | None = None
    evidenceDueBy: str | None = Field(default=None, description="When Stripe needs the evidence (ISO 8601)")
    erpDisputeHoldId: str | None = Field(
        default=None, description="The pending hold the hub booked in the ERP"
    )


class InvoiceSummary(_Out):
    erpInvoiceId: str
    documentNumber: str | None = None
    amount: Money | None = None


class OrderLineIn(_In):
    sku: Annotated[str, Field(max_length=100)] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    unitPrice: MajorAmount


class OrderIn(_In):
    """An order from outside the CRM (a self-serve checkout): it runs the same quote-to-cash as a won deal."""

    currency: CurrencyCode
    customer: CustomerIn
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]
    reference: (
        Annotated[str, Field(max_length=200, description="The caller's own order reference")] | None
    ) = None


class Accepted(_Out):
    """A request accepted for processing (202); ``location`` is where to follow it."""

    id: str
    status: str
    location: str
    correlationId: str


class OrderView(_Out):
    id: str = Field(
        description="The execution name: api-<orderId>, hubspot-<dealId>, salesforce-<opportunityId>"
    )
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    state: str | None = Field(description="The step the order is in (or ended in)")
    waitingFor: str | None = Field(
        description="What it waits for: setup:<SetupIntent>, approval:..., hold:..."
    )
    error: str | None = None
    cause: str | None = None
    correlationId: str | None = None
    ids: list[str] = Field(default_factory=list, description="Every id the order's events carry")
    amount: Money | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


class TimelineEntry(_Out):
    at: str
    event: str


# --- payments, invoices --------------------------------------------------------------------------------


class StripeView(_Out):
    paymentIntentId: str
    status: str
    amount: Money
    amountReceived: Money | None = None
    chargeId: str | None = None
    refunded: Money | None = None
    disputed: bool = False


class ErpPaymentView(_Out):
    erpPaymentId: str
    erpInvoiceId: str | None = None
    amount: Money | None = None


class PaymentView(_Out):
    id: str
    status: Literal[
        "authorized", "captured", "applied", "refunded", "partially_refunded", "disputed", "other"
    ]
    stripe: StripeView | None = None
    erp: ErpPaymentView | None = None


class InvoiceView(_Out):
    id: str
    documentNumber: str | None = None
    status: str | None = Field(description="The ERP's invoice status")
    total: Money | None = None
    amountRemaining: Money | None = None
    paymentStatus: Literal["paid", "partially_paid", "unpaid", "unknown"]
    payments: list[ErpPaymentView] = Field(default_factory=list)


# --- refunds -------------------------------------------------------------------------------------------


class RefundIn(_In):
    paymentIntentId: Annotated[str, Field(pattern=r"^pi_[A-Za-z0-9_]{1,250}$")]
    amount: MajorAmount | None = Field(default=None, description="None: the whole remaining amount")
    reason: Literal["requested_by_customer", "duplicate", "fraudulent"] = "requested_by_customer"

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        try:
            if value is not None and Decimal(value) <= 0:
                raise ValueError("the amount must be positive")
        except InvalidOperation as exc:
            raise ValueError("not a decimal amount") from exc
        return value


class RefundView(_Out):
    id: str
    status: Literal["requested", "succeeded", "booked", "failed"]
    paymentIntentId: str | None = None
    amount: Money | None = None
    stripeRefundId: str | None = None
    erpCreditMemoId: str | None = None
    erpRefundId: str | None = None
    failureReason: str | None = None


OrderView.model_rebuild()
CustomerView.model_rebuild()
