"""The warehouse feed end to end: deals won, paid (one after a declined card), refunded; every event lands in
the local warehouse bucket as Parquet under ``events/type=.../dt=.../`` without e-mails or card numbers, and
the saved queries (``o2c sql --saved``) count these deals. The hub is shared with the other flow tests, so
the figures are compared before and after."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from o2c_cli import playbook, sql
from o2c_cli.after_sale_commands import request_refund
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.main import main
from shared.events.after_sale import ReconciliationException
from shared.events.envelope import new_event
from tests.flow.conftest import Hub

#: the card numbers of Stripe's test cards the deals are paid with (pm_card_visa, pm_card_chargeCustomerFail)
CARDS = ("4242424242424242", "4000000000000341")


def figures(root: Path) -> dict[str, list[dict[str, Any]]]:
    """The saved queries' answers on one download of the warehouse (``sql.download`` into ``root``): the shared
    hub's bucket holds every earlier flow test's events, so each download costs a GET per file."""
    return {
        name: sql.query_files(root, sql.saved_sql(name)).records()
        for name in (
            "time-to-cash-by-month",
            "refunds-by-reason",
            "failures-by-provider",
            "reconciliation-exceptions",
        )
    }


def total(rows: list[dict[str, Any]], column: str, **match: Any) -> int:
    return sum(int(r[column] or 0) for r in rows if all(r[k] == v for k, v in match.items()))


def intent_of(hub: Hub, deal: str) -> dict[str, Any]:
    """The deal's payment (a declined card leaves a failed PaymentIntent beside it)."""
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal and p["status"] == "succeeded"
    ]
    return dict(intent)


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def test_events_land_partitioned_private_and_the_saved_queries_count_the_deals(
    hub: Hub, capsys: Any, monkeypatch: Any
) -> None:
    hub.settle()
    with tempfile.TemporaryDirectory() as tmp:
        sql.download(hub.target, Path(tmp))
        before = figures(Path(tmp))
    hubspot = hub.cloud.sandboxes["hubspot"]
    paid_first = hubspot_deal(hubspot, name="Warehouse - paid at once")
    declined = hubspot_deal(hubspot, name="Warehouse - declined card first")
    for deal in (paid_first, declined):
        hubspot.win(deal)
    playbook.save_card(hub.cloud, hub.target, f"hubspot-{paid_first}")
    playbook.save_card(hub.cloud, hub.target, f"hubspot-{declined}", "pm_card_chargeCustomerFail")
    playbook.save_card(
        hub.cloud, hub.target, f"hubspot-{declined}", "pm_card_visa", state="WaitForNewPaymentMethod"
    )
    for deal in (paid_first, declined):
        playbook.wait_until(hub.target, f"hubspot-{deal}", status="SUCCEEDED")
    intents = {deal: intent_of(hub, deal) for deal in (paid_first, declined)}
    request = request_refund(
        hub.target, intents[paid_first]["id"], "12.34", reason="duplicate", by="warehouse@test"
    )
    wait_for(
        lambda: any(
            r["metadata"].get("o2c_refund_request_id") == request and r["status"] == "succeeded"
            for r in hub.cloud.sandboxes["stripe"].refunds()
        )
    )
    # what the daily reconciliation publishes when the ERP and Stripe disagree on a deal
    exception = new_event(
        ReconciliationException(kind="amount_differs", detail="warehouse flow", opportunityId=paid_first),
        source_system="o2c",
        correlation_id=f"reconcile-{paid_first}",
    )
    hub.put_on_bus(
        [{"Source": exception.source, "DetailType": exception.detail_type, "Detail": exception.detail_json()}]
    )
    hub.settle()
    with tempfile.TemporaryDirectory() as tmp:
        sql.download(hub.target, Path(tmp))
        after = figures(Path(tmp))
        raw = b"".join(p.read_bytes() for p in Path(tmp).rglob("*.parquet"))
        assert all(p.read_bytes()[:4] == b"PAR1" for p in Path(tmp).rglob("*.parquet"))
        ours = sql.query_files(
            Path(tmp),
            f"SELECT type, data FROM events WHERE opportunity_id IN ('{paid_first}', '{declined}')",  # noqa: S608
        ).records()

    month = datetime.now(UTC).strftime("%Y-%m")
    currencies = {i["currency"].upper() for i in intents.values()}
    assert currencies == {"EUR"}
    cash = sum(int(i["amount_received"]) for i in intents.values())
    this_month = {"month": month, "currency": "EUR"}

    def delta(name: str, column: str, **match: Any) -> int:
        return total(after[name], column, **match) - total(before[name], column, **match)

    assert delta("time-to-cash-by-month", "deals", **this_month) == 2
    assert delta("time-to-cash-by-month", "cash_minor", **this_month) == cash
    assert delta("refunds-by-reason", "refunds", reason="duplicate", currency="EUR") == 1
    assert delta("refunds-by-reason", "amount_minor", reason="duplicate", currency="EUR") == 1234
    assert delta("failures-by-provider", "failures", provider="stripe", failure="PaymentFailed") == 1
    assert delta("reconciliation-exceptions", "exceptions", kind="amount_differs") == 1

    # the files: Parquet, partitioned by type and delivery day, without e-mail addresses or card numbers
    s3 = hub.target.client("s3")
    bucket = sql.warehouse_bucket(hub.target)
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/")
        for o in page.get("Contents", [])
    ]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    partitions = {k.rsplit("/", 1)[0] for k in keys}
    for detail_type in (
        "OpportunityClosedWon",
        "PaymentFailed",
        "InvoicePaid",
        "RefundSucceeded",
        "ReconciliationException",
    ):
        assert f"events/type={detail_type}/dt={today}" in partitions, detail_type
    assert all(k.endswith(".parquet") and k.count("/") == 3 for k in keys)
    assert {"OpportunityClosedWon", "InvoicePaid", "PaymentFailed"} <= {r["type"] for r in ours}
    assert b"ap@northwind.example" not in raw and b"Nora" not in raw and b"warehouse@test" not in raw
    assert not any(card.encode() in raw for card in CARDS)
    assert all("@" not in r["data"] for r in ours)
    won = [json.loads(r["data"]) for r in ours if r["type"] == "OpportunityClosedWon"]
    assert won and all("email" not in json.dumps(w) for w in won)

    # o2c sql --saved prints the same figures, o2c sql runs any query on the same table
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    capsys.readouterr()
    assert main(["sql", "--saved", "refunds-by-reason", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(
        json.dumps(after["refunds-by-reason"], default=str)
    )
    by_type = f"SELECT type, count(*) AS n FROM events WHERE opportunity_id = '{declined}' GROUP BY type"  # noqa: S608
    assert main(["sql", by_type, "--json"]) == 0
    counts = {r["type"]: r["n"] for r in json.loads(capsys.readouterr().out)}
    assert counts["OpportunityClosedWon"] == counts["InvoicePaid"] == 1
