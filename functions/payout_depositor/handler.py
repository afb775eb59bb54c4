"""Consumer: ``PayoutPaid`` → the payout's balance transactions (paged) → one ERP deposit that applies each
captured payment, with fee, refund and dispute lines, equal to the payout to the cent; a payout that does
not tie out becomes a ``ReconciliationException`` (kind ``payout_not_tied``), not a deposit."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.connectors.factories import netsuite_erp, stripe_payments
from shared.consumers import sqs_consumer
from shared.events.after_sale import DepositRecorded, ReconciliationException
from shared.o2c.after_sale import PayoutNotTied, deposit_payout, skipping_unknown, subsidiary_of_currency
from shared.o2c.facts import publish
from shared.o2c.pending import parking
from shared.observability import logger


def deposit(record: SQSRecord) -> None:
    event = json.loads(record.body)
    metadata, data = event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])
    payout_id = data["payoutId"]
    try:
        booked = deposit_payout(
            netsuite_erp(),
            stripe_payments(),
            payout_id,
            subsidiary_of_currency(data["amount"]["currency"]).subsidiary_id,
        )
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
        logger.warning("payout does not tie out", extra={"payout": payout_id})
        return
    publish(
        DepositRecorded.model_validate(booked),
        correlation_id=metadata["correlationId"],
        causation_id=metadata["eventId"],
        source_event_id=f"deposit:{payout_id}",
    )
    logger.info("payout deposited", extra={"payout": payout_id, "deposit": booked["erpDepositId"]})


lambda_handler = sqs_consumer(skipping_unknown(parking("PayoutDepositor")(deposit)))
