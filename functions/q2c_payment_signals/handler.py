"""Consumer: payment facts that end an execution's wait (payment method saved, capture confirmed by the
``payment_intent.succeeded`` webhook, a Radar review closed, a bank debit's outcome: succeeded or failed after processing) are delivered to the correlator, which resumes the right execution
exactly once — also when the webhook came before the execution started waiting."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.observability import logger
from shared.order_to_cash.correlation import Correlator
from shared.order_to_cash.steps import DEBIT_METHODS


@cache
def correlator() -> Correlator:
    import os

    from shared.aws import client

    return Correlator(client("dynamodb"), os.environ["CORRELATION_TABLE_NAME"], client("stepfunctions"))


def wait_key_and_fact(
    detail_type: str, data: dict[str, Any], occurred_at: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """The wait the fact ends and what the execution gets; with when the fact happened at Stripe (the card
    saved, the payment captured), from which the deal's time-to-cash figures are measured."""
    if detail_type == "PaymentMethodSaved":
        return f"setup:{data['setupIntentId']}", {
            "paymentMethodId": data["paymentMethodId"],
            "savedAt": occurred_at,
        }
    if detail_type == "PaymentCaptured":
        return f"capture:{data['paymentIntentId']}", {
            "succeeded": True,
            "chargeId": data.get("chargeId"),
            "amountReceived": data["amountReceived"],
            "capturedAt": occurred_at,
        }
    # a bank debit that failed after processing ends the same wait as its success would: the execution
    # chooses (a card's failure is its authorization's answer, not a fact anything waits for)
    if detail_type == "PaymentFailed" and data.get("paymentMethodType") in DEBIT_METHODS:
        return f"capture:{data['paymentIntentId']}", {
            "succeeded": False,
            "failureCode": data.get("failureCode") or data.get("declineCode"),
            "failureMessage": data.get("failureMessage"),
            "failedAt": occurred_at,
        }
    if (
        detail_type == "PaymentReviewClosed"
    ):  # Radar's review of the authorization (shared.order_to_cash.fraud)
        from shared.order_to_cash.fraud import review_outcome

        return f"review:{data['reviewId']}", {**review_outcome(data), "closedAt": occurred_at}
    return None


def signal(record: SQSRecord) -> None:
    event = json.loads(record.body)
    detail = event["detail"]
    logger.set_correlation_id(detail["metadata"]["correlationId"])
    pair = wait_key_and_fact(event["detail-type"], detail["data"], detail["metadata"].get("occurredAt"))
    if pair is None:
        return
    resumed = correlator().deliver_fact(*pair)
    logger.info("payment signal", extra={"wait_key": pair[0], "resumed_now": resumed})


lambda_handler = sqs_consumer(signal)
