"""Consumer: subscription renewals. ``BillingInvoicePaid`` (a subscription cycle) → one ERP invoice for the
period with the payment applied; ``BillingInvoicePaymentFailed`` → dunning visible in the ERP and the CRM.
External ids per Stripe invoice: no renewal is invoiced twice, whatever the delivery order."""

from __future__ import annotations

from shared.consumers import Consumer, Delivered, Emit, consumer
from shared.events.after_sale import DunningChanged, RenewalInvoiced
from shared.events.payments import BillingInvoicePaid, BillingInvoicePaymentFailed
from shared.order_to_cash.bookings import book_renewal, start_dunning, subsidiary_of_currency
from shared.outbound.factories import crm_for, netsuite_erp, stripe_payments


def renewal_paid(event: Delivered[BillingInvoicePaid]) -> Emit | None:
    paid = event.data
    subsidiary = subsidiary_of_currency(paid.amountPaid.currency)
    booked = book_renewal(
        netsuite_erp(),
        stripe_payments(),
        crm_for,
        paid,
        subsidiary.subsidiary_id,
        subsidiary.currency,
        correlation_id=event.correlation_id,
    )
    if not booked:
        return None
    return Emit(RenewalInvoiced.parse(booked), source_event_id=f"renewal:{paid.billingInvoiceId}")


def renewal_failed(event: Delivered[BillingInvoicePaymentFailed]) -> Emit | None:
    failed = event.data
    dunning = start_dunning(
        netsuite_erp(), stripe_payments(), crm_for, failed, correlation_id=event.correlation_id
    )
    if not dunning:
        return None
    return Emit(DunningChanged.parse(dunning), source_event_id=f"dunning:{failed.billingInvoiceId}")


RENEWALS = Consumer(
    "RenewalSync",
    handles={"BillingInvoicePaid": renewal_paid, "BillingInvoicePaymentFailed": renewal_failed},
    park_missing_facts=True,
    skip_not_ours=True,
)

lambda_handler = consumer(RENEWALS)
