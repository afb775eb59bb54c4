"""Multi-currency settlement, over HTTP against the Stripe and NetSuite sandboxes: Stripe converts a JPY
charge into the USD balance at its exchange rate (with a conversion fee), refunds and lost disputes at the
rate of their day, a USD payout carries the converted charges; NetSuite records the payment with Stripe's
rate and deposits it into a USD deposit at its base-currency amount — to the cent."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from localcloud.sandboxes.netsuite import NetSuiteSandbox
from localcloud.sandboxes.stripe import StripeSandbox
from shared.money import Money, convert, from_major
from shared.outbound import InvalidRecord
from shared.outbound.netsuite import ErpRef, NetSuiteErp, OrderLine, dumps
from shared.outbound.stripe_payments import Settlement, StripePayments
from tests.connectors.conftest import (
    FakeSleep,
    control,
)
from tests.connectors.test_netsuite_after_sale import after_sale_erp
from tests.connectors.test_netsuite_connector import new_sandbox
from tests.connectors.test_stripe_after_sale import LINKS, captured, customer


@pytest.fixture
def netsuite() -> Iterator[NetSuiteSandbox]:
    with new_sandbox() as ns:
        yield ns  # type: ignore[misc]


_keys = itertools.count(1)


def usd(value: str) -> Money:
    return from_major(value, "USD")


def jpy(value: str) -> Money:
    return from_major(value, "JPY")


def settle(sandbox: StripeSandbox, currency: str, into: str | None, rate: str | None) -> dict[str, object]:
    """Change the sandbox's settlement over its control endpoint, as another process would."""
    reply: dict[str, object] = control(
        sandbox.url, "POST", "/_sandbox/settlement", {"currency": currency, "into": into, "rate": rate}
    )
    return reply


def authorized(stripe: StripePayments, sandbox: StripeSandbox, amount: Money) -> str:
    n = next(_keys)
    cus = customer(stripe)
    seti = stripe.create_setup_intent(customer_id=cus, metadata=LINKS, idempotency_key=f"fx-setup:{n}")
    pm = sandbox.complete_setup(seti["id"], "pm_card_visa")["payment_method"]
    auth = stripe.authorize(
        customer_id=cus, payment_method_id=pm, amount=amount, metadata=LINKS, idempotency_key=f"fx-auth:{n}"
    )
    assert auth.authorized
    return auth.payment_intent_id


def charge_of(stripe: StripePayments, payment_intent_id: str) -> dict[str, object]:
    latest = stripe.retrieve_payment_intent(payment_intent_id)["latest_charge"]
    return stripe.retrieve_charge(str(latest))


# --- Stripe: conversion into the settlement currency -------------------------------------------------------


