"""Facts of the quote-to-cash orchestration (source ``o2c.orchestration``), published by the Step
Functions state machine through its EventBridge service integration."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from shared.events.envelope import EventData, EventSource
from shared.money import Money
from shared.record import doc, record


@record
class OrchestrationEventData(EventData):
    source: ClassVar[EventSource] = "o2c.orchestration"

    opportunityId: str
    executionName: str | None = field(default=None, metadata=doc("Step Functions execution of the deal"))


@record
class CustomerSynced(OrchestrationEventData):
    """The deal's account exists in the ERP (created or updated by external id) and the payment platform."""

    detail_type: ClassVar[str] = "CustomerSynced"
    erpCustomerId: str
    subsidiaryId: str | None = None
    accountId: str | None = None


@record
class OrderCreated(OrchestrationEventData):
    """A sales order, pending activation, was created in the ERP for the deal (external id = opportunity)."""

    detail_type: ClassVar[str] = "OrderCreated"
    erpOrderId: str
    documentNumber: str | None = None
    erpCustomerId: str | None = None
    total: Money = field(metadata=doc("What the deal is charged and invoiced: the exact total + rounding"))
    tax: Money
    rounding: Money | None = field(
        default=None,
        metadata=doc(
            "Cash rounding of the total to what the ERP and the payment platform both take (KWD: 10 "
            "fils), charged minus exact; zero when none was needed"
        ),
    )


@record
class OrderOnHold(OrchestrationEventData):
    """The order cannot proceed without a person: incomplete account, declined payment, failed compensation."""

    detail_type: ClassVar[str] = "OrderOnHold"
    reason: str
    missingFields: list[str] = field(default_factory=list)
    declineCode: str | None = None
    erpOrderId: str | None = None
    paymentIntentId: str | None = None
    riskLevel: str | None = field(default=None, metadata=doc("Stripe Radar's risk level (reason fraud_risk)"))
    riskScore: int | None = field(default=None, metadata=doc("Stripe Radar's risk score, 0-100"))


@record
class InvoicePaid(OrchestrationEventData):
    """The captured payment was applied to the ERP invoice."""

    detail_type: ClassVar[str] = "InvoicePaid"
    erpInvoiceId: str
    erpPaymentId: str
    paymentIntentId: str
    chargeId: str | None = None
    amount: Money


@record
class OrderActivated(OrchestrationEventData):
    """The paid order was released in the ERP (pending fulfilment)."""

    detail_type: ClassVar[str] = "OrderActivated"
    erpOrderId: str
    erpInvoiceId: str | None = None


@record
class SubscriptionCreated(OrchestrationEventData):
    """A subscription deal's Stripe subscription exists (created once, after the order was paid): Stripe bills
    its recurring lines from ``billingStartsAt`` on, each paid cycle booked as a renewal."""

    detail_type: ClassVar[str] = "SubscriptionCreated"
    erpOrderId: str
    subscriptionId: str
    interval: str = field(metadata=doc("day, week, month or year"))
    intervalCount: int = 1
    contractStart: str | None = field(default=None, metadata=doc("the contract's start date (YYYY-MM-DD)"))
    billingStartsAt: int | None = field(
        default=None,
        metadata=doc("Unix time of Stripe's first bill: the end of the period paid with the order"),
    )


@record
class OrderCancelled(OrchestrationEventData):
    """The order was cancelled and any authorization voided (compensation)."""

    detail_type: ClassVar[str] = "OrderCancelled"
    reason: str
    erpOrderId: str | None = None
    paymentIntentId: str | None = None
