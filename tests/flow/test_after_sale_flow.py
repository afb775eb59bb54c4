"""After the sale, on a local cloud of its own (so the day's reconciliation sees only these deals): refunds
both ways, payouts deposited to the cent, and the three-way reconciliation catching what drifted.

This module boots its own cloud and must run before the package's shared hub, because both share moto's
in-process backends: ``OWN_CLOUD`` makes the flow conftest run it first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from localcloud import LocalCloud
from o2c_cli import playbook
from o2c_cli.after_sale_commands import reconcile, request_refund
from o2c_cli.crm_scenarios import hubspot_deal, hubspot_us_deal
from o2c_cli.crm_setup import setup_crm
from o2c_cli.trace import trace
from shared.money import Money
from tests.flow.conftest import Hub

#: boots a local cloud of its own: run before the modules sharing the package's hub (conftest)
OWN_CLOUD = True


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state_dir = tmp_path_factory.mktemp("after-sale")
    with LocalCloud(api_port=0, aws_port=0, state_dir=state_dir) as local:
        hub = Hub(local, state_dir)
        assert all(status.ok for status in setup_crm(hub.target))  # as a user does before deals are won
        yield hub


@pytest.fixture(scope="module")
def paid_deal(cloud: Hub) -> dict[str, Any]:
    """One HubSpot deal carried to a paid invoice (33,986.40 EUR)."""
    sandbox = cloud.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)
    sandbox.win(deal_id)
    name = f"hubspot-{deal_id}"
    playbook.save_card(cloud.cloud, cloud.target, name)
    playbook.wait_until(cloud.target, name, status="SUCCEEDED")
    [intent] = [
        p
        for p in cloud.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    [invoice] = [
        r for r in cloud.cloud.sandboxes["netsuite"].records("invoice") if r["externalId"] == f"inv-{name}"
    ]
    return {"deal": deal_id, "intent": intent, "invoice": invoice}


def stripe_api(cloud: Hub) -> Any:
    """The Stripe API as the dashboard (or another app on the account) uses it."""
    from shared.outbound.stripe_payments import StripePayments

    key = cloud.cloud.res.secret_values["StripeApiKey"]["api_key"]
    return StripePayments(lambda: key, base_url=cloud.cloud.sandboxes["stripe"].url)


def erp_records(cloud: Hub, record_type: str, prefix: str) -> list[dict[str, Any]]:
    return [
        r
        for r in cloud.cloud.sandboxes["netsuite"].records(record_type)
        if str(r.get("externalId", "")).startswith(prefix)
    ]


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_refunds_made_in_stripe_are_booked_in_the_erp_once_each(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    api = stripe_api(cloud)
    first = api.create_refund(
        payment_intent_id=paid_deal["intent"]["id"],
        amount=Money.of(10000, "EUR"),
        metadata={},
        idempotency_key="dashboard-refund-1",
    )
    second = api.create_refund(
        payment_intent_id=paid_deal["intent"]["id"],
        amount=Money.of(5050, "EUR"),
        metadata={},
        idempotency_key="dashboard-refund-2",
    )
    assert (first.status, second.status) == ("succeeded", "succeeded")

    wait_for(lambda: len(erp_records(cloud, "customerRefund", "cr-re_")) >= 2)
    cloud.settle()
    credits = {r["externalId"]: r for r in erp_records(cloud, "creditMemo", "cm-re_")}
    assert set(credits) == {f"cm-{first.id}", f"cm-{second.id}"}
    assert sorted(str(c["total"]) for c in credits.values()) == ["100.00", "50.50"]
    booked = [e for e in trace(cloud.target, paid_deal["intent"]["id"]) if e.detail_type == "RefundBooked"]
    assert sorted(b.data["refundId"] for b in booked) == sorted([first.id, second.id])
    # a refund is tax included: each credit memo reverses its share of the invoice's VAT, and AvaTax records
    # the return of exactly that tax
    invoice = paid_deal["invoice"]
    returns = {d["code"]: d for d in cloud.cloud.sandboxes["avatax"].documents}
    # ... of the sale AvaTax recorded when the deal was invoiced
    sale = returns[invoice["externalId"]]
    assert (sale["type"], sale["status"], sale["totalTax"]) == (
        "SalesInvoice",
        "Committed",
        invoice["taxTotal"],
    )
    for refund in (first, second):
        credit = credits[f"cm-{refund.id}"]
        share = invoice["taxTotal"] * credit["total"] / invoice["total"]
        assert credit["taxTotal"] > 0 and abs(credit["taxTotal"] - share) <= Decimal("0.01"), credit
        assert credit["subtotal"] + credit["taxTotal"] == credit["total"]
        tax_return = returns[f"rtn-{refund.id}"]
        assert (tax_return["type"], tax_return["status"]) == ("ReturnInvoice", "Committed")
        assert tax_return["referenceCode"] == invoice["externalId"]
        assert (tax_return["totalAmount"], tax_return["totalTax"]) == (
            -credit["subtotal"],
            -credit["taxTotal"],
        )

    # Stripe redelivers a refund webhook: nothing is booked or returned twice
    events = [e for e in cloud.cloud.sandboxes["stripe"].events() if e["type"] == "refund.created"]
    cloud.cloud.sandboxes["stripe"].redeliver(events[0]["id"])
    cloud.settle()
    assert len(erp_records(cloud, "creditMemo", "cm-re_")) == 2
    assert sorted(d["type"] for d in cloud.cloud.sandboxes["avatax"].documents) == [
        "ReturnInvoice",
        "ReturnInvoice",
        "SalesInvoice",
    ]


def test_a_refund_the_hub_initiates_is_booked_once_stripe_confirms(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    request = request_refund(
        cloud.target, paid_deal["intent"]["id"], "20.00", reason="requested_by_customer", by="test"
    )
    wait_for(
        lambda: any(
            r["metadata"].get("o2c_refund_request_id") == request
            for r in cloud.cloud.sandboxes["stripe"].refunds()
        )
    )
    [refund] = [
        r
        for r in cloud.cloud.sandboxes["stripe"].refunds()
        if r["metadata"].get("o2c_refund_request_id") == request
    ]
    wait_for(lambda: len(erp_records(cloud, "creditMemo", f"cm-{refund['id']}")) == 1)


def test_a_refund_that_fails_at_stripe_is_reported_not_booked(cloud: Hub, paid_deal: dict[str, Any]) -> None:
    cloud.cloud.sandboxes["stripe"].fail_next_refund()
    request = request_refund(
        cloud.target, paid_deal["intent"]["id"], "1.00", reason="requested_by_customer", by="test"
    )
    wait_for(
        lambda: any(
            e.detail_type == "RefundFailed" and e.data.get("requestId") == request
            for e in trace(cloud.target, paid_deal["intent"]["id"])
        )
    )
    [refund] = [
        r
        for r in cloud.cloud.sandboxes["stripe"].refunds()
        if r["metadata"].get("o2c_refund_request_id") == request
    ]
    cloud.settle()
    assert erp_records(cloud, "creditMemo", f"cm-{refund['id']}") == []


def test_payout_becomes_one_deposit_equal_to_it_even_through_an_erp_outage(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    cloud.cloud.sandboxes["netsuite"].fail_next(503, count=3)
    payout_id = stripe.create_payout("eur")
    wait_for(lambda: len(erp_records(cloud, "deposit", f"dep-{payout_id}")) == 1, timeout=120)
    [deposit] = erp_records(cloud, "deposit", f"dep-{payout_id}")
    [payout] = [p for p in stripe.payouts() if p["id"] == payout_id]
    assert Money.parse({"amount": payout["amount"], "currency": "EUR"}).to_decimal() == deposit["total"]
    cloud.settle()
    [recorded] = [e for e in trace(cloud.target, payout_id) if e.detail_type == "DepositRecorded"]
    assert recorded.data["payments"] == 1 and recorded.data["fees"]["amount"] > 0


def test_a_dispute_is_recorded_with_a_task_for_the_deal_owner_and_settled_when_lost(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    stripe = cloud.cloud.sandboxes["stripe"]
    dispute_id = stripe.open_dispute(paid_deal["intent"]["latest_charge"], reason="fraudulent")

    wait_for(lambda: len(erp_records(cloud, "returnAuthorization", f"dsp-{dispute_id}")) == 1)
    wait_for(lambda: len(cloud.cloud.sandboxes["hubspot"].tasks(paid_deal["deal"])) == 1)
    [task] = cloud.cloud.sandboxes["hubspot"].tasks(paid_deal["deal"])
    assert "evidence due" in task["properties"]["hs_task_subject"]
    # a redelivered dispute webhook books nothing twice and asks the owner only once
    created = [e for e in stripe.events() if e["type"] == "charge.dispute.created"]
    stripe.redeliver(created[-1]["id"])
    cloud.settle()
    assert len(cloud.cloud.sandboxes["hubspot"].tasks(paid_deal["deal"])) == 1

    stripe.close_dispute(dispute_id, "lost")
    wait_for(lambda: len(erp_records(cloud, "creditMemo", f"dsp-{dispute_id}")) == 1)
    cloud.settle()
    assert [
        e.data["outcome"] for e in trace(cloud.target, dispute_id) if e.detail_type == "DisputeSettled"
    ] == ["lost"]
    # the chargeback took back tax too: the credit memo reverses it, AvaTax records its return
    [credit] = erp_records(cloud, "creditMemo", f"dsp-{dispute_id}")
    [tax_return] = [d for d in cloud.cloud.sandboxes["avatax"].documents if d["code"] == f"rtn-{dispute_id}"]
    assert credit["taxTotal"] > 0 and tax_return["totalTax"] == -credit["taxTotal"]
    assert tax_return["referenceCode"] == paid_deal["invoice"]["externalId"]  # the sale AvaTax recorded


def test_renewals_are_invoiced_once_and_a_failed_one_is_dunned_in_erp_and_crm(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    stripe = cloud.cloud.sandboxes["stripe"]
    sub = stripe.create_subscription(
        paid_deal["intent"]["customer"],
        9900,
        "eur",
        "month",
        {"o2c_correlation_id": f"hubspot:{paid_deal['deal']}"},
    )
    paid_invoice = stripe.renew(sub)
    wait_for(lambda: len(erp_records(cloud, "invoice", f"ren-{paid_invoice}")) == 1)
    stripe.redeliver([e for e in stripe.events() if e["type"] == "invoice.paid"][-1]["id"])
    cloud.settle()
    assert len(erp_records(cloud, "invoice", f"ren-{paid_invoice}")) == 1

    stripe.renew(sub, succeed=False)
    customer_id = erp_records(cloud, "invoice", f"ren-{paid_invoice}")[0]["entity"]["id"]
    netsuite = cloud.cloud.sandboxes["netsuite"]
    wait_for(
        lambda: netsuite.record("customer", str(customer_id)).get("custentity_o2c_dunning") == "past_due"
    )
    wait_for(
        lambda: (
            cloud.cloud.sandboxes["hubspot"].deal(paid_deal["deal"])["properties"]["o2c_payment_status"]
            == "past_due"
        )
    )

    stripe.renew(sub)
    wait_for(lambda: not netsuite.record("customer", str(customer_id)).get("custentity_o2c_dunning"))
    # the CRM is written after the ERP: wait for it rather than read it the moment the ERP changed
    wait_for(
        lambda: (
            cloud.cloud.sandboxes["hubspot"].deal(paid_deal["deal"])["properties"]["o2c_payment_status"]
            == "paid"
        )
    )


def test_a_clean_day_reconciles_to_zero_exceptions_and_drift_is_caught(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    cloud.settle()
    clean = reconcile(cloud.target, None, publish=False)
    assert (clean["deals"], clean["payments"], clean["exceptions"]) == (1, 1, []), clean
    assert clean["refunds"] >= 3 and clean["payouts"] == 1

    # someone edits the invoice in the ERP behind the hub's back
    cloud.cloud.sandboxes["netsuite"].edit("invoice", paid_deal["invoice"]["id"], total="33000.00")
    drifted = reconcile(cloud.target, None, publish=True)
    kinds = [(e["kind"], e["erpInvoiceId"]) for e in drifted["exceptions"]]
    assert ("amount_differs", str(paid_deal["invoice"]["id"])) in kinds
    cloud.settle()
    assert any(
        e.detail_type == "ReconciliationException"
        for e in trace(cloud.target, str(paid_deal["invoice"]["id"]))
    )


def test_a_renewal_is_booked_under_its_payment_and_its_payout_deposited_once_stripe_has_reconciled_it(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    from datetime import UTC, datetime

    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    # a yearly renewal large enough that the EUR balance (after the lost dispute above) is paid out
    sub = stripe.create_subscription(
        paid_deal["intent"]["customer"],
        5_000_000,
        "eur",
        "year",
        {"o2c_correlation_id": f"hubspot:{paid_deal['deal']}"},
    )
    billing_invoice = stripe.renew(sub)
    [inpay] = [p for p in stripe.invoice_payments() if p["invoice"] == billing_invoice]
    intent_id = inpay["payment"]["payment_intent"]

    # the renewal's payment is applied under its PaymentIntent (the invoice names none: its
    # InvoicePayment does), and the ERP invoice covers the year the invoice's line bills
    wait_for(lambda: len(erp_records(cloud, "customerPayment", f"pay-{intent_id}")) == 1)
    [renewal] = erp_records(cloud, "invoice", f"ren-{billing_invoice}")
    [invoice] = [i for i in stripe.invoices() if i["id"] == billing_invoice]
    [line] = invoice["lines"]["data"]

    def day(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).date().isoformat()

    assert (str(renewal["startDate"]), str(renewal["endDate"])) == (
        day(line["period"]["start"]),
        day(line["period"]["end"]),
    )
    assert day(invoice["period_start"]) != str(renewal["startDate"])  # not the year that just ended

    # Stripe pays out the renewal's charge but is slow to reconcile: nothing is deposited until it has
    cloud.settle()
    stripe.hold_reconciliation()
    try:
        payout_id = stripe.create_payout("eur")
        wait_for(lambda: any(e.detail_type == "PayoutPaid" for e in trace(cloud.target, payout_id)))
        cloud.settle()
        assert erp_records(cloud, "deposit", f"dep-{payout_id}") == []
    finally:
        stripe.release_reconciliation()
    wait_for(lambda: len(erp_records(cloud, "deposit", f"dep-{payout_id}")) == 1)
    cloud.settle()
    [deposit] = erp_records(cloud, "deposit", f"dep-{payout_id}")
    [payout] = [p for p in stripe.payouts() if p["id"] == payout_id]
    assert payout["reconciliation_status"] == "completed"
    assert Money.of(payout["amount"], "EUR").to_decimal() == deposit["total"]
    [payment] = erp_records(cloud, "customerPayment", f"pay-{intent_id}")
    # it applies this renewal's payment (and those of the renewals above, paid out with it)
    assert str(payment["id"]) in [str(i["id"]) for i in deposit["payment"]["items"]]


# --- out of order: what comes first waits for what it depends on (after the day's reconciliation above,
# which counts this module's one deal) -------------------------------------------------------------------


def test_a_payout_before_its_payment_is_applied_waits_and_is_deposited_once_it_is(cloud: Hub) -> None:
    from o2c_cli import pending

    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    stripe.create_payouts()  # what earlier tests left unpaid goes out first
    cloud.settle()
    stripe.hold_webhooks()  # Stripe's deliveries are late; we hand over only the ones named below
    try:
        deal_id = hubspot_us_deal(
            cloud.cloud.sandboxes["hubspot"]
        )  # in USD: no balance left over from the EUR tests above
        cloud.cloud.sandboxes["hubspot"].win(deal_id)
        name = f"hubspot-{deal_id}"
        setup_intent = playbook.save_card(cloud.cloud, cloud.target, name)
        [saved] = [e for e in stripe.events() if e["data"]["object"]["id"] == setup_intent]
        stripe.redeliver(saved["id"])
        playbook.wait_until(cloud.target, name, state="WaitForCaptureConfirmation")
        [intent] = [p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal_id]
        wait_for(lambda: stripe.payment_intent(intent["id"])["status"] == "succeeded")

        payout_id = stripe.create_payout("usd")
        stripe.wait_for_reconciliation(payout_id)  # so that payout.paid finds it reconciled on re-read
        [paid] = [
            e
            for e in stripe.events()
            if e["type"] == "payout.paid" and e["data"]["object"]["id"] == payout_id
        ]
        assert stripe.redeliver(paid["id"])[0] == 200  # the payout arrives before the capture's webhook
        wait_for(lambda: any(p.detail_type == "PayoutPaid" for p in pending.waiting(cloud.target)))
        [waiting] = pending.waiting(cloud.target)
        assert (waiting.consumer, waiting.awaiting) == ("PayoutDepositor", f"payment:{intent['id']}")
        assert erp_records(cloud, "deposit", f"dep-{payout_id}") == []
        assert cloud.dlq_depth("PayoutDepositor") == 0  # waiting, not dead
        # `o2c pending release` before the fact is there: replayed, still missing, waits again, as old
        assert pending.release_all(cloud.target) == 1
        wait_for(lambda: [p.releases for p in pending.waiting(cloud.target)] == [1])
        [again] = pending.waiting(cloud.target)
        assert again.first_parked_at == waiting.first_parked_at and again.parked_at > waiting.parked_at
    finally:
        stripe.release_webhooks()

    playbook.wait_until(cloud.target, name, status="SUCCEEDED")
    wait_for(lambda: len(erp_records(cloud, "deposit", f"dep-{payout_id}")) == 1)
    cloud.settle()
    [deposit] = erp_records(cloud, "deposit", f"dep-{payout_id}")
    [payout] = [p for p in stripe.payouts() if p["id"] == payout_id]
    assert Money.of(payout["amount"], "USD").to_decimal() == deposit["total"]
    assert pending.waiting(cloud.target) == []
    assert len([e for e in trace(cloud.target, payout_id) if e.detail_type == "DepositRecorded"]) == 1


def test_a_dispute_closed_before_it_was_recorded_is_settled_once_it_is(cloud: Hub) -> None:
    from o2c_cli import pending

    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    [charge] = [c for c in stripe.charges() if c["captured"] and not c["disputed"] and not c["refunded"]][-1:]
    stripe.hold_webhooks()
    try:
        dispute_id = stripe.open_dispute(charge["id"], reason="product_not_received")
        stripe.close_dispute(dispute_id, "lost")
        [closed] = [
            e
            for e in stripe.events()
            if e["type"] == "charge.dispute.closed" and e["data"]["object"]["id"] == dispute_id
        ]
        assert stripe.redeliver(closed["id"])[0] == 200
        wait_for(lambda: any(p.awaiting == f"dispute:{dispute_id}" for p in pending.waiting(cloud.target)))
    finally:
        stripe.release_webhooks()
    wait_for(
        lambda: any(
            e.detail_type == "DisputeSettled" and e.data.get("outcome") == "lost"
            for e in trace(cloud.target, dispute_id)
        )
    )
    cloud.settle()
    assert len(erp_records(cloud, "returnAuthorization", f"dsp-{dispute_id}")) == 1
    assert len(erp_records(cloud, "creditMemo", f"dsp-{dispute_id}")) == 1  # lost: booked once
    assert pending.waiting(cloud.target) == []
    assert len([e for e in trace(cloud.target, dispute_id) if e.detail_type == "DisputeSettled"]) == 1


def test_a_refund_of_a_renewal_payment_before_the_renewal_is_invoiced_waits_then_credits_that_cycle(
    cloud: Hub, paid_deal: dict[str, Any]
) -> None:
    from o2c_cli import pending

    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    sub = stripe.create_subscription(
        paid_deal["intent"]["customer"],
        4900,
        "eur",
        "month",
        {"o2c_correlation_id": f"hubspot:{paid_deal['deal']}"},
    )
    cloud.settle()
    stripe.hold_webhooks()
    try:
        billing_invoice = stripe.renew(sub)
        [payment] = [p for p in stripe.invoice_payments() if p["invoice"] == billing_invoice]
        intent_id = payment["payment"]["payment_intent"]
        refund = stripe_api(cloud).create_refund(
            payment_intent_id=intent_id, amount=None, metadata={}, idempotency_key=f"test-{intent_id}"
        )
        # the refund's webhooks arrive before the renewal's
        for event in [e for e in stripe.events() if e["data"]["object"]["id"] == refund.id]:
            stripe.redeliver(event["id"])
        wait_for(lambda: any(p.awaiting == f"payment:{intent_id}" for p in pending.waiting(cloud.target)))
        assert erp_records(cloud, "creditMemo", f"cm-{refund.id}") == []
    finally:
        stripe.release_webhooks()

    wait_for(lambda: len(erp_records(cloud, "creditMemo", f"cm-{refund.id}")) == 1)
    cloud.settle()
    [renewal] = erp_records(cloud, "invoice", f"ren-{billing_invoice}")
    [booked] = [
        e
        for e in trace(cloud.target, refund.id)
        if e.detail_type == "RefundBooked" and e.data["refundId"] == refund.id
    ]  # once, though Stripe told it twice (refund.created, refund.updated) and both waited
    assert booked.data["erpInvoiceId"] == str(renewal["id"])  # that cycle's invoice, not the deal's
    assert pending.waiting(cloud.target) == []


# --- more than one currency --------------------------------------------------------------------------


def test_a_payment_stripe_converts_is_booked_at_stripes_rate_and_its_payout_deposited_to_the_cent(
    cloud: Hub,
) -> None:
    """A US company pays ¥ to the US subsidiary (USD books); the Stripe account settles JPY into USD."""
    from decimal import Decimal

    from shared.money import convert

    stripe = cloud.cloud.sandboxes["stripe"]
    cloud.settle()
    stripe.create_payouts()
    cloud.settle()
    stripe.settle_into("jpy", "usd", "0.0067")
    try:
        deal_id = hubspot_us_deal(cloud.cloud.sandboxes["hubspot"], currency="JPY", price="1500000")
        cloud.cloud.sandboxes["hubspot"].win(deal_id)
        name = f"hubspot-{deal_id}"
        playbook.save_card(cloud.cloud, cloud.target, name)
        playbook.wait_until(cloud.target, name, status="SUCCEEDED")
    finally:
        stripe.settle_into("jpy", "jpy", None)
    [intent] = [p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal_id]
    charged = Money.of(intent["amount"], "JPY")
    [charge] = [c for c in stripe.charges() if c["id"] == intent["latest_charge"]]
    [txn] = [t for t in stripe.balance_transactions() if t["id"] == charge["balance_transaction"]]
    assert (txn["currency"], txn["exchange_rate"]) == ("usd", 0.0067)
    assert txn["amount"] == convert(charged, "0.0067", "USD").amount

    # the ERP books the yen payment at Stripe's rate: in USD it is what Stripe settled
    [payment] = erp_records(cloud, "customerPayment", f"pay-{intent['id']}")
    assert Decimal(str(payment["exchangeRate"])) == Decimal("0.0067")
    assert payment["payment"] == charged.to_decimal()

    payout_id = stripe.create_payout("usd")
    wait_for(lambda: len(erp_records(cloud, "deposit", f"dep-{payout_id}")) == 1)
    cloud.settle()
    [deposit] = erp_records(cloud, "deposit", f"dep-{payout_id}")
    [payout] = [p for p in stripe.payouts() if p["id"] == payout_id]
    assert deposit["total"] == Money.of(payout["amount"], "USD").to_decimal()
    assert [line["paymentAmount"] for line in deposit["payment"]["items"]] == [Decimal(txn["amount"]) / 100]
    [recorded] = [e for e in trace(cloud.target, payout_id) if e.detail_type == "DepositRecorded"]
    conversion_fee = sum(d["amount"] for d in txn["fee_details"] if "conversion" in d["description"].lower())
    assert recorded.data["conversionFees"] == {"amount": conversion_fee, "currency": "USD"}
    assert conversion_fee > 0 and recorded.data["exchangeDifference"] is None
