"""A won opportunity as the hub needs it, whichever CRM it comes from (HubSpot deal, Salesforce
Opportunity). Connectors build these from the vendors' REST APIs; ``OpportunityClosedWon`` carries them."""

from __future__ import annotations

from dataclasses import field
from datetime import date
from typing import Annotated, Literal

from shared.money import CurrencyCode, Money
from shared.record import Constraint, Record, doc, record

#: Where a deal comes from: a CRM, or ``api``: an order submitted through ``POST /v1/orders`` (no CRM deal to
#: re-check or write back; quote-to-cash skips those steps for it).
CrmSystem = Literal["hubspot", "salesforce", "api"]


@record
class Address(Record):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = field(default=None, metadata=doc("ISO 3166-1 alpha-2 where the CRM gives it"))


@record
class Account(Record):
    """The customer company (HubSpot company, Salesforce Account)."""

    accountId: str
    name: str
    billingAddress: Address | None = None
    shippingAddress: Address | None = None
    currency: CurrencyCode | None = None
    taxId: str | None = None
    domain: str | None = None
    region: str | None = field(default=None, metadata=doc("Sales region, used to pick the ERP subsidiary"))


@record
class Contact(Record):
    contactId: str
    email: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    role: str | None = field(default=None, metadata=doc("e.g. Billing, Decision Maker (contact role)"))


@record
class Recurring(Record):
    """A line billed again and again (HubSpot: ``recurringbillingfrequency``, ``hs_recurring_billing_period``,
    ``hs_recurring_billing_start_date``): every ``intervalCount`` x ``interval`` from ``startDate`` for
    ``termMonths``. Such lines become one Stripe subscription per deal; the others (services) are invoiced
    and paid once."""

    interval: Literal["day", "week", "month", "year"]
    intervalCount: Annotated[int, Constraint(minimum=1)] = 1
    startDate: date | None = field(
        default=None, metadata=doc("the contract's start; none: when the deal is won")
    )
    termMonths: Annotated[int, Constraint(minimum=1)] | None = field(
        default=None, metadata=doc("the contract's term; none: open-ended")
    )


@record
class LineItem(Record):
    lineItemId: str
    productId: str | None = None
    sku: str | None = None
    name: str
    quantity: Annotated[int, Constraint(minimum=0)]
    unitPrice: Money
    amount: Money = field(metadata=doc("quantity x unit price, less any line discount"))
    recurring: Recurring | None = field(default=None, metadata=doc("none: a one-time line (services)"))


@record
class CrmOpportunity(Record):
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
