"""Stripe's ``expand[]`` in the Stripe sandbox, as Stripe documents it (https://docs.stripe.com/expand): an
expandable id replaced by its object, recursively after a dot, ``data.`` on lists, at most four levels, and
anything else refused with Stripe's ``invalid_request_error`` before the request runs. Which fields are
expandable is Stripe's contract (``vendor-specs/stripe/stripe-contract.json``: fields typed ``expandable``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox, processing_fee
from shared.money import Money
from shared.order_to_cash.bookings import deposit_payout
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import STRIPE_API_KEY
from tests.connectors.test_stripe_after_sale import Books, captured, refund


def get(sandbox: StripeSandbox, path: str, *expand: str, **query: str) -> tuple[int, Any]:
    form = [*query.items(), *(("expand[]", e) for e in expand)]
    request = urllib.request.Request(f"{sandbox.url}{path}?{urlencode(form)}", method="GET")
    request.add_header("Authorization", f"Bearer {STRIPE_API_KEY}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post(sandbox: StripeSandbox, path: str, form: list[tuple[str, str]], key: str) -> tuple[int, Any]:
    request = urllib.request.Request(sandbox.url + path, data=urlencode(form).encode(), method="POST")
    request.add_header("Authorization", f"Bearer {STRIPE_API_KEY}")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Idempotency-Key", key)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_charge_expands_its_balance_transaction_and_a_payment_intent_its_charge_and_beyond(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given a captured payment
    pi_id = captured(stripe, sandbox, 2500)
    status, plain = get(sandbox, f"/v1/payment_intents/{pi_id}")
    charge_id = plain["latest_charge"]
    assert status == 200 and isinstance(charge_id, str)

    # When its charge is read with its balance transaction expanded
    status, charge = get(sandbox, f"/v1/charges/{charge_id}", "balance_transaction")

    # Then the id is replaced by the balance transaction itself, as GET returns it
    assert status == 200
    txn = charge["balance_transaction"]
    assert txn == get(sandbox, f"/v1/balance_transactions/{txn['id']}")[1]
    assert (txn["object"], txn["source"], txn["amount"]) == ("balance_transaction", charge_id, 2500)
    assert isinstance(charge["payment_intent"], str)  # what was not asked for stays an id

    # And a PaymentIntent read expands its charge, and that charge's balance transaction, in one request
    status, intent = get(
        sandbox, f"/v1/payment_intents/{pi_id}", "latest_charge.balance_transaction", "customer"
    )
    assert status == 200
    assert intent["latest_charge"]["id"] == charge_id
    assert intent["latest_charge"]["balance_transaction"] == txn
    assert intent["customer"]["object"] == "customer"


def test_a_refund_expands_its_balance_transaction_and_its_charge(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    pi_id = captured(stripe, sandbox, 4000)
    made = refund(stripe, pi_id, Money.of(1000, "USD"), "expand:refund")

    status, found = get(sandbox, f"/v1/refunds/{made.id}", "balance_transaction", "charge", "payment_intent")

    assert status == 200
    assert found["balance_transaction"]["object"] == "balance_transaction"
    assert (found["balance_transaction"]["type"], found["balance_transaction"]["amount"]) == ("refund", -1000)
    assert found["charge"]["object"] == "charge" and found["charge"]["amount_refunded"] == 1000
    assert found["payment_intent"]["id"] == pi_id


def test_a_payouts_balance_transactions_expand_their_sources_with_data_prefix(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given two payments and a refund paid out
    pis = [captured(stripe, sandbox, amount) for amount in (1000, 2000)]
    made = refund(stripe, pis[0], Money.of(300, "USD"), "expand:payout-refund")
    payout_id = sandbox.create_payout()
    sandbox.wait_for_reconciliation(payout_id)

    # When its balance transactions are listed with data.source expanded
    status, page = get(sandbox, "/v1/balance_transactions", "data.source", payout=payout_id, limit="100")

    # Then every source is its object: charges (with their payment_intent), the refund, the payout
    assert status == 200 and page["object"] == "list"
    sources: dict[str, list[dict[str, Any]]] = {txn["type"]: [] for txn in page["data"]}
    for txn in page["data"]:
        assert isinstance(txn["source"], dict) and txn["source"]["object"] == txn["type"]
        sources[txn["type"]].append(txn["source"])
    assert sorted(c["payment_intent"] for c in sources["charge"]) == sorted(pis)
    assert [r["id"] for r in sources["refund"]] == [made.id]
    assert [p["id"] for p in sources["payout"]] == [payout_id]

    # And two levels further on the same list: each charge's PaymentIntent
    status, deeper = get(sandbox, "/v1/balance_transactions", "data.source.payment_intent", payout=payout_id)
    charges = [t["source"] for t in deeper["data"] if t["type"] == "charge"]
    assert status == 200 and sorted(c["payment_intent"]["id"] for c in charges) == sorted(pis)


@pytest.mark.parametrize(
    ("path", "expand", "message"),
    [
        # not a field of the object
        ("/v1/payouts/{payout}", "invented", "This property cannot be expanded (invented)."),
        # a field that holds no id (Stripe's reply to expanding metadata)
        ("/v1/payouts/{payout}", "metadata", "This property cannot be expanded (metadata)."),
        ("/v1/payouts/{payout}", "amount", "This property cannot be expanded (amount)."),
        # expandable at the first level, not at the second
        (
            "/v1/charges/{charge}",
            "balance_transaction.fee",
            "This property cannot be expanded (balance_transaction.fee).",
        ),
        # a list's items are reached through data, and Stripe says so
        (
            "/v1/balance_transactions",
            "source",
            "This property cannot be expanded (source). You may want to try expanding 'data.source' instead.",
        ),
        ("/v1/balance_transactions", "data", "This property cannot be expanded (data)."),
        # a single object has no data
        ("/v1/charges/{charge}", "data.customer", "This property cannot be expanded (data.customer)."),
        # five levels
        (
            "/v1/balance_transactions",
            "data.source.payment_intent.latest_charge.customer",
            "You cannot expand more than 4 levels of a property.",
        ),
    ],
)
def test_what_stripe_cannot_expand_is_refused_with_stripes_error(
    stripe: StripePayments, sandbox: StripeSandbox, path: str, expand: str, message: str
) -> None:
    pi_id = captured(stripe, sandbox, 1500)
    charge_id = get(sandbox, f"/v1/payment_intents/{pi_id}")[1]["latest_charge"]
    payout_id = sandbox.create_payout()
    url = path.format(payout=payout_id, charge=charge_id)
    query = {"payout": payout_id} if path == "/v1/balance_transactions" else {}

    status, body = get(sandbox, url, expand, **query)

    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == message


def test_an_expanded_create_is_expanded_and_a_refused_expand_runs_nothing(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    pi_id = captured(stripe, sandbox, 3000)
    before = len(sandbox.refunds())
    refund_form = [("payment_intent", pi_id), ("amount", "500")]

    # a create with an invalid expand is refused before it runs: no refund, nothing stored under the key
    status, body = post(sandbox, "/v1/refunds", [*refund_form, ("expand[]", "reason")], "expand:create")
    assert status == 400 and body["error"]["message"] == "This property cannot be expanded (reason)."
    assert len(sandbox.refunds()) == before

    # the same key with a valid expand then runs once, expanded, and its replay is the same reply
    form = [*refund_form, ("expand[]", "charge")]
    status, created = post(sandbox, "/v1/refunds", form, "expand:create")
    assert status == 200 and created["charge"]["object"] == "charge"
    assert post(sandbox, "/v1/refunds", form, "expand:create") == (200, created)
    assert len(sandbox.refunds()) == before + 1


# --- the connector gets what it needs in one request ---------------------------------------------------------


def test_a_payout_is_deposited_from_two_stripe_reads_whatever_the_number_of_payments(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given three payments applied in the ERP, paid out and reconciled
    pis = [captured(stripe, sandbox, amount) for amount in (10000, 2550, 730)]
    books = Books()
    for pi, amount in zip(pis, (10000, 2550, 730), strict=True):
        books.apply_customer_payment(f"pay-{pi}", amount=Money.of(amount, "USD"))
    payout_id = sandbox.create_payout("usd")
    sandbox.wait_for_reconciliation(payout_id)
    since = len(sandbox.api_calls)

    # When the hub deposits it
    booked = deposit_payout(books, stripe, payout_id, "1")

    # Then each payment is applied, from the payout and one page of its transactions with their charges
    assert booked["payments"] == 3
    applied = books.deposits[f"dep-{payout_id}"]["payments"]
    assert sorted(amount.amount for _, amount in applied) == sorted((10000, 2550, 730))
    fees = sum(processing_fee(a) for a in (10000, 2550, 730))
    assert booked["fees"] == Money.of(fees, "USD").dump()
    calls = sandbox.api_calls[since:]
    assert [
        (c["method"], c["path"].rsplit("/", 1)[0] if "po_" in c["path"] else c["path"]) for c in calls
    ] == [
        ("GET", "/v1/payouts"),
        ("GET", "/v1/balance_transactions"),
    ]


def test_how_a_payment_settled_is_one_read(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    pi_id = captured(stripe, sandbox, 1000, "JPY")
    since = len(sandbox.api_calls)

    settlement = stripe.settlement_of(pi_id)

    assert settlement is not None and settlement.charged == Money.of(1000, "JPY")
    assert settlement.settled == Money.of(1000, "JPY") and settlement.fee.currency == "JPY"
    assert [(c["method"], c["path"]) for c in sandbox.api_calls[since:]] == [
        ("GET", f"/v1/payment_intents/{pi_id}")
    ]
