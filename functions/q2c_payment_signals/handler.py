"""Consumer: payment facts that end an execution's wait (payment method saved, capture confirmed by the
``payment_intent.succeeded`` webhook, a Radar review closed, a bank debit's outcome: succeeded or failed after processing) are delivered to the correlator, which resumes the right execution
exactly once — also when the webhook came before the execution started waiting."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.consumers import Consumer, Delivered, consumer
from shared.events.envelope import EventData
from shared.events.fraud import PaymentReviewClosed
from shared.events.payments import PaymentCaptured, PaymentFailed, PaymentMethodSaved
from shared.observability import logger
from shared.order_to_cash.correlation import Correlator
from shared.order_to_cash.steps import DEBIT_METHODS
from shared.settings import Env, EnvSettings


@dataclass(frozen=True)
class Settings(EnvSettings):
    correlation_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(correlation_table_name=env.required("CORRELATION_TABLE_NAME"))


@cache
def correlator() -> Correlator:
    from shared.aws import client

    return Correlator(client("dynamodb"), Settings.from_env().correlation_table_name, client("stepfunctions"))


def wait_key_and_fact(fact: EventData, occurred_at: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """The wait the fact ends and what the execution gets; with when the fact happened at Stripe (the card
    saved, the payment captured), from which the deal's time-to-cash figures are measured."""
    if isinstance(fact, PaymentMethodSaved):
        return f"setup:{fact.setupIntentId}", {
            "paymentMethodId": fact.paymentMethodId,
            "savedAt": occurred_at,
        }
    if isinstance(fact, PaymentCaptured):
        return f"capture:{fact.paymentIntentId}", {
            "succeeded": True,
            "chargeId": fact.chargeId,
            "amountReceived": fact.amountReceived.dump(),
            "capturedAt": occurred_at,
        }
    # a bank debit that failed after processing ends the same wait as its success would: the execution
    # chooses (a card's failure is its authorization's answer, not a fact anything waits for)
    if isinstance(fact, PaymentFailed) and fact.paymentMethodType in DEBIT_METHODS:
        return f"capture:{fact.paymentIntentId}", {
            "succeeded": False,
            "failureCode": fact.failureCode or fact.declineCode,
            "failureMessage": fact.failureMessage,
            "failedAt": occurred_at,
        }
    if isinstance(
        fact, PaymentReviewClosed
    ):  # Radar's review of the authorization (shared.order_to_cash.fraud)
        from shared.order_to_cash.fraud import review_outcome

        return f"review:{fact.reviewId}", {
            **review_outcome(fact.dump()),
            "closedAt": occurred_at,
        }
    return None


def signal(event: Delivered[Any]) -> None:
    pair = wait_key_and_fact(event.data, event.occurred_at)
    if pair is None:
        return
    resumed = correlator().deliver_fact(*pair)
    logger.info("payment signal", extra={"wait_key": pair[0], "resumed_now": resumed})


SIGNALS = Consumer(
    "PaymentSignals",
    handles=dict.fromkeys(
        ("PaymentMethodSaved", "PaymentCaptured", "PaymentReviewClosed", "PaymentFailed"), signal
    ),
)

lambda_handler = consumer(SIGNALS)
