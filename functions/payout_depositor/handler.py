"""Consumer: ``PayoutReconciled`` (Stripe's ``payout.reconciliation_completed``) or ``PayoutPaid`` → the
payout re-read → its balance transactions (paged) → one ERP deposit that applies each captured payment, with
fee, refund and dispute lines, equal to the payout to the cent.

Stripe's list of a payout's balance transactions is complete only once its ``reconciliation_status`` is
``completed``: ``PayoutPaid`` deposits only if the re-read payout already is (else
``PayoutReconciled`` will); ``PayoutReconciled`` on a payout not yet ``completed`` on re-read is retried by
the queue. A payout that does not tie out becomes a ``ReconciliationException`` (kind ``payout_not_tied``),
not a deposit. A manual payout (``automatic`` false: Stripe cannot list what it paid out, and refuses
``?payout=``) is refused: a ``ReconciliationException`` of kind ``manual_payout`` for a person, no deposit."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.events.after_sale import DepositRecorded, ReconciliationException
from shared.money import Money
from shared.observability import logger
from shared.operations import emit
from shared.order_to_cash.bookings import (
    ManualPayout,
    NotYetKnown,
    PayoutNotReconciled,
    PayoutNotTied,
    deposit_payout,
    skipping_unknown,
    subsidiary_of_currency,
)
from shared.order_to_cash.facts import publish
from shared.order_to_cash.pending import parking
from shared.outbound.factories import netsuite_erp, stripe_payments


@cache
def _once() -> Any:
    from shared.aws import client
    from shared.idempotency import OnceOnly

    return OnceOnly("payout-deposited", client=client("dynamodb")).wrap(lambda delivery, work: work())


def deposit(record: SQSRecord) -> None:
    """Stripe tells one payout twice (``payout.paid``, ``payout.reconciliation_completed``) and, once it is
    reconciled, either may deposit it: the deposit (or the exception it becomes) is made once per payout id,
    and the other event costs no vendor request. A payout not reconciled yet leaves no record (the work
    raised), so the later event deposits it."""
    event = json.loads(record.body)
    payout_id = event["detail"]["data"]["payoutId"]
    logger.set_correlation_id(event["detail"]["metadata"]["correlationId"])
    try:
        outcome = _once()(
            delivery={"id": payout_id, "type": "payout-deposited"}, work=lambda: _deposit(event)
        )
    except PayoutNotReconciled as exc:
        if event["detail-type"] == "PayoutPaid":
            logger.info("payout paid, waiting for Stripe's reconciliation", extra={"payout": payout_id})
            return
        raise NotYetKnown(str(exc)) from exc  # reconciled, but not on re-read yet: the queue retries
    logger.info("payout handled", extra={"payout": payout_id, "outcome": outcome.get("status")})


def _deposit(event: dict[str, Any]) -> dict[str, Any]:
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    payout_id = data["payoutId"]
    try:
        booked = deposit_payout(
            netsuite_erp(),
            stripe_payments(),
            payout_id,
            subsidiary_of_currency(data["amount"]["currency"]).subsidiary_id,
        )
    except ManualPayout as exc:
        amount = Money.model_validate(data["amount"])
        publish(
            ReconciliationException(
                kind="manual_payout", detail=str(exc), payoutId=payout_id, expected=amount
            ),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"manual-payout:{payout_id}",
        )
        emit.reconciliation_exceptions(["manual_payout"])
        logger.warning("manual payout: not deposited", extra={"payout": payout_id})
        return {"status": "manual_payout"}
    except PayoutNotTied as exc:
        publish(
            ReconciliationException(
                kind="payout_not_tied",
                detail=str(exc),
                payoutId=payout_id,
                expected=exc.expected,
                actual=exc.actual,
            ),
            correlation_id=metadata["correlationId"],
            causation_id=metadata["eventId"],
            source_event_id=f"payout-not-tied:{payout_id}",
        )
        emit.reconciliation_exceptions(["payout_not_tied"])
        logger.warning("payout does not tie out", extra={"payout": payout_id})
        return {"status": "payout_not_tied"}
    publish(
        DepositRecorded.model_validate(booked),
        correlation_id=metadata["correlationId"],
        causation_id=metadata["eventId"],
        source_event_id=f"deposit:{payout_id}",
    )
    logger.info("payout deposited", extra={"payout": payout_id, "deposit": booked["erpDepositId"]})
    return {"status": "deposited", "erpDepositId": booked["erpDepositId"]}


lambda_handler = sqs_consumer(skipping_unknown(parking("PayoutDepositor")(deposit)))
