"""A won opportunity as the hub needs it, whichever CRM it comes from (HubSpot deal, Salesforce
Opportunity). Connectors build these from the vendors' REST APIs; ``OpportunityClosedWon`` carries them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.money import CURRENCY_PATTERN, Money

CurrencyCode = Annotated[str, Field(pattern=CURRENCY_PATTERN, description="ISO 4217 alphabetic code")]

#: Where a deal comes from: a CRM, or ``api``: an order submitted through ``POST /v1/orders`` (no CRM deal to
#: re-check or write back; quote-to-cash skips those steps for it).
CrmSystem = Literal["hubspot", "salesforce", "api"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Model):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 where the CRM gives it")


class Account(_Model):
    """The customer company (HubSpot company, Salesforce Account)."""

    accountId: str
    name: str
    billingAddress: Address | None = None
    shippingAddress: Address | None = None
    currency: CurrencyCode | None = None
    taxId: str | None = None
    domain: str | None = None
    region: str | None = Field(default=None, description="Sales region, used to pick the ERP subsidiary")


class Contact(_Model):
    contactId: str
    email: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    role: str | None = Field(default=None, description="e.g. Billing, Decision Maker (contact role)")


class Recurring(_Model):
    """A line billed again and again (HubSpot: ``recurringbillingfrequency``, ``hs_recurring_billing_period``,
    ``hs_recurring_billing_start_date``): every ``intervalCount`` x ``interval`` from ``startDate`` for
    ``termMonths``. Such lines become one Stripe subscription per deal; the others (services) are invoiced
    and paid once."""

    interval: Literal["day", "week", "month", "year"]
    intervalCount: int = Field(default=1, ge=1)
    startDate: date | None = Field(
        default=None, description="the contract's start; none: when the deal is won"
    )
    termMonths: int | None = Field(default=None, ge=1, description="the contract's term; none: open-ended")


class LineItem(_Model):
    lineItemId: str
    productId: str | None = None
    sku: str | None = None
    name: str
    quantity: int = Field(ge=0)
    unitPrice: Money
    amount: Money = Field(description="quantity x unit price, less any line discount")
    recurring: Recurring | None = Field(default=None, description="none: a one-time line (services)")


class CrmOpportunity(_Model):
    """Everything the order-to-cash flow needs from the CRM for one won deal."""

    crmSystem: CrmSystem
    opportunityId: str
    name: str
    stage: str
    closeDate: date | None = None
    ownerId: str | None = None
    amount: Money
    account: Account
    contacts: tuple[Contact, ...] = ()
    lines: tuple[LineItem, ...] = ()
