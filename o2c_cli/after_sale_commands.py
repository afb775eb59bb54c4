"""``o2c refund``, ``o2c reconcile`` and ``o2c resync``: after-sale actions an operator takes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from o2c_cli.targets import Target, TargetError

if TYPE_CHECKING:
    from shared.events.envelope import CanonicalEvent, SourceSystem

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "refund": (
        ("request_refund",),
        frozenset({"dynamodb:Query", "events:PutEvents"}),
    ),
    "reconcile": (
        ("reconcile",),
        frozenset({"lambda:InvokeFunction"}),
    ),
    "resync": (
        ("resync",),
        frozenset({"dynamodb:Query", "events:PutEvents"}),
    ),
}

#: Facts whose consumers sync another system; re-publishing one re-runs its sync (idempotently).
SYNC_FACTS = {
    "OpportunityClosedWon",
    "PaymentMethodSaved",
    "PaymentCaptured",
    "RefundSucceeded",
    "RefundRequested",
    "PayoutPaid",
    "PayoutReconciled",
}


def _publish(target: Target, events: list[CanonicalEvent]) -> None:
    """On the target's bus through the hub's one publisher (its entries, batches and retries)."""
    from shared.publisher import EventPublisher, PublishError

    if not target.event_bus_name:
        raise TargetError("this target has no event bus")
    try:
        EventPublisher(target.client("events"), target.event_bus_name).publish(events)
    except PublishError as exc:
        raise TargetError(f"EventBridge refused the event(s): {exc}") from None


def request_refund(
    target: Target, payment_intent_id: str, amount: str | None, *, reason: str, by: str
) -> str:
    """Publish ``RefundRequested`` (``shared.order_to_cash.refunds``: the same path as ``POST /v1/refunds``); the amount
    is in major units of the payment's currency."""
    from o2c_cli.trace import trace
    from shared.order_to_cash.refunds import UnknownPayment, refund_request

    request_id = f"rr_{uuid.uuid4().hex[:20]}"
    try:
        event = refund_request(
            trace(target, payment_intent_id),
            payment_intent_id,
            amount,
            reason=reason,
            by=by,
            request_id=request_id,
        )
    except UnknownPayment as exc:
        raise TargetError(str(exc)) from None
    _publish(target, [event])
    return request_id


def reconcile(target: Target, day: date | None, *, publish: bool = True) -> dict[str, Any]:
    if not target.reconciler_function:
        raise TargetError("this target has no reconciler function")
    payload = {"date": (day or datetime.now(UTC).date()).isoformat(), "publish": publish}
    from infra.topology import LIVE_ALIAS

    # Through the live alias, as the schedule invokes it: the version that takes traffic, never $LATEST.
    response = target.client("lambda").invoke(
        FunctionName=target.reconciler_function, Qualifier=LIVE_ALIAS, Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read())
    if response.get("FunctionError"):
        raise TargetError(f"reconciliation failed: {body.get('errorType')}: {body.get('errorMessage')}")
    return dict(body)


def resync(target: Target, any_id: str) -> list[str]:
    """Publish again the facts of ``any_id``'s lineage that drive a sync; the consumers redo what is missing
    and skip what was booked (external ids, idempotency keys)."""
    from o2c_cli.trace import trace
    from shared.events.catalog import EVENT_TYPES
    from shared.events.envelope import republished

    entries = [e for e in trace(target, any_id) if e.detail_type in SYNC_FACTS]
    _publish(
        target,
        [
            republished(
                data=EVENT_TYPES[e.detail_type].parse(e.data),
                event_id=e.event_id,
                correlation_id=e.correlation_id,
                occurred_at=datetime.fromisoformat(e.occurred_at),
                source_system=cast("SourceSystem", e.source_system),
                source_event_id=e.source_event_id,
            )
            for e in entries
        ],
    )
    return [e.detail_type for e in entries]


def render(report: dict[str, Any], fmt: str) -> str:
    from shared.order_to_cash.reconciliation import Mismatch, Report

    rebuilt = Report(
        day=date.fromisoformat(report["day"]),
        deals=report["deals"],
        payments=report["payments"],
        refunds=report["refunds"],
        payouts=report["payouts"],
        mismatches=[Mismatch(**m) for m in report["exceptions"]],
    )
    return {"json": rebuilt.as_json, "csv": rebuilt.as_csv}.get(fmt, rebuilt.as_table)()
