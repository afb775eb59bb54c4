"""Consumer: subscription renewals. ``BillingInvoicePaid`` (a subscription cycle) → one ERP invoice for the
period with the payment applied; ``BillingInvoicePaymentFailed`` → dunning visible in the ERP and the CRM.
External ids per Stripe invoice: no renewal is invoiced twice, whatever the delivery order."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.events.after_sale import DunningChanged, RenewalInvoiced
from shared.observability import logger
from shared.order_to_cash.bookings import (
    book_renewal,
    skipping_unknown,
    start_dunning,
    subsidiary_of_currency,
)
from shared.order_to_cash.facts import publish
from shared.order_to_cash.pending import parking
from shared.outbound.factories import crm_for, netsuite_erp, stripe_payments


def sync(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    fact = {**data, "correlationId": metadata["correlationId"]}
    if event["detail-type"] == "BillingInvoicePaid":
        subsidiary = subsidiary_of_currency(data["amountPaid"]["currency"])
        booked = book_renewal(
            netsuite_erp(),
            stripe_payments(),
            crm_for,
            fact,
            subsidiary.subsidiary_id,
            subsidiary.currency,
        )
        if booked:
            publish(
                RenewalInvoiced.model_validate(booked),
                correlation_id=metadata["correlationId"],
                causation_id=metadata["eventId"],
                source_event_id=f"renewal:{data['billingInvoiceId']}",
            )
    else:
        dunning = start_dunning(netsuite_erp(), stripe_payments(), crm_for, fact)
        if dunning:
            publish(
                DunningChanged.model_validate(dunning),
                correlation_id=metadata["correlationId"],
                causation_id=metadata["eventId"],
                source_event_id=f"dunning:{data['billingInvoiceId']}",
            )
    logger.info("renewal synced", extra={"invoice": data["billingInvoiceId"], "fact": event["detail-type"]})


lambda_handler = sqs_consumer(skipping_unknown(parking("RenewalSync")(sync)))
