"""``o2c refund``, ``o2c reconcile`` and ``o2c resync``: after-sale actions an operator takes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from o2c_cli.targets import Target, TargetError

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


def _put(target: Target, entries: list[dict[str, Any]]) -> None:
    if not target.event_bus_name:
        raise TargetError("this target has no event bus")
    response = target.client("events").put_events(
        Entries=[{**e, "EventBusName": target.event_bus_name} for e in entries]
    )
    if response.get("FailedEntryCount"):
        raise TargetError(f"EventBridge refused {response['FailedEntryCount']} event(s)")


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
    _put(target, [{"Source": event.source, "DetailType": event.detail_type, "Detail": event.detail_json()}])
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

    entries = [e for e in trace(target, any_id) if e.detail_type in SYNC_FACTS]
    sources = {"OpportunityClosedWon": "o2c.crm", "RefundRequested": "o2c.orchestration"}
    batch = []
    for e in entries:
        detail = {
            "metadata": {
                "eventId": e.event_id,
                "correlationId": e.correlation_id,
                "causationId": None,
                "occurredAt": e.occurred_at,
                "schemaVersion": "1",
                "sourceSystem": e.source_system,
                "sourceEventId": e.source_event_id,
            },
            "data": e.data,
        }
        batch.append(
            {
                "Source": sources.get(e.detail_type, "o2c.payments"),
                "DetailType": e.detail_type,
                "Detail": json.dumps(detail),
            }
        )
    for start in range(0, len(batch), 10):
        _put(target, batch[start : start + 10])
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