def test_a_jpy_charge_settled_into_usd_books_usd_with_stripes_rate_and_a_conversion_fee(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given JPY settling into the USD balance at 0.0067
    assert settle(sandbox, "jpy", "usd", "0.0067") == {"data": {"jpy": {"into": "usd", "rate": "0.0067"}}}

    # When ¥1,000 is captured
    pi = captured(stripe, sandbox, 1000, "JPY")

    # Then the charge keeps its yen, and its balance transaction is 6.70 USD at Stripe's rate
    charge = charge_of(stripe, pi)
    assert (charge["amount"], charge["amount_captured"], charge["currency"]) == (1000, 1000, "jpy")
    txn = stripe.retrieve_balance_transaction(str(charge["balance_transaction"]))
    assert (txn["type"], txn["source"], txn["amount"], txn["currency"]) == (
        "charge",
        charge["id"],
        670,
        "usd",
    )
    assert txn["exchange_rate"] == 0.0067
    # processing fee 2.9% of 6.70 = 0.19 (+0.30) and a conversion fee of 1% of 6.70 = 0.07, both in USD
    assert [(f["description"], f["amount"], f["currency"], f["type"]) for f in txn["fee_details"]] == [
        ("Stripe processing fees", 49, "usd", "stripe_fee"),
        ("Currency conversion fee", 7, "usd", "stripe_fee"),
    ]
    assert (txn["fee"], txn["net"]) == (56, 614)
    assert sandbox.balance() == {"usd": 614}

    # And a USD charge still settles in itself, without a conversion fee
    plain = charge_of(stripe, captured(stripe, sandbox, 1000, "USD"))
    own = stripe.retrieve_balance_transaction(str(plain["balance_transaction"]))
    assert (own["amount"], own["currency"], own["exchange_rate"], own["fee"]) == (1000, "usd", None, 59)
    assert len(own["fee_details"]) == 1


def test_settlement_of_reads_the_charge_as_charged_and_as_settled(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given JPY settling into USD, and an authorized, not yet captured ¥1,000
    sandbox.settle_into("JPY", "USD", "0.0067")
    pi = authorized(stripe, sandbox, jpy("1000"))

    # Then nothing has settled yet
    assert stripe.settlement_of(pi) is None

    # When it is captured
    assert stripe.capture(payment_intent_id=pi, idempotency_key=f"fx-capture:{pi}") == "succeeded"

    # Then its settlement is ¥1,000 charged, 6.70 USD settled at 0.0067, 0.56 USD fees
    settlement = stripe.settlement_of(pi)
    assert settlement == Settlement(
        charged=jpy("1000"),
        settled=usd("6.70"),
        exchange_rate=Decimal("0.0067"),
        fee=usd("0.56"),
        balance_transaction_id=str(charge_of(stripe, pi)["balance_transaction"]),
    )
    assert settlement.net == usd("6.14")

    # And a charge settled in its own currency has no rate
    sandbox.settle_into("jpy", None, None)
    own = stripe.settlement_of(captured(stripe, sandbox, 2500, "JPY"))
    assert own is not None
    assert (own.charged, own.settled, own.exchange_rate, own.fee) == (
        jpy("2500"),
        jpy("2500"),
        None,
        jpy("103"),
    )


def test_refunds_and_lost_disputes_convert_at_the_rate_of_their_day(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given ¥1,000 captured at 0.0067 (6.70 USD) and ¥2,000 at 0.0067 (13.40 USD)
    settle(sandbox, "jpy", "usd", "0.0067")
    refunded = captured(stripe, sandbox, 1000, "JPY")
    disputed = captured(stripe, sandbox, 2000, "JPY")

    # When the rate moves to 0.0070, ¥400 is refunded and the other charge is lost to a dispute
    settle(sandbox, "jpy", "usd", "0.0070")
    refund = stripe.create_refund(
        payment_intent_id=refunded, amount=jpy("400"), metadata={}, idempotency_key="fx-refund:1"
    )
    dispute_id = sandbox.open_dispute(str(charge_of(stripe, disputed)["id"]), "fraudulent")
    sandbox.settle_into("jpy", "usd", Decimal("0.0071"))
    sandbox.close_dispute(dispute_id, "lost")

    # Then the refund is ¥400 to the customer and 2.80 USD (not 2.68) out of the USD balance
    assert (refund.amount, refund.succeeded) == (jpy("400"), True)
    [txn] = [t for t in sandbox.balance_transactions() if t["source"] == refund.id]
    assert (txn["amount"], txn["currency"], txn["exchange_rate"], txn["fee"]) == (-280, "usd", 0.007, 0)
    # And the dispute takes 14.20 USD (¥2,000 at the rate when it was lost) plus a 15.00 USD dispute fee
    [adjustment] = [t for t in sandbox.balance_transactions() if t["source"] == dispute_id]
    assert (adjustment["amount"], adjustment["currency"], adjustment["exchange_rate"]) == (
        -1420,
        "usd",
        0.0071,
    )
    assert (adjustment["fee"], adjustment["fee_details"][0]["currency"]) == (1500, "usd")
    assert sandbox.disputes()[0]["currency"] == "jpy" and sandbox.disputes()[0]["amount"] == 2000
    # And nothing was ever booked in yen
    assert set(sandbox.balance()) == {"usd"}


def test_a_refund_after_the_conversion_ended_comes_out_of_the_balance_the_charge_went_to(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given ¥1,000 settled into USD at 0.0067, then JPY settling in itself again
    settle(sandbox, "jpy", "usd", "0.0067")
    pi = captured(stripe, sandbox, 1000, "JPY")
    assert settle(sandbox, "jpy", "jpy", "0.0067") == {"data": {}}

    # When it is refunded in full
    refund = stripe.create_refund(
        payment_intent_id=pi, amount=None, metadata={}, idempotency_key="fx-refund:2"
    )

    # Then the refund leaves the USD balance at the charge's own rate; a new JPY charge stays in yen
    [txn] = [t for t in sandbox.balance_transactions() if t["source"] == refund.id]
    assert (txn["amount"], txn["currency"], txn["exchange_rate"]) == (-670, "usd", 0.0067)
    later = charge_of(stripe, captured(stripe, sandbox, 500, "JPY"))
    assert stripe.retrieve_balance_transaction(str(later["balance_transaction"]))["currency"] == "jpy"


def test_a_usd_payout_carries_the_converted_charges_and_equals_their_nets(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given a 10.00 USD charge, ¥1,000 and ¥2,500 converted at 0.0067, and ¥400 of the first refunded
    settle(sandbox, "jpy", "usd", "0.0067")
    captured(stripe, sandbox, 1000, "USD")  # 10.00 - 0.59 = 9.41
    first = captured(stripe, sandbox, 1000, "JPY")  # 6.70 - 0.49 - 0.07 = 6.14
    captured(stripe, sandbox, 2500, "JPY")  # 16.75 - 0.79 - 0.17 = 15.79
    stripe.create_refund(
        payment_intent_id=first, amount=jpy("400"), metadata={}, idempotency_key="fx-r:3"
    )  # -2.68

    # When the USD balance is paid out
    payout_id = control(sandbox.url, "POST", "/_sandbox/payouts", {"currency": "usd"})["id"]
    sandbox.wait_for_reconciliation(payout_id)

    # Then the payout holds every one of them, converted ones included, and is the sum of their nets
    payout = stripe.retrieve_payout(payout_id)
    txns = [t for t in stripe.list_balance_transactions(payout_id=payout_id) if t["type"] != "payout"]
    assert sorted((t["type"], t["amount"], t["exchange_rate"]) for t in txns) == [
        ("charge", 670, 0.0067),
        ("charge", 1000, None),
        ("charge", 1675, 0.0067),
        ("refund", -268, 0.0067),
    ]
    assert (payout["amount"], payout["currency"]) == (941 + 614 + 1579 - 268, "usd")
    assert payout["amount"] == sum(t["net"] for t in txns)
    assert sandbox.balance() == {"usd": 0}


@pytest.mark.parametrize(
    ("charged", "into", "rate", "settled"),
    [
        (Money.of(1000, "JPY"), "usd", "0.0067", Money.of(670, "USD")),  # ¥1,000 -> 6.70 USD
        (Money.of(1000, "USD"), "jpy", "150.5", Money.of(1505, "JPY")),  # 10.00 USD -> ¥1,505
        (Money.of(1000, "USD"), "kwd", "0.307", Money.of(3070, "KWD")),  # 10.00 USD -> 3.070 KWD
        (Money.of(1000, "KWD"), "usd", "3.25", Money.of(325, "USD")),  # 1.000 KWD -> 3.25 USD
    ],
    ids=["jpy-usd", "usd-jpy", "usd-kwd", "kwd-usd"],
)
def test_stripes_exchange_rate_is_between_major_units_whatever_the_decimals(
    stripe: StripePayments, sandbox: StripeSandbox, charged: Money, into: str, rate: str, settled: Money
) -> None:
    """Stripe's ``exchange_rate`` converts whole units to whole units (docs/stripe-exchange-rate.md): a
    rate applied to the smallest units would make ¥1,000 at 0.0067 either 0.07 USD or 670.00 USD."""
    # Given the charge's currency settling into another at Stripe's rate
    sandbox.settle_into(charged.currency.lower(), into, rate)

    # When it is captured
    settlement = stripe.settlement_of(captured(stripe, sandbox, charged.amount, charged.currency))

    # Then Stripe (the sandbox, from its own currency table) settled the major-unit conversion
    assert settlement is not None
    assert settlement.exchange_rate is not None
    assert (settlement.charged, settlement.settled, settlement.exchange_rate) == (
        charged,
        settled,
        Decimal(rate),
    )
    # And the hub, computing on its own, finds the same amount
    assert convert(charged, settlement.exchange_rate, settled.currency) == settled


def test_zero_decimal_currencies_stripe_counts_in_hundredths_convert_by_their_iso_value(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given ISK (Stripe amounts in hundredths: ISK 5,000 is 500000) settling into USD at 0.0072
    sandbox.settle_into("isk", "usd", 0.0072)

    # When ISK 5,000 is captured
    settlement = stripe.settlement_of(captured(stripe, sandbox, 5000, "ISK"))

    # Then it is 36.00 USD, not 3,600.00
    assert settlement is not None
    assert (settlement.charged, settlement.settled) == (Money.of(5000, "ISK"), usd("36.00"))


def test_the_settlement_control_refuses_a_rate_that_is_not_positive(sandbox: StripeSandbox) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        settle(sandbox, "jpy", "usd", "-1")
    assert refused.value.code == 400
    with pytest.raises(ValueError):
        sandbox.settle_into("jpy", "usd", "zero")
    assert sandbox.settlements() == {}


# --- NetSuite: exchange rates on transactions, foreign payments in deposits --------------------------------


def us_customer(connector: NetSuiteErp) -> ErpRef:
    return connector.upsert_customer(
        "hs-company-jp", company_name="Tanaka KK", email=None, subsidiary_id="1", currency="USD"
    )


def jpy_invoice(connector: NetSuiteErp, customer: ErpRef, external_id: str, price: str = "1000") -> ErpRef:
    return connector.upsert_renewal_invoice(
        external_id,
        customer_id=customer.id,
        subsidiary_id="1",
        currency="JPY",
        lines=[
            OrderLine(item_external_id="PLT-1", quantity=1, rate=jpy(price), amount=jpy(price), tax=jpy("0"))
        ],
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
    )


def jpy_payment(
    connector: NetSuiteErp, external_id: str, rate: Decimal | None, price: str = "1000"
) -> ErpRef:
    customer = us_customer(connector)
    invoice = jpy_invoice(connector, customer, f"in-{external_id}", price)
    return connector.apply_customer_payment(
        external_id,
        customer_id=customer.id,
        invoice_id=invoice.id,
        amount=jpy(price),
        currency="JPY",
        exchange_rate=rate,
    )


def test_a_jpy_payment_of_a_usd_subsidiary_keeps_the_rate_it_was_given(netsuite: NetSuiteSandbox) -> None:
    # Given an account whose own JPY→USD rate is 0.0069
    netsuite.set_exchange_rate("JPY", "USD", "0.0069")
    connector = after_sale_erp(netsuite)

    # When a ¥1,000 payment by a customer of the US subsidiary is recorded with Stripe's rate 0.0067
    payment = jpy_payment(connector, "pi_jpy_1", Decimal("0.0067"))

    # Then it reads back in yen at Stripe's rate, not yet deposited
    read = connector.customer_payment("pi_jpy_1")
    assert read is not None
    assert (read.id, read.external_id, read.amount) == (payment.id, "pi_jpy_1", jpy("1000"))
    assert read.exchange_rate == Decimal("0.0067") and read.deposited is False
    assert netsuite.record("customerPayment", payment.id)["subsidiary"]["id"] == "1"
    # (sent as a JSON number with exactly its digits)
    assert dumps({"exchangeRate": Decimal("0.0067")}) == b'{"exchangeRate":0.0067}'

    # And the JPY invoice, written without a rate, took the account's
    invoice = connector.get_by_external_id("invoice", "in-pi_jpy_1")
    assert invoice is not None and invoice["exchangeRate"] == Decimal("0.0069")
    assert connector.customer_payment("pi_unknown") is None


def test_without_a_rate_a_payment_takes_the_accounts_and_in_the_base_currency_it_is_one(
    netsuite: NetSuiteSandbox,
) -> None:
    connector = after_sale_erp(netsuite)

    # A JPY payment of the US subsidiary without a rate: the account's JPY→USD rate (0.0067 by default)
    jpy_payment(connector, "pi_jpy_2", None)
    read = connector.customer_payment("pi_jpy_2")
    assert read is not None and read.exchange_rate == Decimal("0.0067")

    # A USD payment of the same customer: 1, whatever rate comes with it
    customer = us_customer(connector)
    invoice = connector.upsert_renewal_invoice(
        "in-usd-1", customer_id=customer.id, subsidiary_id="1", currency="USD",
        lines=[OrderLine(item_external_id="PLT-1", quantity=1, rate=usd("9.99"), amount=usd("9.99"), tax=usd("0"))],
        period_start=date(2025, 1, 1), period_end=date(2025, 2, 1),
    )  # fmt: skip
    connector.apply_customer_payment(
        "pi_usd_1", customer_id=customer.id, invoice_id=invoice.id, amount=usd("9.99"), currency="USD",
        exchange_rate=Decimal("1.08"),
    )  # fmt: skip
    same = connector.customer_payment("pi_usd_1")
    assert same is not None and (same.amount, same.exchange_rate) == (usd("9.99"), Decimal(1))

    # And once the account knows no JPY→USD rate, a JPY payment without one is refused, nothing applied
    invoice = jpy_invoice(connector, customer, "in-jpy-3")
    netsuite.set_exchange_rate("JPY", "USD", None)
    with pytest.raises(InvalidRecord) as refused:
        connector.apply_customer_payment(
            "pi_jpy_3", customer_id=customer.id, invoice_id=invoice.id, amount=jpy("1000"), currency="JPY"
        )
    assert refused.value.code == "INVALID_FLD_VALUE"
    assert connector.customer_payment("pi_jpy_3") is None
    assert netsuite.record("invoice", invoice.id)["amountRemaining"] == Decimal("1000")


def test_a_rate_that_is_not_positive_is_refused(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    with pytest.raises(ValueError):
        jpy_payment(connector, "pi_jpy_4", Decimal("0"))
    customer = us_customer(connector)
    invoice = jpy_invoice(connector, customer, "in-raw")
    with pytest.raises(InvalidRecord) as refused:  # straight to NetSuite, past the connector's check
        connector._http.request(
            "PUT",
            "/services/rest/record/v1/customerPayment/eid:pi_raw",
            json={
                "customer": {"id": customer.id}, "currency": {"id": "5"}, "payment": 1000,
                "exchangeRate": Decimal("-0.0067"),
                "apply": {"items": [{"doc": {"id": invoice.id}, "apply": True, "amount": 1000}]},
            },
        )  # fmt: skip
    assert refused.value.code == "INVALID_FLD_VALUE"
    assert netsuite.records("customerPayment") == []


def test_a_jpy_payment_is_deposited_into_usd_at_its_base_currency_amount_only(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a ¥1,000 payment recorded at 0.0067 (6.70 USD)
    connector = after_sale_erp(netsuite)
    payment = jpy_payment(connector, "pi_jpy_5", Decimal("0.0067"))

    # When it is deposited into USD at 6.71 USD, it is refused and stays undeposited
    with pytest.raises(InvalidRecord) as refused:
        connector.upsert_deposit(
            "po_fx_bad", subsidiary_id="1", currency="USD", account_id=None,
            payments=[(payment.id, usd("6.71"))], other=[], total=usd("6.71"),
        )  # fmt: skip
    assert refused.value.detail is not None and "6.70 USD" in refused.value.detail
    assert netsuite.records("deposit") == []

    # When it is deposited at 6.70 USD less 0.56 USD fees
    deposit = connector.upsert_deposit(
        "po_fx_1", subsidiary_id="1", currency="USD", account_id=None,
        payments=[(payment.id, usd("6.70"))], other=[("Stripe fees", usd("-0.56"))], total=usd("6.14"),
    )  # fmt: skip

    # Then the deposit is 6.14 USD, holding the payment at 6.70 USD, and the payment is deposited
    [record] = netsuite.records("deposit")
    assert record["id"] == deposit.id and record["total"] == Decimal("6.14")
    assert [(p["id"], p["paymentAmount"]) for p in record["payment"]["items"]] == [
        (payment.id, Decimal("6.70"))
    ]
    assert record["exchangeRate"] == 1
    read = connector.customer_payment("pi_jpy_5")
    assert read is not None and read.deposited is True


def test_a_payment_is_not_deposited_into_a_currency_that_is_not_its_subsidiarys_base(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a EUR payment of a customer of the German subsidiary (base EUR)
    connector = after_sale_erp(netsuite)
    customer = connector.upsert_customer(
        "hs-company-de", company_name="Acme GmbH", email=None, subsidiary_id="2", currency="EUR"
    )
    invoice = connector.upsert_renewal_invoice(
        "in-eur-1", customer_id=customer.id, subsidiary_id="2", currency="EUR",
        lines=[OrderLine(item_external_id="PLT-1", quantity=1, rate=from_major("10.00", "EUR"),
                         amount=from_major("10.00", "EUR"), tax=from_major("0", "EUR"))],
        period_start=date(2025, 1, 1), period_end=date(2025, 2, 1),
    )  # fmt: skip
    payment = connector.apply_customer_payment(
        "pi_eur_1", customer_id=customer.id, invoice_id=invoice.id, amount=from_major("10.00", "EUR"),
        currency="EUR",
    )  # fmt: skip
    read = connector.customer_payment("pi_eur_1")
    assert read is not None and read.exchange_rate == 1

    # When it is deposited into USD at its USD value (10.00 EUR x 1.08), it is refused all the same
    with pytest.raises(InvalidRecord) as refused:
        connector.upsert_deposit(
            "po_fx_eur", subsidiary_id="1", currency="USD", account_id=None,
            payments=[(payment.id, usd("10.80"))], other=[], total=usd("10.80"),
        )  # fmt: skip
    assert refused.value.detail is not None and "in another currency" in refused.value.detail
    assert netsuite.records("deposit") == []


def test_a_payment_with_a_rate_whose_reply_timed_out_is_written_once(netsuite: NetSuiteSandbox) -> None:
    # Given NetSuite committing the payment but answering too late
    sleep = FakeSleep()
    connector = after_sale_erp(netsuite, sleep, timeout_s=0.2)
    customer = us_customer(connector)
    invoice = jpy_invoice(connector, customer, "in-slow")
    netsuite.commit_then_timeout_next(1, delay_s=0.45)

    # When the payment is recorded (the upsert is retried)
    connector.apply_customer_payment(
        "pi_slow", customer_id=customer.id, invoice_id=invoice.id, amount=jpy("1000"), currency="JPY",
        exchange_rate=Decimal("0.0068"),
    )  # fmt: skip

    # Then there is one payment, at that rate, and the invoice is paid once
    [record] = netsuite.records("customerPayment")
    assert record["exchangeRate"] == Decimal("0.0068") and len(sleep.waits) == 1
    assert netsuite.record("invoice", invoice.id)["amountRemaining"] == 0


# --- end to end: Stripe's rate in NetSuite, the USD payout deposited to the cent ----------------------------


def test_a_jpy_charge_settled_in_usd_is_deposited_to_the_cent(
    stripe: StripePayments, sandbox: StripeSandbox, netsuite: NetSuiteSandbox
) -> None:
    # Given ¥12,345 charged and settled into USD at 0.00671 (82.83495 → 82.83 USD; fees 2.70 + 0.83)
    sandbox.settle_into("jpy", "usd", "0.00671")
    pi = captured(stripe, sandbox, 12345, "JPY")
    settlement = stripe.settlement_of(pi)
    assert settlement is not None and settlement.settled == usd("82.83")

    # When the hub records the payment with Stripe's rate and deposits the USD payout
    connector = after_sale_erp(netsuite)
    payment = jpy_payment(connector, pi, settlement.exchange_rate, price="12345")
    payout = stripe.retrieve_payout(sandbox.create_payout("usd"))
    total = Money.of(int(payout["amount"]), "USD")
    deposit = connector.upsert_deposit(
        f"dep-{payout['id']}", subsidiary_id="1", currency="USD", account_id=None,
        payments=[(payment.id, settlement.settled)], other=[("Stripe fees", Money.of(-settlement.fee.amount, "USD"))],
        total=total,
    )  # fmt: skip

    # Then NetSuite holds the payment at Stripe's rate and a deposit equal to the payout
    read = connector.customer_payment(pi)
    assert read is not None and read.exchange_rate == Decimal("0.00671") and read.deposited
    assert netsuite.record("deposit", deposit.id)["total"] == total.to_decimal() == Decimal("79.30")
