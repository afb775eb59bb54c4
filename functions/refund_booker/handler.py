"""Consumer: a refund that succeeded at Stripe (from the dashboard, the API or the hub) → ERP credit memo
against the deal's invoice and a customer refund, once per refund id; ``RefundBooked``."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.connectors.factories import netsuite_erp, stripe_payments
from shared.consumers import sqs_consumer
from shared.events.after_sale import RefundBooked
from shared.o2c.after_sale import book_refund, skipping_unknown
from shared.o2c.facts import publish
from shared.o2c.pending import parking
from shared.observability import logger


def book(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    booked = book_refund(netsuite_erp(), stripe_payments(), data)
    publish(
        RefundBooked.model_validate(booked),
        correlation_id=metadata["correlationId"],
        causation_id=metadata["eventId"],
        source_event_id=f"refund-booked:{data['refundId']}",
    )
    logger.info("refund booked", extra={"refund": data["refundId"], "credit_memo": booked["erpCreditMemoId"]})


lambda_handler = sqs_consumer(skipping_unknown(parking("RefundBooker")(book)))
