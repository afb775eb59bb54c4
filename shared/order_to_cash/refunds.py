"""Asking the hub for a refund: one path for ``o2c refund`` and ``POST /v1/refunds``.

Both build the same ``RefundRequested`` here and put it on the bus; the RefundInitiator creates the Stripe
refund (idempotency key ``refund:<requestId>``) and the RefundBooker books it in the ERP once Stripe's
webhook confirms it. Where a refund stands is read back from the lineage (``refund_status``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.events.after_sale import RefundRequested
from shared.events.envelope import CanonicalEvent, new_event
from shared.lineage import LineageEntry
from shared.money import Money, from_major


class UnknownPayment(LookupError):
    """No captured payment with this id is known to the hub."""


def refund_request(
    entries: list[LineageEntry],
    payment_intent_id: str,
    amount: str | None,
    *,
    reason: str,
    by: str,
    request_id: str,
    correlation_id: str | None = None,
) -> CanonicalEvent:
    """The ``RefundRequested`` for a captured payment, from the payment's lineage (``entries``); the amount
    is in major units of the payment's currency (None: what remains). ``UnknownPayment`` when the lineage has
    no capture of it; ``ValueError`` for an amount finer than the currency allows. Its correlation id is
    ``correlation_id`` (an API caller's) or the payment's own."""
    captured = [
        e
        for e in entries
        if e.detail_type == "PaymentCaptured" and e.data.get("paymentIntentId") == payment_intent_id
    ]
    if not captured:
        raise UnknownPayment(f"no captured payment {payment_intent_id} is known to the hub")
    currency = captured[0].data["amountReceived"]["currency"]
    money = from_major(Decimal(amount), currency) if amount else None
    return new_event(
        RefundRequested(
            requestId=request_id,
            paymentIntentId=payment_intent_id,
            amount=money,
            reason=reason,
            requestedBy=by,
        ),
        source_system="o2c",
        correlation_id=correlation_id or captured[0].correlation_id,
        source_event_id=request_id,
    )


@dataclass(frozen=True)
class RefundStatus:
    request_id: str
    status: str  # requested | succeeded | booked | failed
    payment_intent_id: str | None
    amount: Money | None
    stripe_refund_id: str | None
    erp_credit_memo_id: str | None
    erp_refund_id: str | None
    failure_reason: str | None


def refund_status(entries_for: Callable[[str], list[LineageEntry]], request_id: str) -> RefundStatus | None:
    """Where the refund asked as ``request_id`` stands, from the lineage (``entries_for(id)``: the events
    carrying an id, ``LineageStore.entries_for``): the events carrying the request id (asked; Stripe's refund
    or its refusal), then those carrying Stripe's refund id (booked in the ERP). None if it was never asked."""
    mine = entries_for(request_id)
    requested = [
        e for e in mine if e.detail_type == "RefundRequested" and e.data.get("requestId") == request_id
    ]
    if not requested:
        return None
    data: dict[str, Any] = requested[0].data
    status, refund_id, memo, erp_refund, failure = "requested", None, None, None, None
    amount = Money.parse(data["amount"]) if data.get("amount") else None
    for e in mine:
        if e.data.get("requestId") == request_id and e.detail_type == "RefundSucceeded":
            status, refund_id = "succeeded", e.data.get("refundId")
            amount = Money.parse(e.data["amount"])
        elif e.data.get("requestId") == request_id and e.detail_type == "RefundFailed":
            status, failure = "failed", e.data.get("failureReason")
    if refund_id:
        for e in entries_for(refund_id):
            if e.detail_type == "RefundBooked" and e.data.get("refundId") == refund_id:
                status, memo, erp_refund = "booked", e.data.get("erpCreditMemoId"), e.data.get("erpRefundId")
    return RefundStatus(
        request_id=request_id,
        status=status,
        payment_intent_id=data.get("paymentIntentId"),
        amount=amount,
        stripe_refund_id=refund_id,
        erp_credit_memo_id=memo,
        erp_refund_id=erp_refund,
        failure_reason=failure,
    )
