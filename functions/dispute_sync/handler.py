"""Consumer: chargebacks. ``DisputeOpened`` → a pending dispute hold in the ERP and a task for the deal's
owner with the evidence due date; ``DisputeClosed`` → won: the hold is cancelled; lost: credit memo and
refund in the ERP. ``EarlyFraudWarningCreated`` (before a chargeback) → a task for the deal's owner and, by
stage setting, one full refund (``shared.order_to_cash.fraud``)."""

from __future__ import annotations

from collections.abc import Callable

from shared.consumers import Consumer, Delivered, Emit, consumer, run_once
from shared.events.after_sale import DisputeRecorded, DisputeSettled, RefundRequested
from shared.events.fraud import EarlyFraudWarningCreated
from shared.events.payments import DisputeClosed, DisputeOpened
from shared.observability import logger
from shared.order_to_cash.bookings import record_dispute, settle_dispute
from shared.outbound.factories import avatax, crm_for, netsuite_erp, stripe_payments


def once(key: str, create: Callable[[], str]) -> str:
    """Create the CRM task at most once per dispute (the idempotency record is removed if it fails)."""
    return str(run_once("crm-task")(key, create))


def early_fraud_warning(event: Delivered[EarlyFraudWarningCreated]) -> None:
    """A CRM task for the deal's owner and, by stage setting, one full refund through the refund path."""
    from shared.order_to_cash.early_fraud import record_early_fraud_warning, refund_on_early_fraud_warning

    def request_refund(request_id: str, payment_intent_id: str, correlation_id: str) -> None:
        # published at once: the request is made inside its once-only step
        event.emit_now(
            RefundRequested(
                requestId=request_id,
                paymentIntentId=payment_intent_id,
                reason="fraudulent",
                requestedBy="radar-early-fraud-warning",
            ),
            correlation_id=correlation_id or None,
            source_event_id=request_id,
        )

    recorded = record_early_fraud_warning(
        stripe_payments(),
        crm_for,
        event.data,
        once,
        refund=refund_on_early_fraud_warning(),
        request_refund=request_refund,
    )
    logger.info("early fraud warning recorded", extra=recorded)


def dispute_opened(event: Delivered[DisputeOpened]) -> Emit:
    recorded = record_dispute(netsuite_erp(), stripe_payments(), crm_for, event.data, once)
    return Emit(DisputeRecorded.parse(recorded), source_event_id=f"dispute-recorded:{event.data.disputeId}")


def dispute_closed(event: Delivered[DisputeClosed]) -> Emit:
    settled = settle_dispute(netsuite_erp(), event.data, tax=avatax())
    return Emit(DisputeSettled.parse(settled), source_event_id=f"dispute-settled:{event.data.disputeId}")


DISPUTES = Consumer(
    "DisputeSync",
    handles={
        "EarlyFraudWarningCreated": early_fraud_warning,
        "DisputeOpened": dispute_opened,
        "DisputeClosed": dispute_closed,
    },
    park_missing_facts=True,
    skip_not_ours=True,
)

lambda_handler = consumer(DISPUTES)
