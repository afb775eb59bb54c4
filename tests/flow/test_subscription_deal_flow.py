"""A subscription + services deal over HTTP on the local cloud: the HubSpot deal's (or Salesforce
opportunity's) recurring line becomes one Stripe subscription (created once, even when its step runs again), the ERP order carries each line's revenue
recognition dates, the order (services and the first year) is paid by card, and the subscription's first
cycle is booked in the ERP by the renewal path."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from o2c_cli.crm_scenarios import hubspot_subscription_deal, salesforce_subscription_opportunity
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import records, save_card, wait_until


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def deal_subscriptions(hub: Hub, deal_id: str) -> list[dict[str, Any]]:
    return [
        s
        for s in hub.cloud.sandboxes["stripe"].subscriptions()
        if s["metadata"].get("o2c_opportunity_id") == deal_id
    ]


def order_with_revenue_dates(hub: Hub, name: str, start: date) -> tuple[dict[str, Any], date]:
    """The deal's ERP order, its yearly platform line (``PLAT-Y``) recognized over its first year from
    ``start`` and its onboarding (``ONB-1``) on one day; with the first year's last day."""
    [order] = records(hub, "salesOrder", externalId=name)
    lines = {line["item"]["externalId"]: line for line in order["item"]["items"]}
    year_end = date(start.year + 1, start.month, start.day) - timedelta(days=1)
    platform = lines["PLAT-Y"]
    assert (platform["revRecStartDate"], platform["revRecEndDate"], platform["revRecTermInMonths"]) == (
        start.isoformat(),
        year_end.isoformat(),
        12,
    )
    onboarding = lines["ONB-1"]
    assert onboarding["revRecStartDate"] == onboarding["revRecEndDate"]
    assert "revRecTermInMonths" not in onboarding
    return order, year_end


def the_yearly_subscription(
    hub: Hub, deal_id: str, intent: dict[str, Any], order: dict[str, Any], year_end: date
) -> dict[str, Any]:
    """The deal's one Stripe subscription: the paying customer and card, EUR 24,000 a year, trialing until the
    day after ``year_end``, linked to the ERP order."""
    [sub] = deal_subscriptions(hub, deal_id)
    assert (sub["customer"], sub["default_payment_method"]) == (intent["customer"], intent["payment_method"])
    [item] = sub["items"]["data"]
    assert (item["price"]["unit_amount"], item["price"]["currency"], item["quantity"]) == (2400000, "eur", 1)
    assert (item["price"]["recurring"]["interval"], item["price"]["recurring"]["interval_count"]) == (
        "year",
        1,
    )
    first_renewal = year_end + timedelta(days=1)
    assert sub["status"] == "trialing"
    assert sub["trial_end"] == int(datetime(*first_renewal.timetuple()[:3], tzinfo=UTC).timestamp())
    assert sub["metadata"]["o2c_erp_order_id"] == str(order["id"])
    return sub


