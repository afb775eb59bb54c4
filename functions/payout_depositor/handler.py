"""Consumer: ``PayoutReconciled`` (Stripe's ``payout.reconciliation_completed``) or ``PayoutPaid`` → the
payout re-read → its balance transactions (paged) → one ERP deposit that applies each captured payment, with
fee, refund and dispute lines, equal to the payout to the cent.

Stripe's list of a payout's balance transactions is complete only once its ``reconciliation_status`` is
``completed``: ``PayoutPaid`` deposits only if the re-read payout already is (else
``PayoutReconciled`` will); ``PayoutReconciled`` on a payout not yet ``completed`` on re-read is retried by
the queue. A payout that does not tie out becomes a ``ReconciliationException`` (kind ``payout_not_tied``),
not a deposit. A manual payout (``automatic`` false: Stripe cannot list what it paid out, and refuses
``?payout=``) is refused: a ``ReconciliationException`` of kind ``manual_payout`` for a person, no deposit.

Stripe tells one payout twice (``payout.paid``, ``payout.reconciliation_completed``) and, once it is
reconciled, either may deposit it: the deposit (or the exception it becomes) is made once per payout id, and
the other event costs no vendor request. A payout not reconciled yet leaves no record (the handler raised),
so the later event deposits it."""

from __future__ import annotations

from shared.consumers import Acknowledged, Consumer, Delivered, Emit, OncePer, consumer
from shared.events.after_sale import DepositRecorded, ReconciliationException
from shared.events.payments import PayoutPaid, PayoutReconciled
from shared.observability import logger
from shared.operations import emit
from shared.order_to_cash.bookings import (
    ManualPayout,
    NotYetKnown,
    PayoutNotReconciled,
    PayoutNotTied,
    deposit_payout,
    subsidiary_of_currency,
)
from shared.outbound.factories import netsuite_erp, stripe_payments


def deposit(event: Delivered[PayoutPaid | PayoutReconciled]) -> Emit | None:
    payout = event.data
    try:
        booked = deposit_payout(
            netsuite_erp(),
            stripe_payments(),
            payout.payoutId,
            subsidiary_of_currency(payout.amount.currency).subsidiary_id,
        )
    except PayoutNotReconciled as exc:
        if event.detail_type == "PayoutPaid":
            raise Acknowledged("payout paid, waiting for Stripe's reconciliation") from exc
        raise NotYetKnown(str(exc)) from exc  # reconciled, but not on re-read yet: the queue retries
    # an exception is published before it is counted (a publish that fails is retried, not counted twice)
    except ManualPayout as exc:
        event.emit_now(
            ReconciliationException(
                kind="manual_payout", detail=str(exc), payoutId=payout.payoutId, expected=payout.amount
            ),
            source_event_id=f"manual-payout:{payout.payoutId}",
        )
        emit.reconciliation_exceptions(["manual_payout"])
        logger.warning("manual payout: not deposited", extra={"payout": payout.payoutId})
        return None
    except PayoutNotTied as exc:
        event.emit_now(
            ReconciliationException(
                kind="payout_not_tied",
                detail=str(exc),
                payoutId=payout.payoutId,
                expected=exc.expected,
                actual=exc.actual,
            ),
            source_event_id=f"payout-not-tied:{payout.payoutId}",
        )
        emit.reconciliation_exceptions(["payout_not_tied"])
        logger.warning("payout does not tie out", extra={"payout": payout.payoutId})
        return None
    logger.info("payout deposited", extra={"payout": payout.payoutId, "deposit": booked["erpDepositId"]})
    return Emit(DepositRecorded.parse(booked), source_event_id=f"deposit:{payout.payoutId}")


PAYOUTS = Consumer(
    "PayoutDepositor",
    handles={"PayoutPaid": deposit, "PayoutReconciled": deposit},
    park_missing_facts=True,
    skip_not_ours=True,
    once=OncePer("payout-deposited", key=lambda event: event.data.payoutId),
)

lambda_handler = consumer(PAYOUTS)
