"""Consumer: a refund that succeeded at Stripe (from the dashboard, the API or the hub) → ERP credit memo
against the deal's invoice (with the refund's share of its tax) and a customer refund, and the return of that
tax in AvaTax, once per refund id; ``RefundBooked``."""

from __future__ import annotations

from shared.consumers import Consumer, Delivered, Emit, OncePer, consumer
from shared.events.after_sale import RefundBooked
from shared.events.payments import RefundSucceeded
from shared.order_to_cash.bookings import book_refund
from shared.outbound.factories import avatax, netsuite_erp, stripe_payments


def book(event: Delivered[RefundSucceeded]) -> Emit:
    """Stripe tells one refund several times (``refund.created``, ``refund.updated``, redeliveries): the
    ERP writes are safe by external id, and ``RefundBooked`` is published once per refund."""
    booked = book_refund(netsuite_erp(), stripe_payments(), event.data, tax=avatax())
    return Emit(RefundBooked.parse(booked), source_event_id=f"refund-booked:{event.data.refundId}")


REFUNDS = Consumer(
    "RefundBooker",
    handles={"RefundSucceeded": book},
    park_missing_facts=True,
    skip_not_ours=True,
    once=OncePer("refund-booked", key=lambda event: event.data.refundId),
)

lambda_handler = consumer(REFUNDS)
