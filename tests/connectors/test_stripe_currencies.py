"""Stripe's currency rules, as the sandbox enforces them on its own (https://docs.stripe.com/currencies):
three-decimal currencies (BHD, JOD, KWD, OMR, TND) take only amounts whose last digit is 0 in payments,
captures and refunds; MGA is zero-decimal at Stripe; charges below Stripe's minimum are refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox

API_KEY = "sk_test_51O2cHubCurrencyKey"


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe", webhook_secret="whsec_x", api_key=API_KEY
    ) as sb:
        yield sb


def post(sandbox: StripeSandbox, path: str, form: list[tuple[str, str]]) -> tuple[int, Any]:
    request = urllib.request.Request(sandbox.url + path, data=urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Authorization", f"Bearer {API_KEY}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def authorized(sandbox: StripeSandbox, amount: int, currency: str) -> tuple[int, Any]:
    return post(
        sandbox,
        "/v1/payment_intents",
        [
            ("amount", str(amount)),
            ("currency", currency),
            ("payment_method", "pm_card_visa"),
            ("confirm", "true"),
            ("capture_method", "manual"),
        ],
    )


@pytest.mark.parametrize("currency", ["kwd", "bhd", "jod", "omr", "tnd"])
def test_a_three_decimal_amount_must_end_in_zero(sandbox: StripeSandbox, currency: str) -> None:
    status, body = authorized(sandbox, 12345, currency)  # 12.345: Stripe's partners take 12.340 or 12.350
    assert (status, body["error"]["type"], body["error"]["param"]) == (400, "invalid_request_error", "amount")
    assert "last digit" in body["error"]["message"] and "12340 or 12350" in body["error"]["message"]
    assert sandbox.payment_intents() == []
    status, body = authorized(sandbox, 12340, currency)
    assert (status, body["status"], body["amount"]) == (200, "requires_capture", 12340)


def test_captures_and_refunds_in_kwd_must_end_in_zero_too(sandbox: StripeSandbox) -> None:
    _, pi = authorized(sandbox, 10000, "kwd")
    status, body = post(sandbox, f"/v1/payment_intents/{pi['id']}/capture", [("amount_to_capture", "9995")])
    assert (status, body["error"]["param"]) == (400, "amount_to_capture")
    status, body = post(sandbox, f"/v1/payment_intents/{pi['id']}/capture", [("amount_to_capture", "9990")])
    assert (status, body["status"], body["amount_received"]) == (200, "succeeded", 9990)
    status, body = post(sandbox, "/v1/refunds", [("payment_intent", pi["id"]), ("amount", "1005")])
    assert (status, body["error"]["param"]) == (400, "amount")
    assert sandbox.refunds() == []
    status, body = post(sandbox, "/v1/refunds", [("payment_intent", pi["id"]), ("amount", "1000")])
    assert (status, body["status"], body["amount"]) == (200, "succeeded", 1000)


def test_mga_is_zero_decimal_at_stripe() -> None:
    """10,000 MGA settled into USD at 0.00022 is 2.20 USD: 220 cents (were MGA two-decimal at Stripe, the
    10000 would be 100.00 MGA and come to 2 cents)."""
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe",
        webhook_secret="whsec_x",
        api_key=API_KEY,
        settlement={"mga": ("usd", "0.00022")},
    ) as sandbox:
        _, pi = authorized(sandbox, 10000, "mga")
        post(sandbox, f"/v1/payment_intents/{pi['id']}/capture", [])
        (txn,) = [t for t in sandbox.balance_transactions() if t["type"] == "charge"]
        assert (txn["amount"], txn["currency"]) == (220, "usd")


@pytest.mark.parametrize(("amount", "currency"), [(49, "usd"), (29, "gbp"), (49, "jpy"), (49, "eur")])
def test_a_charge_below_stripes_minimum_is_refused(
    sandbox: StripeSandbox, amount: int, currency: str
) -> None:
    status, body = authorized(sandbox, amount, currency)
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "amount_too_small", "amount")
    status, body = authorized(sandbox, amount + 1, currency)
    assert status == 200
