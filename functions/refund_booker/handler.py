"""Consumer: a refund that succeeded at Stripe (from the dashboard, the API or the hub) → ERP credit memo
against the deal's invoice (with the refund's share of its tax) and a customer refund, and the return of that
tax in AvaTax, once per refund id; ``RefundBooked``."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.events.after_sale import RefundBooked
from shared.observability import logger
from shared.order_to_cash.bookings import book_refund, skipping_unknown
from shared.order_to_cash.facts import publish
from shared.order_to_cash.pending import parking
from shared.outbound.factories import avatax, netsuite_erp, stripe_payments


@cache
def _once() -> Any:
    from shared.aws import client
    from shared.idempotency import OnceOnly

    return OnceOnly("refund-booked", client=client("dynamodb")).wrap(lambda delivery, work: work())


def book(record: SQSRecord) -> None:
    """Stripe tells one refund several times (``refund.created``, ``refund.updated``, redeliveries): the
    ERP writes are safe by external id, and ``RefundBooked`` is published once per refund."""
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])

    def book_and_publish() -> dict[str, Any]:
        booked = book_refund(netsuite_erp(), stripe_payments(), data, tax=avatax())
        publish(
            RefundBooked.model_validate(booked),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"refund-booked:{data['refundId']}",
        )
        return {"status": "booked", "erpCreditMemoId": booked["erpCreditMemoId"]}

    outcome = _once()(delivery={"id": data["refundId"], "type": "refund-booked"}, work=book_and_publish)
    logger.info(
        "refund booked", extra={"refund": data["refundId"], "credit_memo": outcome.get("erpCreditMemoId")}
    )


lambda_handler = sqs_consumer(skipping_unknown(parking("RefundBooker")(book)))
