"""After the sale, over HTTP against the Stripe sandbox: partial and failed refunds, disputes won and lost,
subscription renewals paid and declined, and payouts reconciled through their balance transactions.
Every webhook is checked as the hub checks it (``Stripe-Signature``) and mapped as the hub maps it."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.stripe import DISPUTE_FEE, StripeSandbox, processing_fee
from shared.events.payments import (
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    DisputeOpened,
    PayoutPaid,
    PayoutReconciled,
    RefundSettled,
    SubscriptionUpdated,
)
from shared.inbound.stripe import normalise_event
from shared.money import Money
from shared.order_to_cash.bookings import ManualPayout, PayoutNotReconciled, book_renewal, deposit_payout
from shared.outbound import PermanentError
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import (
    STRIPE_API_KEY,
    STRIPE_WEBHOOK_SECRET,
    StripeHub,
    control,
)

API_KEY, WEBHOOK_SECRET = STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET
LINKS = {"o2c_correlation_id": "corr-after-sale", "o2c_erp_order_id": "SO-2001"}


Hub = StripeHub


_keys = itertools.count(1)


def customer(stripe: StripePayments) -> str:
    return stripe.ensure_customer(
        erp_customer_id="CUST-7",
        crm_account_id="001Dn00000Acme",
        name="Acme GmbH",
        email="ap@acme.de",
        idempotency_key="customer:CUST-7",
    )


def captured(stripe: StripePayments, sandbox: StripeSandbox, amount: int, currency: str = "USD") -> str:
    """A PaymentIntent authorized and captured for ``amount`` (ISO minor units): its ``pi_`` id."""
    n = next(_keys)
    cus = customer(stripe)
    seti = stripe.create_setup_intent(customer_id=cus, metadata=LINKS, idempotency_key=f"setup:{n}")
    pm = sandbox.complete_setup(seti["id"], "pm_card_visa")["payment_method"]
    auth = stripe.authorize(
        customer_id=cus,
        payment_method_id=pm,
        amount=Money.of(amount, currency),
        metadata=LINKS,
        idempotency_key=f"authorize:{n}",
    )
    assert auth.authorized
    assert (
        stripe.capture(payment_intent_id=auth.payment_intent_id, idempotency_key=f"capture:{n}")
        == "succeeded"
    )
    return auth.payment_intent_id


def charge_of(sandbox: StripeSandbox, pi_id: str) -> str:
    return str(sandbox.payment_intent(pi_id)["latest_charge"])


def refund(stripe: StripePayments, pi_id: str, amount: Money | None, key: str) -> Any:
    return stripe.create_refund(payment_intent_id=pi_id, amount=amount, metadata=LINKS, idempotency_key=key)


def mapped(event: dict[str, Any]) -> Any:
    [canonical] = normalise_event(event, "corr-fallback")
    return canonical.data


# --- refunds -----------------------------------------------------------------------------------------------


def test_two_partial_refunds_then_the_rest(stripe: StripePayments, sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a captured payment of 100.00 USD
    pi_id = captured(stripe, sandbox, 10000)
    charge_id = charge_of(sandbox, pi_id)

    # When the hub refunds 30.00, then 20.00 (and the first request is retried under its key)
    first = refund(stripe, pi_id, Money.of(3000, "USD"), "refund:CM-1")
    again = refund(stripe, pi_id, Money.of(3000, "USD"), "refund:CM-1")
    second = refund(stripe, pi_id, Money.of(2000, "USD"), "refund:CM-2")
    sandbox.wait_for_webhooks()

    # Then two refunds exist, the retry replayed the first, and the charge shows 50.00 refunded
    assert first == again and first.id != second.id
    assert first.id.startswith("re_") and second.id.startswith("re_") and len(sandbox.refunds()) == 2
    assert (first.status, first.amount, first.charge_id, first.payment_intent_id) == (
        "succeeded",
        Money.of(3000, "USD"),
        charge_id,
        pi_id,
    )
    assert first.succeeded and not first.failed and first.failure_reason is None
    assert second.amount == Money.of(2000, "USD")
    refunded = [e["data"]["object"] for e in hub.of_type("charge.refunded")]
    assert [(c["id"], c["amount_refunded"], c["refunded"]) for c in refunded] == [
        (charge_id, 3000, False),
        (charge_id, 5000, False),
    ]
    created = [e["data"]["object"] for e in hub.of_type("refund.created")]
    assert [(r["id"], r["amount"], r["status"], r["charge"], r["payment_intent"]) for r in created] == [
        (first.id, 3000, "succeeded", charge_id, pi_id),
        (second.id, 2000, "succeeded", charge_id, pi_id),
    ]
    assert created[0]["metadata"] == LINKS and created[0]["currency"] == "usd"
    assert [e["data"]["object"]["id"] for e in hub.of_type("refund.updated")] == [first.id, second.id]
    settled = mapped(hub.of_type("charge.refunded")[1])
    assert isinstance(settled, RefundSettled)
    assert (settled.amountRefunded, settled.chargeAmount, settled.fullyRefunded) == (
        Money.of(5000, "USD"),
        Money.of(10000, "USD"),
        False,
    )

    # And refunding "the rest" takes the remaining 50.00 and marks the charge refunded
    rest = refund(stripe, pi_id, None, "refund:CM-3")
    sandbox.wait_for_webhooks()
    assert rest.amount == Money.of(5000, "USD") and rest.succeeded
    last = hub.of_type("charge.refunded")[-1]["data"]["object"]
    assert (last["amount_refunded"], last["refunded"]) == (10000, True)
    charge = stripe.retrieve_charge(charge_id)
    assert (charge["amount_refunded"], charge["refunded"]) == (10000, True)
    assert stripe.retrieve_refund(rest.id)["amount"] == 5000
    assert hub.rejected == 0


def test_refunding_more_than_remains_is_refused(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given 50.00 USD captured, 40.00 refunded
    pi_id = captured(stripe, sandbox, 5000)
    refund(stripe, pi_id, Money.of(4000, "USD"), "refund:a")

    # When the hub asks for 20.00 more, then for a refund in another currency
    with pytest.raises(PermanentError) as refused:
        refund(stripe, pi_id, Money.of(2000, "USD"), "refund:b")
    with pytest.raises(ValueError, match="USD"):
        refund(stripe, pi_id, Money.of(1000, "EUR"), "refund:c")

    # Then Stripe refused the first (nothing moved), and the second never reached Stripe
    assert (refused.value.status, refused.value.code) == (400, "amount_too_large")
    assert "unrefunded amount" in (refused.value.detail or "")
    assert len(sandbox.refunds()) == 1
    assert sandbox.charge(charge_of(sandbox, pi_id))["amount_refunded"] == 4000
    assert [c["idempotency_key"] for c in sandbox.api_calls if c["path"] == "/v1/refunds"] == [
        "refund:a",
        "refund:b",
    ]

    # And once all is refunded, Stripe says so
    refund(stripe, pi_id, None, "refund:d")
    with pytest.raises(PermanentError) as done:
        refund(stripe, pi_id, None, "refund:e")
    assert done.value.code == "charge_already_refunded"


def test_a_refund_that_fails_at_stripe_is_reported_failed(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a captured payment whose card can no longer take a refund
    pi_id = captured(stripe, sandbox, 8000)
    control(sandbox.url, "POST", "/_sandbox/refunds/fail_next", {})

    # When the hub refunds it
    result = refund(stripe, pi_id, Money.of(8000, "USD"), "refund:failing")
    sandbox.wait_for_webhooks()

    # Then the result says failed, with the reason, and no money moved
    assert (result.status, result.failure_reason) == ("failed", "expired_or_canceled_card")
    assert result.failed and not result.succeeded
    assert sandbox.charge(charge_of(sandbox, pi_id))["amount_refunded"] == 0
    assert [t["type"] for t in sandbox.balance_transactions()] == ["charge"]
    assert hub.of_type("charge.refunded") == [] and hub.of_type("refund.updated") == []
    [failed] = hub.of_type("refund.failed")
    assert (failed["data"]["object"]["id"], failed["data"]["object"]["status"]) == (result.id, "failed")
    assert failed["data"]["object"]["failure_reason"] == "expired_or_canceled_card"
    assert [e["data"]["object"]["status"] for e in hub.of_type("refund.created")] == ["pending"]

    # And the next refund goes through
    assert refund(stripe, pi_id, None, "refund:retry").succeeded


# --- disputes ----------------------------------------------------------------------------------------------


def test_a_dispute_won_leaves_the_balance(stripe: StripePayments, sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a captured payment of 250.00 USD
    pi_id = captured(stripe, sandbox, 25000)
    charge_id = charge_of(sandbox, pi_id)
    balance = sandbox.balance()

    # When the cardholder disputes it and the merchant wins
    dispute_id = sandbox.open_dispute(charge_id, reason="product_not_received")
    closed = sandbox.close_dispute(dispute_id, "won")
    sandbox.wait_for_webhooks()

    # Then the hub heard of both, the first mapped to DisputeOpened, and the balance is untouched
    assert dispute_id.startswith("dp_") and closed["status"] == "won"
    [created] = hub.of_type("charge.dispute.created")
    dispute = created["data"]["object"]
    assert (dispute["amount"], dispute["currency"], dispute["charge"], dispute["payment_intent"]) == (
        25000,
        "usd",
        charge_id,
        pi_id,
    )
    assert dispute["status"] == "needs_response" and dispute["evidence_details"]["due_by"] > time.time()
    opened = mapped(created)
    assert isinstance(opened, DisputeOpened)
    assert (opened.disputeId, opened.amount, opened.reason) == (
        dispute_id,
        Money.of(25000, "USD"),
        "product_not_received",
    )
    [closed_event] = hub.of_type("charge.dispute.closed")
    assert closed_event["data"]["object"]["status"] == "won"
    assert closed_event["data"]["previous_attributes"] == {"status": "needs_response"}
    assert sandbox.balance() == balance and stripe.retrieve_charge(charge_id)["disputed"] is True


def test_a_dispute_lost_debits_amount_and_fee(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a captured payment of 120.00 USD, disputed (over the control endpoints, as another process)
    pi_id = captured(stripe, sandbox, 12000)
    charge_id = charge_of(sandbox, pi_id)
    dispute = control(sandbox.url, "POST", f"/_sandbox/charges/{charge_id}/dispute", {"reason": "fraudulent"})
    before = sandbox.balance()["usd"]

    # When the merchant loses it
    closed = control(sandbox.url, "POST", f"/_sandbox/disputes/{dispute['id']}/close", {"outcome": "lost"})
    sandbox.wait_for_webhooks()

    # Then an adjustment takes the amount and the dispute fee, and the hub heard the dispute closed lost
    assert closed["status"] == "lost"
    [adjustment] = [t for t in sandbox.balance_transactions() if t["type"] == "adjustment"]
    assert (adjustment["amount"], adjustment["fee"], adjustment["net"], adjustment["source"]) == (
        -12000,
        DISPUTE_FEE,
        -12000 - DISPUTE_FEE,
        dispute["id"],
    )
    assert closed["balance_transactions"][0]["id"] == adjustment["id"]
    assert sandbox.balance()["usd"] == before - 12000 - DISPUTE_FEE
    assert [e["data"]["object"]["status"] for e in hub.of_type("charge.dispute.closed")] == ["lost"]

    # And a charge lost to a dispute cannot be refunded
    with pytest.raises(PermanentError) as refused:
        refund(stripe, pi_id, None, "refund:disputed")
    assert refused.value.code == "charge_disputed"


# --- subscription renewals -----------------------------------------------------------------------------------


def test_a_renewal_paid(stripe: StripePayments, sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a monthly subscription of 99.00 EUR
    cus = customer(stripe)
    sub_id = sandbox.create_subscription(cus, 9900, "eur", metadata={"o2c_contract": "K-1"})
    [item] = sandbox.subscriptions()[0]["items"]["data"]
    first_start, period_end = item["current_period_start"], item["current_period_end"]

    # When it renews and the card pays
    invoice_id = sandbox.renew(sub_id)
    sandbox.wait_for_webhooks()

    # Then the invoice for the next period is paid, its payment succeeded, and it books a charge
    [paid] = hub.of_type("invoice.paid")
    invoice = paid["data"]["object"]
    assert (invoice["id"], invoice["status"], invoice["amount_due"], invoice["amount_paid"]) == (
        invoice_id,
        "paid",
        9900,
        9900,
    )
    assert invoice["billing_reason"] == "subscription_cycle"
    assert invoice["parent"]["subscription_details"]["subscription"] == sub_id
    # as at Stripe since 2025-03-31.basil: no payment_intent nor charge on the invoice, no payments unless
    # expanded; the line bills the new period, the invoice's own period is the one that just ended
    assert not {"payment_intent", "charge", "payments"} & set(invoice)
    [line] = invoice["lines"]["data"]
    assert line["period"]["start"] == period_end and line["period"]["end"] > period_end + 27 * 86400
    assert (invoice["period_start"], invoice["period_end"]) == (first_start, period_end)
    [succeeded] = hub.of_type("payment_intent.succeeded")
    [inpay] = sandbox.invoice_payments()
    assert succeeded["data"]["object"]["id"] == inpay["payment"]["payment_intent"]
    data = mapped(paid)
    assert isinstance(data, BillingInvoicePaid)
    assert (data.subscriptionId, data.amountPaid, data.billingReason) == (
        sub_id,
        Money.of(9900, "EUR"),
        "subscription_cycle",
    )
    [txn] = sandbox.balance_transactions()
    assert (txn["type"], txn["amount"], txn["fee"], txn["currency"]) == (
        "charge",
        9900,
        processing_fee(9900),
        "eur",
    )
    assert hub.of_type("customer.subscription.updated") == [] and hub.rejected == 0


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Applied:
    id: str
    amount: Money
    exchange_rate: Decimal | None


class Books:
    """The ERP side of ``book_renewal`` and ``deposit_payout``, recorded as written."""

    def __init__(self) -> None:
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.deposits: dict[str, dict[str, Any]] = {}

    def upsert_renewal_invoice(self, external_id: str, **fields: Any) -> Ref:
        self.invoices[external_id] = fields
        return Ref(f"INV-{len(self.invoices)}")

    def apply_customer_payment(self, external_id: str, **fields: Any) -> Ref:
        self.payments[external_id] = fields
        return Ref(f"PAY-{len(self.payments)}")

    def mark_dunning(self, customer_id: str, *, state: str | None) -> None:
        pass

    def customer_payment(self, external_id: str) -> Applied | None:
        fields = self.payments.get(external_id)
        if fields is None:
            return None
        return Applied(external_id, fields["amount"], fields.get("exchange_rate"))

    def upsert_deposit(self, external_id: str, **fields: Any) -> Ref:
        self.deposits[external_id] = fields
        return Ref(f"DEP-{len(self.deposits)}")


def test_a_renewal_is_booked_under_its_payment_at_stripes_rate_for_its_service_period(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a yen subscription of a US customer (USD books) whose yen Stripe settles into USD at 0.0067
    sandbox.settle_into("jpy", "usd", "0.0067")
    sub_id = sandbox.create_subscription(customer(stripe), 15000, "jpy")
    [item] = sandbox.subscriptions()[0]["items"]["data"]
    renewed_from = item["current_period_end"]

    # When it renews, the card pays, and the hub books the invoice.paid it hears
    invoice_id = sandbox.renew(sub_id)
    sandbox.wait_for_webhooks()
    [paid] = hub.of_type("invoice.paid")
    books = Books()
    booked = book_renewal(books, stripe, None, mapped(paid), "1", "USD")

    # Then the payment is applied under the renewal's PaymentIntent (found through its InvoicePayment),
    # at Stripe's rate, so that the payout holding its charge finds it
    [inpay] = [p for p in sandbox.invoice_payments() if p["invoice"] == invoice_id]
    intent = inpay["payment"]["payment_intent"]
    assert booked is not None and booked["paymentIntentId"] == intent
    assert list(books.payments) == [f"pay-{intent}"]
    assert books.payments[f"pay-{intent}"]["exchange_rate"] == Decimal("0.0067")
    # And the ERP invoice covers the month it bills (the line's period), not the month that just ended
    [renewal] = books.invoices.values()
    assert renewal["period_start"] == datetime.fromtimestamp(renewed_from, UTC).date()
    assert renewal["period_end"] > renewal["period_start"] + timedelta(days=27)
    assert booked["periodStart"] == renewal["period_start"].isoformat()


def test_a_renewal_declined_then_paid(stripe: StripePayments, sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a monthly subscription (created over the control endpoint)
    cus = customer(stripe)
    sub = control(
        sandbox.url, "POST", "/_sandbox/subscriptions", {"customer": cus, "amount": 4900, "currency": "usd"}
    )

    # When the renewal's payment is declined
    invoice = control(sandbox.url, "POST", f"/_sandbox/subscriptions/{sub['id']}/renew", {"succeed": False})
    sandbox.wait_for_webhooks()

    # Then the hub hears invoice.payment_failed (dunning) and the subscription going past due
    assert invoice["status"] == "open"
    [failed] = hub.of_type("invoice.payment_failed")
    assert failed["data"]["object"]["attempt_count"] == 1
    assert failed["data"]["object"]["next_payment_attempt"] > time.time()
    dunning = mapped(failed)
    assert isinstance(dunning, BillingInvoicePaymentFailed)
    assert (dunning.billingInvoiceId, dunning.subscriptionId, dunning.amountDue, dunning.attemptCount) == (
        invoice["id"],
        sub["id"],
        Money.of(4900, "USD"),
        1,
    )
    assert dunning.nextPaymentAttempt is not None
    [updated] = hub.of_type("customer.subscription.updated")
    change = mapped(updated)
    assert isinstance(change, SubscriptionUpdated)
    assert (change.subscriptionId, change.status, change.previousStatus) == (sub["id"], "past_due", "active")
    assert change.currentPeriodEnd is not None
    assert hub.of_type("invoice.paid") == [] and sandbox.balance_transactions() == []

    # And when the next renewal is paid, the subscription is active again
    sandbox.renew(sub["id"])
    sandbox.wait_for_webhooks()
    back = mapped(hub.of_type("customer.subscription.updated")[-1])
    assert (back.status, back.previousStatus) == ("active", "past_due")
    assert len(hub.of_type("invoice.paid")) == 1


# --- payouts -------------------------------------------------------------------------------------------------


def test_a_payout_reconciles_to_its_balance_transactions(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given three captured payments and one refund in USD
    amounts = [10000, 2550, 99999]
    pis = [captured(stripe, sandbox, amount) for amount in amounts]
    refunded = refund(stripe, pis[0], Money.of(1234, "USD"), "refund:payout")

    # When Stripe pays out, and has reconciled the payout
    payout_id = sandbox.create_payout()
    sandbox.wait_for_reconciliation(payout_id)
    sandbox.wait_for_webhooks()

    # Then the payout is the sum of the nets, and its transactions list back across pages
    payout = stripe.retrieve_payout(payout_id)
    txns = list(stripe.list_balance_transactions(payout_id=payout_id, page_size=2))
    pages = [c for c in sandbox.api_calls if c["path"] == "/v1/balance_transactions"]
    assert len(pages) == 3 and "starting_after" not in pages[0]["params"]
    assert pages[1]["params"]["starting_after"] == txns[1]["id"] and pages[1]["params"]["limit"] == "2"

    by_type: dict[str, list[dict[str, Any]]] = {}
    for txn in txns:
        by_type.setdefault(txn["type"], []).append(txn)
    assert sorted(by_type) == ["charge", "payout", "refund"] and len(txns) == 5
    charges = sorted(by_type["charge"], key=lambda t: t["amount"])
    assert [(t["amount"], t["fee"], t["net"]) for t in charges] == [
        (a, processing_fee(a), a - processing_fee(a)) for a in sorted(amounts)
    ]
    assert processing_fee(10000) == 320 and processing_fee(2550) == 104  # 73.95 rounds up to 74, + 30
    assert {t["source"] for t in charges} == {charge_of(sandbox, pi) for pi in pis}
    [refund_txn] = by_type["refund"]
    assert (refund_txn["amount"], refund_txn["fee"], refund_txn["net"], refund_txn["source"]) == (
        -1234,
        0,
        -1234,
        refunded.id,
    )
    nets = sum(t["net"] for t in txns if t["type"] != "payout")
    assert nets == sum(amounts) - sum(processing_fee(a) for a in amounts) - 1234
    assert (payout["amount"], payout["currency"], payout["status"]) == (nets, "usd", "paid")
    [own] = by_type["payout"]
    assert (own["id"], own["amount"], own["net"], own["source"]) == (
        payout["balance_transaction"],
        -nets,
        -nets,
        payout_id,
    )
    assert all(t["currency"] == "usd" and t["exchange_rate"] is None for t in txns)
    assert sandbox.balance() == {"usd": 0}

    # And payout.paid maps to PayoutPaid; with nothing left, there is nothing to pay out
    [paid] = hub.of_type("payout.paid")
    event = mapped(paid)
    assert isinstance(event, PayoutPaid)
    assert (event.payoutId, event.amount, event.balanceTransactionId) == (
        payout_id,
        Money.of(nets, "USD"),
        payout["balance_transaction"],
    )
    with pytest.raises(ValueError):
        sandbox.create_payout()


def test_jpy_amounts_stay_exact_and_each_currency_pays_out_alone(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a payment in JPY, partly refunded, and one in USD
    jpy = captured(stripe, sandbox, 12345, "JPY")
    captured(stripe, sandbox, 5000, "USD")
    result = refund(stripe, jpy, Money.of(345, "JPY"), "refund:jpy")
    assert result.amount == Money.of(345, "JPY")

    # When Stripe pays out (one payout per currency)
    with pytest.raises(ValueError, match="create_payouts"):
        sandbox.create_payout()
    payouts = control(sandbox.url, "POST", "/_sandbox/payouts/every_currency", {})["data"]
    for payout in payouts:
        sandbox.wait_for_reconciliation(payout["id"])
    sandbox.wait_for_webhooks()

    # Then the JPY payout is 12,345 - fee(12,345) - 345 yen, to the yen
    by_currency = {p["currency"]: p for p in payouts}
    assert sorted(by_currency) == ["jpy", "usd"]
    assert processing_fee(12345) == 388
    assert by_currency["jpy"]["amount"] == 12345 - 388 - 345 == 11612
    assert by_currency["usd"]["amount"] == 5000 - processing_fee(5000)
    txns = list(stripe.list_balance_transactions(payout_id=by_currency["jpy"]["id"]))
    assert sorted((t["type"], t["amount"], t["net"]) for t in txns) == [
        ("charge", 12345, 11957),
        ("payout", -11612, -11612),
        ("refund", -345, -345),
    ]
    amounts = {mapped(e).amount for e in hub.of_type("payout.paid")}
    assert amounts == {Money.of(11612, "JPY"), Money.of(5000 - processing_fee(5000), "USD")}


def test_balance_transactions_page_by_ten_by_default(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given six payments and a payout of them (13 transactions with the payout's own)
    pis = [captured(stripe, sandbox, 1000 + i) for i in range(6)]
    for i, pi in enumerate(pis):
        refund(stripe, pi, Money.of(100, "USD"), f"refund:page:{i}")
    payout_id = sandbox.create_payout()
    sandbox.wait_for_reconciliation(payout_id)

    # When listed without a limit, Stripe's default page is 10
    request = urllib.request.Request(
        f"{sandbox.url}/v1/balance_transactions?payout={payout_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
        page = json.loads(response.read())
    assert (len(page["data"]), page["has_more"]) == (10, True)
    assert len(list(stripe.list_balance_transactions(payout_id=payout_id))) == 13
    assert [t["id"] for t in stripe.list_balance_transactions(payout_id=payout_id, page_size=4)] == [
        t["id"] for t in reversed(sandbox.balance_transactions())
    ]


def test_a_payout_is_deposited_only_once_stripe_has_reconciled_it(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given two captured payments applied in the ERP, and Stripe slow to reconcile its next payout
    pis = [captured(stripe, sandbox, amount) for amount in (10000, 2550)]
    books = Books()
    for pi, amount in zip(pis, (10000, 2550), strict=True):
        books.apply_customer_payment(f"pay-{pi}", amount=Money.of(amount, "USD"))
    control(sandbox.url, "POST", "/_sandbox/payouts/reconciliation/hold", {})

    # When the payout is paid
    payout_id = sandbox.create_payout("usd")
    sandbox.wait_for_webhooks()

    # Then payout.paid says Stripe is still reconciling, its list is not complete yet, and the hub does
    # not deposit (it would not tie out): it waits
    [paid] = hub.of_type("payout.paid")
    assert (paid["data"]["object"]["reconciliation_status"], paid["data"]["object"]["automatic"]) == (
        "in_progress",
        True,
    )
    assert mapped(paid).reconciliationStatus == "in_progress"
    assert [t["type"] for t in stripe.list_balance_transactions(payout_id=payout_id)] == ["payout"]
    with pytest.raises(PayoutNotReconciled):
        deposit_payout(books, stripe, payout_id, "1")
    assert books.deposits == {}

    # And once Stripe has reconciled it (payout.reconciliation_completed), the deposit equals the payout
    done = control(sandbox.url, "POST", f"/_sandbox/payouts/{payout_id}/reconcile", {})
    assert done["reconciliation_status"] == "completed"
    sandbox.wait_for_webhooks()
    [reconciled] = hub.of_type("payout.reconciliation_completed")
    event = mapped(reconciled)
    assert isinstance(event, PayoutReconciled) and event.payoutId == payout_id
    assert reconciled["data"]["previous_attributes"] == {"reconciliation_status": "in_progress"}
    booked = deposit_payout(books, stripe, payout_id, "1")
    assert booked["amount"] == {"amount": done["amount"], "currency": "USD"} and booked["payments"] == 2
    assert control(sandbox.url, "POST", "/_sandbox/payouts/reconciliation/release", {})["completed"] == []


def test_without_a_hold_stripe_reconciles_a_payout_a_little_after_paying_it(
    stripe: StripePayments, sandbox: StripeSandbox, hub: Hub
) -> None:
    captured(stripe, sandbox, 4200)
    payout_id = sandbox.create_payout()
    sandbox.wait_for_reconciliation(payout_id)
    sandbox.wait_for_webhooks()
    assert [e["type"] for e in hub.events if e["type"].startswith("payout.")] == [
        "payout.created",
        "payout.paid",
        "payout.reconciliation_completed",
    ]
    assert stripe.retrieve_payout(payout_id)["reconciliation_status"] == "completed"
    assert len(list(stripe.list_balance_transactions(payout_id=payout_id))) == 2


def raw_get(sandbox: StripeSandbox, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(sandbox.url + path, headers={"Authorization": f"Bearer {API_KEY}"})
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_manual_payout_is_refused_by_payout_filter_and_not_deposited(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given a payout requested by hand
    captured(stripe, sandbox, 5000)
    payout = control(sandbox.url, "POST", "/_sandbox/payouts", {"currency": "usd", "automatic": False})
    assert (payout["automatic"], payout["reconciliation_status"]) == (False, "not_applicable")

    # Then Stripe refuses to list its balance transactions by payout, as for any manual payout
    with pytest.raises(PermanentError) as refused:
        list(stripe.list_balance_transactions(payout_id=payout["id"]))
    assert (refused.value.status, refused.value.code) == (400, None)
    status, body = raw_get(sandbox, f"/v1/balance_transactions?payout={payout['id']}")
    assert (status, body["error"]["type"], body["error"]["param"]) == (400, "invalid_request_error", "payout")
    assert "can only be filtered on automatic transfers, not manual" in body["error"]["message"]

    # And the hub refuses it with a clear reason rather than failing on Stripe's 400
    with pytest.raises(ManualPayout, match="made by hand"):
        deposit_payout(Books(), stripe, payout["id"], "1")
