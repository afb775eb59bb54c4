"""Facts of the quote-to-cash orchestration (source ``o2c.orchestration``), published by the Step
Functions state machine through its EventBridge service integration."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.events.envelope import EventData, EventSource
from shared.money import Money


class OrchestrationEventData(EventData):
    source: ClassVar[EventSource] = "o2c.orchestration"

    opportunityId: str
    executionName: str | None = Field(default=None, description="Step Functions execution of the deal")


class CustomerSynced(OrchestrationEventData):
    """The deal's account exists in the ERP (created or updated by external id) and the payment platform."""

    detail_type: ClassVar[str] = "CustomerSynced"
    erpCustomerId: str
    subsidiaryId: str | None = None
    accountId: str | None = None


class OrderCreated(OrchestrationEventData):
    """A sales order, pending activation, was created in the ERP for the deal (external id = opportunity)."""

    detail_type: ClassVar[str] = "OrderCreated"
    erpOrderId: str
    documentNumber: str | None = None
    erpCustomerId: str | None = None
    total: Money = Field(description="What the deal is charged and invoiced: the exact total + rounding")
    tax: Money
    rounding: Money | None = Field(
        default=None,
        description="Cash rounding of the total to what the ERP and the payment platform both take (KWD: 10 "
        "fils), charged minus exact; zero when none was needed",
    )


class OrderOnHold(OrchestrationEventData):
    """The order cannot proceed without a person: incomplete account, declined payment, failed compensation."""

    detail_type: ClassVar[str] = "OrderOnHold"
    reason: str
    missingFields: list[str] = Field(default_factory=list)
    declineCode: str | None = None
    erpOrderId: str | None = None
    paymentIntentId: str | None = None
    riskLevel: str | None = Field(default=None, description="Stripe Radar's risk level (reason fraud_risk)")
    riskScore: int | None = Field(default=None, description="Stripe Radar's risk score, 0-100")


class InvoicePaid(OrchestrationEventData):
    """The captured payment was applied to the ERP invoice."""

    detail_type: ClassVar[str] = "InvoicePaid"
    erpInvoiceId: str
    erpPaymentId: str
    paymentIntentId: str
    chargeId: str | None = None
    amount: Money


class OrderActivated(OrchestrationEventData):
    """The paid order was released in the ERP (pending fulfilment)."""

    detail_type: ClassVar[str] = "OrderActivated"
    erpOrderId: str
    erpInvoiceId: str | None = None


class SubscriptionCreated(OrchestrationEventData):
    """A subscription deal's Stripe subscription exists (created once, after the order was paid): Stripe bills
    its recurring lines from ``billingStartsAt`` on, each paid cycle booked as a renewal."""

    detail_type: ClassVar[str] = "SubscriptionCreated"
    erpOrderId: str
    subscriptionId: str
    interval: str = Field(description="day, week, month or year")
    intervalCount: int = 1
    contractStart: str | None = Field(default=None, description="the contract's start date (YYYY-MM-DD)")
    billingStartsAt: int | None = Field(
        default=None,
        description="Unix time of Stripe's first bill: the end of the period paid with the order",
    )


class OrderCancelled(OrchestrationEventData):
    """The order was cancelled and any authorization voided (compensation)."""

    detail_type: ClassVar[str] = "OrderCancelled"
    reason: str
    erpOrderId: str | None = None
    paymentIntentId: str | None = None
