"""The demo's subscription + services deal (issue 17): a HubSpot deal with a yearly platform subscription
and onboarding services is paid by card, becomes one Stripe subscription, carries its revenue recognition
dates on the ERP order, and the subscription's first yearly cycle is booked by the renewal path. Each
outcome is checked; a wrong one is added to ``failures`` (the demo then exits 1)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.order_to_cash import erp_ids


def subscription_deal(cloud: Any, target: Any, failures: list[str]) -> None:
    from o2c_cli import playbook
    from o2c_cli.crm_scenarios import hubspot_subscription_deal

    hubspot, stripe, netsuite = (cloud.sandboxes[k] for k in ("hubspot", "stripe", "netsuite"))
    start = datetime.now(UTC).date() + timedelta(days=7)

    def check(label: str, ok: bool) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
        if not ok:
            failures.append(f"subscription deal: {label}")

    deal_id = hubspot_subscription_deal(hubspot, start=start.isoformat())
    hubspot.win(deal_id)
    name = f"hubspot-{deal_id}"
    try:
        playbook.save_card(cloud, target, name, "pm_card_visa")
        final = playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    except AssertionError as exc:
        check(f"{name} paid ({exc})", False)
        return
    check(f"{name}: yearly platform from {start} + onboarding, paid by card ({final.current_state})", True)
    orders = [r for r in netsuite.records("salesOrder") if r.get("externalId") == name]
    dates = [
        (line["item"].get("externalId"), line.get("revRecStartDate"), line.get("revRecEndDate"))
        for order in orders
        for line in order["item"]["items"]
    ]
    print(f"    ERP order revenue dates: {dates}")
    check(
        "the ERP order carries each line's revenue recognition dates",
        len(orders) == 1 and all(start_ and end for _, start_, end in dates),
    )
    subs = [s for s in stripe.subscriptions() if s["metadata"].get("o2c_opportunity_id") == deal_id]
    check(f"exactly one Stripe subscription ({[s['id'] for s in subs]})", len(subs) == 1)
    if len(subs) != 1:
        return
    [sub] = subs
    price = sub["items"]["data"][0]["price"]
    print(
        f"    {sub['id']}: {price['unit_amount'] / 100:.2f} {price['currency'].upper()} every "
        f"{price['recurring']['interval']}, {sub['status']} until "
        f"{datetime.fromtimestamp(sub['trial_end'], UTC).date()} (the year paid with the order)"
    )
    invoice = stripe.renew(sub["id"])
    deadline = time.monotonic() + 60
    booked: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        booked = [
            r for r in netsuite.records("invoice") if r.get("externalId") == erp_ids.renewal_invoice(invoice)
        ]
        if booked and booked[0]["status"]["id"] == "B":
            break
        time.sleep(0.2)
    check(
        f"its first yearly cycle ({invoice}) booked by the renewal path as ren-{invoice}, paid in full",
        len(booked) == 1 and booked[0]["status"]["id"] == "B",
    )
