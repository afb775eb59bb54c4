"""Canonical facts from the ERP (source ``o2c.erp``), as its outbound Standard Webhooks report them."""

from __future__ import annotations

from dataclasses import field
from datetime import date
from typing import ClassVar

from shared.events.envelope import EventData, EventSource
from shared.money import Money
from shared.record import doc, record


@record
class ErpEventData(EventData):
    source: ClassVar[EventSource] = "o2c.erp"

    erpCustomerId: str | None = None
    subsidiaryId: str | None = None
    opportunityId: str | None = field(default=None, metadata=doc("CRM opportunity the record belongs to"))


@record
class InvoicePosted(ErpEventData):
    """An invoice was posted in the ERP."""

    detail_type: ClassVar[str] = "InvoicePosted"
    erpInvoiceId: str
    erpOrderId: str | None = None
    documentNumber: str | None = None
    amount: Money
    dueDate: date | None = None


@record
class CustomerPaymentApplied(ErpEventData):
    """A customer payment was recorded and applied to invoices in the ERP."""

    detail_type: ClassVar[str] = "CustomerPaymentApplied"
    erpPaymentId: str
    erpInvoiceIds: list[str] = field(default_factory=list)
    amount: Money
    paymentIntentId: str | None = None


@record
class CreditMemoRecorded(ErpEventData):
    """A credit memo was recorded against an invoice."""

    detail_type: ClassVar[str] = "CreditMemoRecorded"
    erpCreditMemoId: str
    erpInvoiceId: str | None = None
    amount: Money


@record
class RefundRecorded(ErpEventData):
    """A customer refund was recorded in the ERP."""

    detail_type: ClassVar[str] = "RefundRecorded"
    erpRefundId: str
    erpCreditMemoId: str | None = None
    amount: Money
    refundId: str | None = field(default=None, metadata=doc("The payment platform's refund id (re_...)"))


@record
class SalesOrderStatusChanged(ErpEventData):
    """A sales order moved to another status (pending approval, pending fulfilment, billed, closed ...)."""

    detail_type: ClassVar[str] = "SalesOrderStatusChanged"
    erpOrderId: str
    status: str
    previousStatus: str | None = None


@record
class DepositCreated(ErpEventData):
    """A bank deposit was created in the ERP (e.g. for a payout)."""

    detail_type: ClassVar[str] = "DepositCreated"
    erpDepositId: str
    amount: Money
    payoutId: str | None = None
