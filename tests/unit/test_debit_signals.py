"""A bank debit that fails after ``processing`` resumes the deal's wait for its outcome; a card's decline
does not (it is its authorization's answer). Only the PaymentMethod's type is read from the failure."""

from __future__ import annotations

import copy
from typing import Any

from functions.q2c_payment_signals.handler import wait_key_and_fact
from shared.inbound.stripe import normalise_event
from tests.conftest import stripe_sample


def failed(method: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(stripe_sample("payment_intent.payment_failed"))
    pi = event["data"]["object"]
    pi["last_payment_error"] = {
        "type": "invalid_request_error",
        "code": "insufficient_funds",
        "message": "The customer's account has insufficient funds to cover this payment.",
        "payment_method": method,
    }
    return event


SEPA = {
    "id": "pm_1",
    "type": "sepa_debit",
    "sepa_debit": {"last4": "3001", "fingerprint": "f00", "country": "DE"},
}
CARD = {"id": "pm_2", "type": "card", "card": {"last4": "0341", "brand": "visa"}}


def test_a_failed_sepa_debit_ends_the_wait_for_its_outcome_with_the_banks_code() -> None:
    [canonical] = normalise_event(failed(SEPA), "req-1")
    data = canonical.dump()["data"]
    assert data["paymentMethodType"] == "sepa_debit"
    assert "3001" not in canonical.detail_json() and "f00" not in canonical.detail_json()
    key, fact = wait_key_and_fact(canonical.data, "2026-12-01T00:00:00Z")  # type: ignore[misc]
    assert key == f"capture:{data['paymentIntentId']}"
    assert (fact["succeeded"], fact["failureCode"]) == (False, "insufficient_funds")


def test_a_declined_card_resumes_no_wait() -> None:
    [canonical] = normalise_event(failed(CARD), "req-1")
    data = canonical.dump()["data"]
    assert data["paymentMethodType"] == "card"
    assert wait_key_and_fact(canonical.data) is None


def test_a_captured_payment_says_it_succeeded() -> None:
    [canonical] = normalise_event(stripe_sample("payment_intent.succeeded"), "req-1")
    pair = wait_key_and_fact(canonical.data)
    assert pair is not None and pair[1]["succeeded"] is True
