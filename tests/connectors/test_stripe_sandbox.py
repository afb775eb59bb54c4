"""The Stripe sandbox's wire format, spoken without the SDK: form bodies with bracket notation, Stripe's
error shapes and status codes, and Idempotency-Key replays and conflicts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox, decode_form

API_KEY = "sk_test_51O2cHubSandboxKey"


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    # deliveries go nowhere (port 9 is closed): these tests look at the API only
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe", webhook_secret="whsec_x", api_key=API_KEY
    ) as sb:
        yield sb


def call(
    sandbox: StripeSandbox,
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    *,
    key: str | None = API_KEY,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = body if body is not None else (urlencode(form).encode() if form is not None else None)
    request = urllib.request.Request(sandbox.url + path, data=data, method=method)
    if data is not None and body is None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers.items()), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), json.loads(error.read())


def test_bracket_notation_decodes_to_nested_objects_and_lists() -> None:
    form = b"metadata%5Bo2c_erp_order_id%5D=SO-1&payment_method_types%5B0%5D=card&expand%5B%5D=customer&x=1"
    assert decode_form(form) == {
        "metadata": {"o2c_erp_order_id": "SO-1"},
        "payment_method_types": ["card"],
        "expand": ["customer"],
        "x": "1",
    }


def test_requests_without_the_secret_key_are_refused_in_stripes_shape(sandbox: StripeSandbox) -> None:
    status, _, body = call(sandbox, "GET", "/v1/customers/search?query=email:'a@b.c'", key=None)
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    status, _, body = call(sandbox, "POST", "/v1/customers", {"name": "x"}, key="sk_test_not_the_key_1234")
    assert (
        status == 401
        and "sk_test_" in body["error"]["message"]
        and "not_the_key" not in body["error"]["message"]
    )
    assert sandbox.customers() == []


def test_json_bodies_and_unknown_parameters_are_refused(sandbox: StripeSandbox) -> None:
    status, _, body = call(
        sandbox, "POST", "/v1/customers", body=b'{"name": "x"}', headers={"Content-Type": "application/json"}
    )
    assert status == 400
    status, _, body = call(sandbox, "POST", "/v1/customers", {"name": "x", "card_number": "4242424242424242"})
    assert (status, body["error"]["code"], body["error"]["param"]) == (
        400,
        "parameter_unknown",
        "card_number",
    )


def test_idempotency_key_replays_refuses_other_params_and_stores_no_validation_failure(
    sandbox: StripeSandbox,
) -> None:
    form = {"name": "Acme", "metadata[o2c_erp_customer_id]": "C-1"}
    status, headers, first = call(sandbox, "POST", "/v1/customers", form, headers={"Idempotency-Key": "k1"})
    assert status == 200 and first["object"] == "customer" and first["id"].startswith("cus_")
    assert first["metadata"] == {"o2c_erp_customer_id": "C-1"} and "Idempotent-Replayed" not in headers

    status, headers, again = call(sandbox, "POST", "/v1/customers", form, headers={"Idempotency-Key": "k1"})
    assert (status, again, headers.get("Idempotent-Replayed")) == (200, first, "true")

    status, _, other = call(
        sandbox, "POST", "/v1/customers", {"name": "Other"}, headers={"Idempotency-Key": "k1"}
    )
    assert (status, other["error"]["type"]) == (400, "idempotency_error")
    status, _, elsewhere = call(
        sandbox, "POST", "/v1/setup_intents", {"customer": first["id"]}, headers={"Idempotency-Key": "k1"}
    )
    assert (status, elsewhere["error"]["type"]) == (400, "idempotency_error")
    assert len(sandbox.customers()) == 1

    # a request refused before it ran stores nothing: the corrected request may use the key
    bad = {"amount": "12.5", "currency": "usd"}
    status, _, refused = call(sandbox, "POST", "/v1/payment_intents", bad, headers={"Idempotency-Key": "k2"})
    assert (status, refused["error"]["code"]) == (400, "parameter_invalid_integer")
    good = {"amount": "1250", "currency": "usd"}
    status, _, pi = call(sandbox, "POST", "/v1/payment_intents", good, headers={"Idempotency-Key": "k2"})
    assert (status, pi["status"], pi["amount"]) == (200, "requires_payment_method", 1250)


def test_a_decline_is_a_402_card_error_carrying_the_payment_intent(sandbox: StripeSandbox) -> None:
    form = {
        "amount": "2000",
        "currency": "EUR",
        "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
        "confirm": "true",
        "off_session": "true",
        "capture_method": "manual",
        "metadata[o2c_erp_order_id]": "SO-9",
    }
    status, _, body = call(sandbox, "POST", "/v1/payment_intents", form)
    error = body["error"]
    assert status == 402
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "insufficient_funds",
    )
    pi = error["payment_intent"]
    assert (
        pi["id"].startswith("pi_") and pi["status"] == "requires_payment_method" and pi["currency"] == "eur"
    )
    assert pi["latest_charge"].startswith("ch_") and pi["metadata"] == {"o2c_erp_order_id": "SO-9"}
    assert error["payment_method"]["card"]["last4"] == "9995"


def test_customers_search_and_retrieve(sandbox: StripeSandbox) -> None:
    _, _, acme = call(sandbox, "POST", "/v1/customers", {"name": "Acme", "email": "AP@acme.de"})
    call(sandbox, "POST", "/v1/customers", {"name": "Other", "metadata[o2c_erp_customer_id]": "C-2"})
    status, _, found = call(
        sandbox, "GET", "/v1/customers/search?" + urlencode({"query": "email:'ap@acme.de'"})
    )
    assert (
        status == 200
        and found["object"] == "search_result"
        and [c["id"] for c in found["data"]] == [acme["id"]]
    )
    query = "metadata['o2c_erp_customer_id']:'C-2' OR name:'Acme'"
    _, _, both = call(sandbox, "GET", "/v1/customers/search?" + urlencode({"query": query}))
    assert len(both["data"]) == 2
    status, _, bad = call(sandbox, "GET", "/v1/customers/search?" + urlencode({"query": "name = Acme"}))
    assert status == 400 and bad["error"]["param"] == "query"
    assert call(sandbox, "GET", f"/v1/customers/{acme['id']}")[2] == acme
    status, _, missing = call(sandbox, "GET", "/v1/customers/cus_nope")
    assert (status, missing["error"]["code"]) == (404, "resource_missing")


def test_zero_decimal_currencies_stripe_counts_in_hundredths_must_be_whole(sandbox: StripeSandbox) -> None:
    status, _, body = call(sandbox, "POST", "/v1/payment_intents", {"amount": "5", "currency": "isk"})
    assert (status, body["error"]["param"]) == (400, "amount")
    assert call(sandbox, "POST", "/v1/payment_intents", {"amount": "500", "currency": "isk"})[0] == 200