def test_a_subscription_and_services_deal_is_paid_with_one_subscription_booked_by_the_renewal_path(
    hub: Hub,
) -> None:
    # Given a won HubSpot deal: a yearly platform subscription from next week, and onboarding services
    start = datetime.now(UTC).date() + timedelta(days=7)
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_subscription_deal(sandbox, start=start.isoformat())
    assert sandbox.win(deal_id)[0] == 200
    name = f"hubspot-{deal_id}"

    # When the customer saves a card
    save_card(hub, name)
    state = wait_until(hub, name, status="SUCCEEDED")

    # Then the deal is paid: the order (services and the first year, with VAT) invoiced and paid by card
    assert state.current_state == "Paid"
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["refName"] == "Paid In Full" and str(invoice["total"]) == "33986.40"
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 3398640)

    # And the ERP order carries each line's revenue recognition dates: the subscription's first year from the
    # contract's start, the services' delivery day
    order, year_end = order_with_revenue_dates(hub, name, start)

    # And exactly one Stripe subscription: on the customer's Stripe customer, billed to the saved card, the
    # line's price every year, Stripe billing nothing before the first year paid with the order has ended
    sub = the_yearly_subscription(hub, deal_id, intent, order, year_end)
    first_renewal = year_end + timedelta(days=1)

    # And running the step again (as a retry or a redrive does) finds it: still one subscription
    history = hub.cloud.client("stepfunctions").get_execution_history(executionArn=state.arn, maxResults=1000)
    [entered] = [
        e["stateEnteredEventDetails"]
        for e in history["events"]
        if e.get("stateEnteredEventDetails", {}).get("name") == "CreateSubscription"
    ]
    given = json.loads(entered["input"])
    again = hub.cloud.invoke(
        "PaymentTasks",
        {
            "action": "subscribe",
            "correlationId": given["correlationId"],
            "execution": name,
            **{key: given[key] for key in ("opportunity", "customer", "order", "payment", "method")},
        },
    )
    assert again["ok"], again
    assert again["result"]["subscriptionId"] == sub["id"]
    assert len(deal_subscriptions(hub, deal_id)) == 1
    hub.settle()
    facts = [e for e in trace(hub.target, deal_id) if e.detail_type == "SubscriptionCreated"]
    assert [f.data["subscriptionId"] for f in facts] == [sub["id"]]

    # When Stripe bills the first cycle at the end of the paid year
    billing_invoice = hub.cloud.sandboxes["stripe"].renew(sub["id"])

    # Then the renewal path books it: one ERP invoice for that year, paid, for the deal's customer
    wait_for(lambda: len(records(hub, "invoice", externalId=f"ren-{billing_invoice}")) == 1)
    [renewal] = records(hub, "invoice", externalId=f"ren-{billing_invoice}")
    wait_for(
        lambda: (
            records(hub, "invoice", externalId=f"ren-{billing_invoice}")[0]["status"]["refName"]
            == "Paid In Full"
        )
    )
    assert str(renewal["total"]) == "24000.00"
    assert renewal["entity"]["id"] == order["entity"]["id"]
    assert str(renewal["startDate"]) == first_renewal.isoformat()
    # Stripe's 0 invoice of the trial is no renewal: nothing else was booked for this subscription
    theirs = [i["id"] for i in hub.cloud.sandboxes["stripe"].invoices() if i["customer"] == sub["customer"]]
    booked = [
        r for r in records(hub, "invoice") if str(r.get("externalId", "")).removeprefix("ren-") in theirs
    ]
    assert [r["externalId"] for r in booked] == [f"ren-{billing_invoice}"]


def test_a_salesforce_subscription_and_services_opportunity_is_paid_with_one_subscription(hub: Hub) -> None:
    # Given a won Salesforce opportunity: a platform subscription billed annually for 12 months from the line's
    # Date (ServiceDate) next week (the custom line fields o2c setup crm deployed), and onboarding services
    start = datetime.now(UTC).date() + timedelta(days=7)
    sandbox = hub.cloud.sandboxes["salesforce"]
    opportunity_id = salesforce_subscription_opportunity(sandbox, start=start.isoformat())
    assert sandbox.win(opportunity_id)[0] == 200
    name = f"salesforce-{opportunity_id}"

    # When the customer saves a card
    save_card(hub, name)
    state = wait_until(hub, name, status="SUCCEEDED")

    # Then the opportunity is paid: services and the first year, with Dutch VAT, invoiced and paid by card
    assert state.current_state == "Paid"
    assert sandbox.opportunity(opportunity_id)["fields"]["Payment_Status__c"] == "paid"
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["refName"] == "Paid In Full" and str(invoice["total"]) == "34557.60"
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == opportunity_id
    ]

    # And the ERP order carries each line's revenue recognition dates: the subscription's first year from the
    # line's Date, the services' delivery day
    order, year_end = order_with_revenue_dates(hub, name, start)

    # And exactly one Stripe subscription, on the customer's Stripe customer and saved card: the line's price
    # every year, billing from the end of the first year paid with the order
    the_yearly_subscription(hub, opportunity_id, intent, order, year_end)
