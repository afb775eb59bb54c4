"""Subscription deals against the Stripe sandbox over HTTP: the subscription is created as Stripe's contract
has it (``POST /v1/subscriptions`` with ``price_data``, ``trial_end``, ``default_payment_method``), refused
where Stripe refuses, created once whatever the retries, and its first cycle is a ``subscription_cycle``
invoice paid by the saved card."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.crm.models import Account, CrmOpportunity, LineItem, Recurring
from shared.events.payments import BillingInvoicePaid
from shared.inbound.stripe import normalise_event
from shared.money import Money
from shared.order_to_cash import subscriptions
from shared.outbound.stripe_payments import StripePayments
from shared.outbound.stripe_subscriptions import StripeSubscriptions
from tests.connectors.conftest import STRIPE_API_KEY, StripeHub


def saved_card(stripe: StripePayments, sandbox: StripeSandbox) -> tuple[str, str]:
    customer = stripe.ensure_customer(
        erp_customer_id="CUST-9",
        crm_account_id="acct-9",
        name="Northwind",
        email="ap@northwind.example",
        idempotency_key="customer:CUST-9",
    )
    seti = stripe.create_setup_intent(customer_id=customer, metadata={}, idempotency_key="setup:sub-deal:1")
    pm = sandbox.complete_setup(seti["id"])["payment_method"]
    return customer, str(pm)


def deal(start: date) -> CrmOpportunity:
    eur = "EUR"
    return CrmOpportunity(
        crmSystem="hubspot",
        opportunityId="9001",
        name="Northwind - platform + onboarding",
        stage="closedwon",
        closeDate=date(2026, 11, 30),
        amount=Money.of(2856000, eur),
        account=Account(accountId="c-1", name="Northwind"),
        lines=(
            LineItem(
                lineItemId="li-1",
                sku="PLAT-Y",
                name="Platform (yearly)",
                quantity=2,
                unitPrice=Money.of(1200000, eur),
                amount=Money.of(2400000, eur),
                recurring=Recurring(interval="year", startDate=start, termMonths=12),
            ),
            LineItem(
                lineItemId="li-2",
                sku="ONB-1",
                name="Onboarding",
                quantity=1,
                unitPrice=Money.of(456000, eur),
                amount=Money.of(456000, eur),
            ),
        ),
    )


def subscribe(stripe: StripePayments, customer: str, pm: str, start: date) -> dict[str, Any]:
    return subscriptions.create_subscription(
        StripeSubscriptions(stripe),
        deal(start),
        {"o2c_correlation_id": "hubspot:9001", "o2c_opportunity_id": "9001"},
        {"erpOrderId": "501", "externalId": "hubspot-9001"},
        {"paymentCustomerId": customer},
        {"paymentMethodId": pm},
    )


def test_a_deal_makes_one_subscription_billing_from_the_end_of_the_period_paid_with_the_order(
    stripe: StripePayments, sandbox: StripeSandbox, hub: StripeHub
) -> None:
    customer, pm = saved_card(stripe, sandbox)
    start = datetime.now(UTC).date()
    made = subscribe(stripe, customer, pm, start)
    # the step run again (a retry after a timeout, a redrive): the same subscription, no second one
    again = subscribe(stripe, customer, pm, start)
    assert again["subscriptionId"] == made["subscriptionId"]
    [sub] = [s for s in sandbox.subscriptions() if s["customer"] == customer]
    assert sub["id"] == made["subscriptionId"]
    assert sub["status"] == "trialing"
    assert sub["default_payment_method"] == pm
    assert sub["metadata"]["o2c_erp_order_id"] == "501"
    next_year = date(start.year + 1, start.month, min(start.day, 28) if start.month == 2 else start.day)
    assert sub["trial_end"] == int(
        datetime(next_year.year, next_year.month, next_year.day, tzinfo=UTC).timestamp()
    )
    [item] = sub["items"]["data"]
    assert (item["price"]["unit_amount"], item["price"]["currency"], item["quantity"]) == (1200000, "eur", 2)
    assert (item["price"]["recurring"]["interval"], item["price"]["recurring"]["interval_count"]) == (
        "year",
        1,
    )
    # Stripe's first invoice is the trial's 0 one (not a renewal); its first cycle is billed at trial_end
    invoice_id = sandbox.renew(sub["id"])
    sandbox.wait_for_webhooks()
    [paid] = [
        normalise_event(e, "corr")[0].data
        for e in hub.of_type("invoice.paid")
        if e["data"]["object"]["id"] == invoice_id
    ]
    assert isinstance(paid, BillingInvoicePaid)
    assert paid.billingReason == "subscription_cycle"
    assert paid.amountPaid == Money.of(2400000, "EUR")
    assert paid.periodStart is not None and paid.periodStart.date() == next_year
    trial = [
        e
        for e in hub.of_type("invoice.paid")
        if e["data"]["object"]["billing_reason"] == "subscription_create"
    ]
    assert [e["data"]["object"]["amount_paid"] for e in trial] == [0]
    # the saved card paid it
    intent = sandbox.payment_intents()[-1]
    assert intent["payment_method"] == pm and intent["status"] == "succeeded"


def test_the_same_idempotency_key_replays_the_subscription(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    customer, pm = saved_card(stripe, sandbox)
    billing = StripeSubscriptions(stripe)
    product = billing.create_product(name="Seats", metadata={}, idempotency_key="product:x:1")
    item = subscriptions.RecurringItem(product, Money.of(1000, "USD"), 1, "month")
    trial_end = int(time.time()) + 86400
    subs = [
        billing.create_subscription(
            customer_id=customer,
            items=[item],
            payment_method_id=pm,
            trial_end=trial_end,
            metadata={},
            idempotency_key="subscription:x",
        )
        for _ in range(2)
    ]
    assert subs[0]["id"] == subs[1]["id"]
    assert len([s for s in sandbox.subscriptions() if s["customer"] == customer]) == 1


def post(sandbox: StripeSandbox, path: str, form: list[tuple[str, str]]) -> dict[str, Any]:
    """The sandbox's JSON answer (or Stripe's error shape) to a form POST, as Stripe takes it."""
    request = urllib.request.Request(sandbox.url + path, data=urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Authorization", f"Bearer {STRIPE_API_KEY}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())
    return answer


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"product": "prod_missing"}, "resource_missing", "items[0][price_data][product]"),
        ({"interval": "fortnight"}, None, "items[0][price_data][recurring][interval]"),
        (
            {"interval": "year", "interval_count": "4"},
            None,
            "items[0][price_data][recurring][interval_count]",
        ),
        ({"unit_amount": None}, "parameter_missing", "items[0][price_data][unit_amount]"),
    ],
)
def test_stripe_refuses_a_price_it_cannot_bill(
    stripe: StripePayments, sandbox: StripeSandbox, change: dict[str, Any], code: str | None, param: str
) -> None:
    customer, pm = saved_card(stripe, sandbox)
    product = StripeSubscriptions(stripe).create_product(
        name="Seats", metadata={}, idempotency_key="product:y:1"
    )
    fields = {"product": product, "interval": "month", "interval_count": "1", "unit_amount": "1000", **change}
    prefix = "items[0][price_data]"
    form = [("customer", customer), ("default_payment_method", pm), (f"{prefix}[currency]", "usd")]
    form += [
        (f"{prefix}[{name}]", str(value))
        for name, value in fields.items()
        if name in ("product", "unit_amount") and value
    ]
    form += [(f"{prefix}[recurring][{name}]", str(fields[name])) for name in ("interval", "interval_count")]
    error = post(sandbox, "/v1/subscriptions", form)["error"]
    assert (error["type"], error.get("param")) == ("invalid_request_error", param)
    if code:
        assert error["code"] == code
    assert not [s for s in sandbox.subscriptions() if s["customer"] == customer]


def test_a_payment_method_of_another_customer_or_a_past_trial_end_is_refused(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    customer, _pm = saved_card(stripe, sandbox)
    other = stripe.ensure_customer(
        erp_customer_id="CUST-10",
        crm_account_id="a",
        name="Other",
        email=None,
        idempotency_key="customer:CUST-10",
    )
    seti = stripe.create_setup_intent(customer_id=other, metadata={}, idempotency_key="setup:other:1")
    foreign_pm = str(sandbox.complete_setup(seti["id"])["payment_method"])
    product = StripeSubscriptions(stripe).create_product(
        name="Seats", metadata={}, idempotency_key="product:z:1"
    )
    item = [
        ("items[0][price_data][currency]", "usd"),
        ("items[0][price_data][product]", product),
        ("items[0][price_data][recurring][interval]", "month"),
        ("items[0][price_data][unit_amount]", "1000"),
    ]
    for extra, param, words in (
        (
            [("default_payment_method", foreign_pm)],
            "default_payment_method",
            "must be attached to the customer",
        ),
        ([("trial_end", str(int(time.time()) - 3600))], "trial_end", "in the future"),
        ([("trial_end", str(int(time.time()) + 800 * 86400))], "trial_end", "730 days"),
        ([], None, "no attached payment source or default payment method"),
        (
            [("billing_cycle_anchor", str(int(time.time()) + 3600))],
            "billing_cycle_anchor",
            "does not implement",
        ),
    ):
        error = post(sandbox, "/v1/subscriptions", [("customer", customer), *item, *extra])["error"]
        assert error["type"] == "invalid_request_error"
        assert error.get("param") == param and words in error["message"]
    assert not [s for s in sandbox.subscriptions() if s["customer"] == customer]
    # a product needs its name, as on Stripe
    error = post(sandbox, "/v1/products", [("description", "no name")])["error"]
    assert (error["code"], error["param"]) == ("parameter_missing", "name")
