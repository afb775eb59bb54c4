"""What the console page shows, read from a target's tables and APIs through the same code the ``o2c``
commands use (``executions``, ``trace``, ``pending``, ``dlq``): the local cloud and a deployed stack alike.

Nothing secret leaves here: no stage settings, no secrets, no message bodies, no card data (free text from
the systems — a failure's cause, a parked fact's reason — is passed through ``mask_card_numbers``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from o2c_cli import dlq, executions, pending, playbook
from o2c_cli.console import figures
from o2c_cli.console.actions import ACTIONS
from o2c_cli.targets import Target
from shared.lineage import LineageEntry, LineageStore, is_event_item
from shared.money import Money
from shared.operations.figures import OpenExecution
from shared.sensitive import mask_card_numbers

#: The lineage facts the figures and the deal labels are computed from.
FACT_TYPES = frozenset(
    {
        "OpportunityClosedWon",
        "PaymentCaptured",
        "PaymentFailed",
        "PaymentAuthorized",
        "InvoicePaid",
        "InvoicePosted",
        "ReconciliationException",
        "DisputeOpened",
        "DisputeClosed",
    }
)
#: How far back the figures look (the lineage is scanned from then on).
WINDOW = timedelta(days=7)
#: At most this many executions are listed (newest first), each read in full.
MAX_DEALS = 200

#: What a wait's key says the deal waits for, and the action that ends it from the console.
WAITS: dict[str, tuple[str, str | None]] = {
    "setup": ("the customer to save a card", None),
    "capture": ("Stripe to confirm the capture", None),
    "approval": ("an approver: approve or reject the order", "approve"),
    "hold": ("sales operations: fix the account in the CRM, then release the hold", "release"),
}


def _safe(text: str | None, limit: int = 300) -> str | None:
    return mask_card_numbers(text)[:limit] if text else text


def _money(value: Any) -> str | None:
    try:
        return Money.parse(value).format()
    except ValueError:
        return None


def waits_for(waiting_on: str | None) -> dict[str, Any] | None:
    if not waiting_on:
        return None
    kind, _, ref = waiting_on.partition(":")
    what, action = WAITS.get(kind, (waiting_on, None))
    return {"key": waiting_on, "kind": kind, "ref": ref, "what": what, "action": action}


def list_executions(target: Target, limit: int = MAX_DEALS) -> list[dict[str, Any]]:
    """The state machine's executions, newest first (Step Functions lists them so)."""
    if not target.state_machine_arn:
        return []
    sfn = target.client("stepfunctions")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"stateMachineArn": target.state_machine_arn, "maxResults": 100}
    while len(found) < limit:
        page = sfn.list_executions(**kwargs)
        found.extend(page["executions"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return found[:limit]


def recent_facts(target: Target, since: datetime) -> list[LineageEntry]:
    """The lineage facts of FACT_TYPES that occurred since ``since``, once each (a scan of the lineage
    table: the table has no index by time)."""
    ddb = target.client("dynamodb")
    found: dict[str, LineageEntry] = {}
    pages = ddb.get_paginator("scan").paginate(
        TableName=target.lineage_table,
        FilterExpression="sk >= :since",
        ExpressionAttributeValues={":since": {"S": since.isoformat()}},
    )
    for page in pages:
        for item in page.get("Items", []):
            if not is_event_item(item):  # an id-index item (shared/lineage.py)
                continue
            if item["detailType"]["S"] in FACT_TYPES and item["eventId"]["S"] not in found:
                found[item["eventId"]["S"]] = LineageStore._entry(item)
    return sorted(found.values(), key=lambda e: (e.occurred_at, e.event_id))


def _deal_labels(facts: list[LineageEntry]) -> dict[str, dict[str, Any]]:
    """execution name → the won opportunity's name, amount and CRM, from ``OpportunityClosedWon``."""
    labels: dict[str, dict[str, Any]] = {}
    for fact in facts:
        if fact.detail_type != "OpportunityClosedWon":
            continue
        data = fact.data
        opportunity: dict[str, Any] = data["opportunity"] if isinstance(data.get("opportunity"), dict) else {}
        name = executions.execution_name(str(data.get("crmSystem")), str(data.get("opportunityId")))
        amount = opportunity.get("amount")
        labels[name] = {
            "title": _safe(str(opportunity.get("name") or data.get("opportunityId")), 120),
            "amount": _money(amount),
            "crm": data.get("crmSystem"),
            "opportunityId": data.get("opportunityId"),
        }
    return labels


def deals(
    target: Target, listed: list[dict[str, Any]], labels: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every listed execution: status, the state it is in (or ended in), what it waits for, its age. The
    executions not SUCCEEDED are read in full (``o2c status``), a few at a time; a paid deal needs no
    history read."""
    from concurrent.futures import ThreadPoolExecutor

    now = time.time()
    unfinished = [e["name"] for e in listed if e["status"] != "SUCCEEDED"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = dict(
            zip(unfinished, pool.map(lambda n: executions.state_of(target, n), unfinished), strict=True)
        )
    rows = []
    for execution in listed:
        name = execution["name"]
        state = states.get(name)
        started = execution["startDate"].timestamp()
        stopped = execution.get("stopDate")
        rows.append(
            {
                "name": name,
                "status": execution["status"],
                "state": state.current_state
                if state
                else ("Paid" if execution["status"] == "SUCCEEDED" else None),
                "waitsFor": waits_for(state.waiting_on) if state else None,
                "error": state.error if state else None,
                "cause": _safe(state.cause) if state else None,
                "startedAt": started,
                "stoppedAt": stopped.timestamp() if stopped else None,
                "ageS": (stopped.timestamp() if stopped else now) - started,
                **labels.get(name, {}),
            }
        )
    return rows


def deal_timeline(target: Target, name: str) -> dict[str, Any]:
    """One deal: the states its execution entered (seconds from its start) and the facts of its lineage."""
    from o2c_cli.trace import trace

    state = executions.state_of(target, name)
    steps = [{"atS": at, "state": s} for at, s in playbook.timeline(target, name)]
    facts = []
    opportunity = name.split("-", 1)[1] if "-" in name else name
    for entry in trace(target, opportunity):
        facts.append(
            {
                "occurredAt": entry.occurred_at,
                "type": entry.detail_type,
                "source": entry.source_system,
                "ids": {k: v for k, v in entry.data.items() if k.endswith("Id") and isinstance(v, str)},
            }
        )
    return {
        "name": name,
        "status": state.status if state else None,
        "state": state.current_state if state else None,
        "waitsFor": waits_for(state.waiting_on) if state else None,
        "error": state.error if state else None,
        "cause": _safe(state.cause) if state else None,
        "steps": steps,
        "facts": facts,
    }


def _section(errors: dict[str, str], name: str, read: Callable[[], Any], default: Any) -> Any:
    """One part of the page; a failing part (a table the stack does not have, a denied call) is reported
    as its one-line error and the rest of the page still shows."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - shown on the page as one line, never a traceback
        errors[name] = f"{type(exc).__name__}: {_safe(str(exc), 300)}"
        return default


def snapshot(
    target: Target,
    *,
    last_reconciliation: dict[str, Any] | None = None,
    facts_of: Callable[[datetime], list[LineageEntry]] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data. ``facts_of(since)`` reads the lineage facts (default
    ``recent_facts``; the server keeps them a while: a scan of the lineage table)."""
    now = time.time()
    errors: dict[str, str] = {}
    since = datetime.now(UTC) - WINDOW
    read_facts = facts_of or (lambda since: recent_facts(target, since))
    facts: list[LineageEntry] = _section(errors, "facts", lambda: read_facts(since), [])
    listed = _section(errors, "deals", lambda: list_executions(target), [])
    rows = _section(errors, "deals", lambda: deals(target, listed, _deal_labels(facts)), [])
    dlqs = _section(errors, "dlqs", lambda: dlq.list_dead_letters(target, peek=5), [])
    parked = _section(errors, "pending", lambda: pending.waiting(target), [])

    open_deals = [
        OpenExecution(name=r["name"], state=r["state"] or "?", started_at=r["startedAt"])
        for r in rows
        if r["status"] == "RUNNING"
    ]
    dlq_urls = {consumer: queues.dlq_url for consumer, queues in target.consumers.items()}
    dead_letters = _section(
        errors,
        "dlqs",
        lambda: figures.dead_letters(target.client("sqs"), dlq_urls),
        {"total": 0, "byQueue": {}},
    )
    return {
        "target": {"name": target.name, "region": target.region, "local": target.is_local},
        "generatedAt": now,
        "windowS": WINDOW.total_seconds(),
        "errors": errors,
        "actions": {name: {"ask": ask, "cli": cli} for name, (ask, cli) in ACTIONS.items()},
        "figures": {
            "orderAging": figures.order_aging(open_deals, now),
            "timeToCash": figures.time_to_cash(facts, {r["name"]: r["startedAt"] for r in rows}),
            "paymentFailureRate": figures.payment_failure_rate(facts),
            "invoiceSyncLag": figures.invoice_sync_lag(facts),
            "pending": figures.pending(parked, now),
            "reconciliationExceptions": figures.reconciliation_exceptions(facts),
            "disputes": figures.disputes(facts, now),
            "deadLetters": dead_letters,
        },
        "dealsByStatus": dict(Counter(r["status"] for r in rows)),
        "dealsByState": dict(Counter(r["state"] or "?" for r in rows if r["status"] == "RUNNING")),
        "dealsListed": len(rows),
        "deals": rows,
        "dlqs": [
            {
                "consumer": s.consumer,
                "depth": dead_letters["byQueue"].get(s.consumer, s.depth),
                "sample": [
                    {
                        "messageId": m.message_id,
                        "detailType": m.detail_type,
                        "eventId": m.event_id,
                        "receiveCount": m.receive_count,
                        "sentAt": float(m.sent_at) / 1000 if m.sent_at.isdigit() else None,
                    }
                    for m in s.sample
                ],
            }
            for s in dlqs
        ],
        "pending": [
            {
                "consumer": p.consumer,
                "detailType": p.detail_type,
                "eventId": p.event_id,
                "awaiting": p.awaiting,
                "since": p.first_parked_at or p.parked_at,
                "ageS": now - (p.first_parked_at or p.parked_at),
                "releases": p.releases,
                "reason": _safe(p.reason),
            }
            for p in parked
        ],
        "reconciliation": {
            "exceptions": [
                {
                    "day": f.data.get("day"),
                    "kind": f.data.get("kind"),
                    "detail": _safe(f.data.get("detail")),
                    "occurredAt": f.occurred_at,
                    "ids": {k: v for k, v in f.data.items() if k.endswith("Id") and isinstance(v, str)},
                }
                for f in facts
                if f.detail_type == "ReconciliationException"
            ][-50:],
            "lastRun": last_reconciliation,
        },
    }
