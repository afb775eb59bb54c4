"""Stripe Radar and wallet cards in the Stripe sandbox, read through the hub's connector: Stripe's Radar test
cards give the charge its risk level (https://docs.stripe.com/radar/testing), an elevated risk opens a review
(``GET /v1/reviews/{id}``, ``POST /v1/reviews/{id}/approve``), an early fraud warning is Stripe's
``radar.early_fraud_warning``; every object answered is walked against Stripe's contract
(``vendor-specs/stripe/stripe-contract.json``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.money import Money
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.test_stripe_shapes import API_KEY, _walk, call


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe",
        webhook_secret="whsec_x",
        api_key=API_KEY,
        webhook_delay_s=0,
    ) as sb:
        yield sb


def authorize(sandbox: StripeSandbox, card: str, *, wallet: str | None = None) -> Any:
    stripe = StripePayments(lambda: API_KEY, base_url=sandbox.url)
    customer = stripe.ensure_customer(
        erp_customer_id="C-1", crm_account_id="A-1", name="Acme", email=None, idempotency_key=f"cus:{card}"
    )
    seti = stripe.create_setup_intent(
        customer_id=customer, metadata={}, idempotency_key=f"seti:{card}:{wallet}"
    )
    if wallet:
        pm = sandbox.save_wallet_card(seti["id"], wallet, card)["payment_method"]
    else:
        pm = stripe.confirm_setup_intent(
            setup_intent_id=seti["id"], payment_method_id=card, idempotency_key=f"confirm:{seti['id']}"
        ).payment_method_id
    return stripe.authorize(
        customer_id=customer,
        payment_method_id=pm,
        amount=Money.of(5000, "USD"),
        metadata={"o2c_opportunity_id": "D-1"},
        idempotency_key=f"authorize:{seti['id']}",
    )


def contract_problems(objects: list[dict[str, Any]]) -> list[str]:
    problems: set[str] = set()
    for obj in objects:
        _walk(obj, obj.get("object"), obj.get("object") or "?", problems)
    return sorted(problems)


@pytest.mark.parametrize(
    ("card", "level", "score", "reviewed"),
    [
        ("pm_card_visa", "normal", 12, False),
        ("pm_card_riskLevelElevated", "elevated", 67, True),
        ("pm_card_riskLevelHighest", "highest", 83, False),
    ],
)
def test_radars_test_cards_give_the_authorization_its_risk(
    sandbox: StripeSandbox, card: str, level: str, score: int, reviewed: bool
) -> None:
    result = authorize(sandbox, card)

    assert result.authorized
    assert (result.risk_level, result.risk_score, bool(result.review_id), result.wallet) == (
        level,
        score,
        reviewed,
        None,
    )
    charge = sandbox.charge(sandbox.payment_intent(result.payment_intent_id)["latest_charge"])
    assert charge["outcome"]["type"] == ("manual_review" if reviewed else "authorized")
    assert charge["outcome"]["reason"] == ("elevated_risk_level" if reviewed else None)


def test_a_review_is_stripes_object_approved_once_and_sent_as_events(sandbox: StripeSandbox) -> None:
    result = authorize(sandbox, "pm_card_riskLevelElevated")
    review = call(sandbox, "GET", f"/v1/reviews/{result.review_id}")
    assert (review["open"], review["opened_reason"], review["payment_intent"]) == (
        True,
        "rule",
        result.payment_intent_id,
    )

    approved = call(sandbox, "POST", f"/v1/reviews/{result.review_id}/approve")
    again = call(sandbox, "POST", f"/v1/reviews/{result.review_id}/approve")

    assert (approved["open"], approved["closed_reason"], approved["reason"]) == (
        False,
        "approved",
        "approved",
    )
    assert again["error"]["type"] == "invalid_request_error"
    assert call(sandbox, "GET", "/v1/reviews/prv_nothing")["error"]["code"] == "resource_missing"
    types = [e["type"] for e in sandbox.events()]
    assert types.count("review.opened") == 1 and types.count("review.closed") == 1
    assert contract_problems([review, approved, *sandbox.events()]) == []


def test_a_review_closed_as_fraud_cancels_the_uncaptured_payment(sandbox: StripeSandbox) -> None:
    result = authorize(sandbox, "pm_card_riskLevelElevated")

    closed = sandbox.close_review(str(result.review_id), "refunded_as_fraud")

    assert closed["closed_reason"] == "refunded_as_fraud"
    intent = sandbox.payment_intent(result.payment_intent_id)
    assert (intent["status"], intent["cancellation_reason"]) == ("canceled", "fraudulent")


def test_an_early_fraud_warning_is_actionable_until_the_charge_is_refunded(sandbox: StripeSandbox) -> None:
    stripe = StripePayments(lambda: API_KEY, base_url=sandbox.url)
    result = authorize(sandbox, "pm_card_visa")
    stripe.capture(payment_intent_id=result.payment_intent_id, idempotency_key="capture")
    charge = sandbox.payment_intent(result.payment_intent_id)["latest_charge"]

    first = call(
        sandbox, "GET", f"/v1/radar/early_fraud_warnings/{sandbox.create_early_fraud_warning(charge)}"
    )
    stripe.create_refund(
        payment_intent_id=result.payment_intent_id, amount=None, metadata={}, idempotency_key="refund"
    )
    second = sandbox.create_early_fraud_warning(charge, "misc")

    assert (first["actionable"], first["charge"], first["payment_intent"]) == (
        True,
        charge,
        result.payment_intent_id,
    )
    assert call(sandbox, "GET", f"/v1/radar/early_fraud_warnings/{second}")["actionable"] is False
    assert contract_problems([first, *sandbox.early_fraud_warnings(), *sandbox.events()]) == []


def test_a_wallet_card_carries_its_wallet_on_the_payment_method_and_the_charge(
    sandbox: StripeSandbox,
) -> None:
    result = authorize(sandbox, "pm_card_visa", wallet="google_pay")

    assert result.wallet == "google_pay" and result.risk_level == "normal"
    intent = sandbox.payment_intent(result.payment_intent_id)
    pm = call(sandbox, "GET", f"/v1/payment_methods/{intent['payment_method']}")
    charge = call(sandbox, "GET", f"/v1/charges/{intent['latest_charge']}")
    assert pm["card"]["wallet"]["type"] == "google_pay" and pm["card"]["wallet"]["google_pay"] == {}
    assert charge["payment_method_details"]["card"]["wallet"] == pm["card"]["wallet"]
    assert contract_problems([pm, charge]) == []
