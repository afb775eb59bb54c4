"""The Stripe sandbox holds requests to Stripe's published contract (``vendor-specs/stripe/stripe-contract.json``,
API 2026-10-28.endive): what Stripe refuses is refused with Stripe's own error, before anything runs; and
what the hub's connector sends is what Stripe takes."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from localcloud.sandboxes.stripe import app as sandbox_app
from localcloud.sandboxes.stripe.contract import check_request, contract, endpoint
from shared.outbound.stripe_payments import StripePayments

API_KEY = "sk_test_51O2cHubContractKey"


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe", webhook_secret="whsec_x", api_key=API_KEY
    ) as sb:
        yield sb


def call(
    sandbox: StripeSandbox, method: str, path: str, form: list[tuple[str, str]] | None = None, **headers: str
) -> tuple[int, Any]:
    data = urlencode(form or []).encode() if method == "POST" else None
    query = "" if method == "POST" or not form else "?" + urlencode(form)
    request = urllib.request.Request(sandbox.url + path + query, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Authorization", f"Bearer {API_KEY}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


PI = [("amount", "2000"), ("currency", "usd")]


@pytest.mark.parametrize(
    ("form", "param", "code", "message"),
    [
        # an invented top-level parameter
        (
            [*PI, ("priority", "high")],
            "priority",
            "parameter_unknown",
            "Received unknown parameter: priority",
        ),
        # an invented nested parameter, named in bracket notation as Stripe names it
        (
            [*PI, ("payment_method_options[card][invented]", "x")],
            "payment_method_options[card][invented]",
            "parameter_unknown",
            "Received unknown parameter: payment_method_options[card][invented]",
        ),
        # a value outside Stripe's enum
        (
            [*PI, ("capture_method", "later")],
            "capture_method",
            None,
            "Invalid capture_method: must be one of automatic, automatic_async, or manual",
        ),
        (
            [*PI, ("payment_method_options[card][request_three_d_secure]", "sometimes")],
            "payment_method_options[card][request_three_d_secure]",
            None,
            "Invalid payment_method_options[card][request_three_d_secure]: must be one of any, automatic, "
            "or challenge",
        ),
        (
            [("amount", "20.00"), ("currency", "usd")],
            "amount",
            "parameter_invalid_integer",
            "Invalid integer: 20.00",
        ),
        ([*PI, ("confirm", "yes")], "confirm", None, "Invalid boolean: yes"),
        ([("currency", "usd")], "amount", "parameter_missing", "Missing required param: amount."),
        ([*PI, ("metadata", "x")], "metadata", None, "Invalid object"),
        (
            [*PI, ("allowed_payment_method_types", "card")],
            "allowed_payment_method_types",
            None,
            "Invalid array",
        ),
        (
            [*PI, ("allowed_payment_method_types[0]", "carrier_pigeon")],
            "allowed_payment_method_types[0]",
            None,
            None,
        ),
        ([*PI, ("description", "")], "description", "parameter_invalid_string_empty", None),
        ([("amount", ""), ("currency", "usd")], "amount", "parameter_invalid_empty", None),
        # the name the SDK used before endive: Stripe 2026-10-28.endive takes allowed_payment_method_types
        ([*PI, ("payment_method_types[0]", "card")], "payment_method_types", "parameter_unknown", None),
    ],
)
def test_a_payment_intent_stripe_refuses_is_refused_with_stripes_error(
    sandbox: StripeSandbox, form: list[tuple[str, str]], param: str, code: str | None, message: str | None
) -> None:
    status, body = call(sandbox, "POST", "/v1/payment_intents", form)
    error = body["error"]
    assert (status, error["type"], error["param"], error.get("code")) == (
        400,
        "invalid_request_error",
        param,
        code,
    )
    if message is not None:
        assert error["message"] == message
    assert sandbox.payment_intents() == []


# billing.py's invoice-payment filter still answers invented codes: the module is being changed by the
# stripe-defects work (defects 5-8); its enum and unknown-parameter refusals are now answered first by the
# contract check, and these go once that work lands.
PENDING_CODES = {
    ("billing.py", "parameter_invalid_string"),
    ("billing.py", "parameter_invalid_hash"),
    ("billing.py", "parameter_invalid"),
}


def test_every_code_the_sandbox_answers_is_one_of_stripes_error_codes() -> None:
    """No invented ``code``: every error code the sandbox's modules raise is in Stripe's list (the SDK's enum
    of error codes); Stripe answers a bad boolean or an out-of-enum value without one."""
    codes = set(contract()["error_codes"])
    package = Path(sandbox_app.__file__).parent
    invented = {
        (source.name, code)
        for source in sorted(package.glob("*.py"))
        for code in re.findall(r'code="([a-z_]+)"', source.read_text())
        if code not in codes
    }
    assert invented - PENDING_CODES == set()
    assert {"parameter_unknown", "parameter_missing", "parameter_invalid_integer"} <= codes


@pytest.mark.parametrize(
    ("method", "path", "form", "param"),
    [
        ("POST", "/v1/customers", [("name", "Acme"), ("invented", "1")], "invented"),
        ("POST", "/v1/customers", [("address[planet]", "Mars")], "address[planet]"),
        ("POST", "/v1/setup_intents", [("usage", "sometimes")], "usage"),
        ("POST", "/v1/refunds", [("payment_intent", "pi_x"), ("reason", "changed_mind")], "reason"),
        ("GET", "/v1/balance_transactions", [("payout", "po_x"), ("limit", "ten")], "limit"),
        ("GET", "/v1/invoice_payments", [("payment[type]", "charge")], "payment[type]"),
        ("GET", "/v1/customers/search", [("query", "email:'a@b.c'"), ("page_size", "3")], "page_size"),
        ("POST", "/v1/webhook_endpoints", [("url", "https://h.example/w")], "enabled_events"),
        (
            "POST",
            "/v1/webhook_endpoints",
            [("url", "https://h.example/w"), ("enabled_events[0]", "payment_intent.invented")],
            "enabled_events[0]",
        ),
    ],
)
def test_every_endpoint_is_held_to_its_parameters(
    sandbox: StripeSandbox, method: str, path: str, form: list[tuple[str, str]], param: str
) -> None:
    status, body = call(sandbox, method, path, form)
    assert (status, body["error"]["type"], body["error"]["param"]) == (400, "invalid_request_error", param)


def test_a_refused_request_stores_nothing_under_its_idempotency_key(sandbox: StripeSandbox) -> None:
    status, body = call(
        sandbox, "POST", "/v1/payment_intents", [*PI, ("capture_method", "later")], Idempotency_Key="k"
    )
    assert status == 400 and "capture_method" in body["error"]["message"]
    status, body = call(
        sandbox, "POST", "/v1/payment_intents", [*PI, ("capture_method", "manual")], Idempotency_Key="k"
    )
    assert (status, body["object"], body["capture_method"]) == (200, "payment_intent", "manual")


def test_every_endpoint_the_sandbox_serves_is_in_stripes_contract(sandbox: StripeSandbox) -> None:
    for method, route, _ in sandbox.api_routes:
        example = route.pattern.strip("^$").replace("([^/]+)", "x_1").replace("\\", "")
        assert endpoint(method, example) is not None, f"{method} {route.pattern} is not Stripe's"
    status, body = call(sandbox, "GET", "/v1/payment_links")
    assert (status, body["error"]["type"]) == (404, "invalid_request_error")


def test_the_connector_sends_only_what_stripe_takes(sandbox: StripeSandbox) -> None:
    """The hub's whole payment path (customer, SetupIntent, authorization, capture, refund, reads) through
    the SDK: every request it sent passes Stripe's contract, and the card-only restriction is sent under
    endive's name ``allowed_payment_method_types`` (``payment_method_types`` is not a request parameter at
    2026-10-28.endive: Stripe answers it ``parameter_unknown``)."""
    from shared.money import Money

    stripe = StripePayments(lambda: API_KEY, base_url=sandbox.url, max_attempts=1)
    customer = stripe.ensure_customer(
        erp_customer_id="C-1", crm_account_id="A-1", name="Acme", email="ap@acme.example", idempotency_key="c"
    )
    seti = stripe.create_setup_intent(customer_id=customer, metadata={"o2c_x": "1"}, idempotency_key="s")
    sandbox.complete_setup(seti["id"])
    pm = sandbox.setup_intents()[0]["payment_method"]
    auth = stripe.authorize(
        customer_id=customer,
        payment_method_id=pm,
        amount=Money.of(2000, "USD"),
        metadata={"o2c_erp_order_id": "SO-1"},
        idempotency_key="a",
    )
    assert stripe.capture(payment_intent_id=auth.payment_intent_id, idempotency_key="cap") == "succeeded"
    stripe.create_refund(
        payment_intent_id=auth.payment_intent_id,
        amount=Money.of(500, "USD"),
        metadata={},
        idempotency_key="r",
        reason="goodwill",  # the hub's own reason: not one Stripe takes
    )
    stripe.create_refund(
        payment_intent_id=auth.payment_intent_id,
        amount=Money.of(300, "USD"),
        metadata={},
        idempotency_key="r2",
        reason="duplicate",
    )
    calls = sandbox.api_calls
    assert {c["path"] for c in calls} >= {
        "/v1/customers",
        "/v1/setup_intents",
        "/v1/payment_intents",
        "/v1/refunds",
    }
    for c in calls:
        check_request(c["method"], c["path"], c["params"])
    sent = {c["path"]: c["params"] for c in calls if c["method"] == "POST"}
    assert sent["/v1/setup_intents"]["allowed_payment_method_types"] == ["card"]
    assert sent["/v1/payment_intents"]["allowed_payment_method_types"] == ["card"]
    refunds = [c["params"] for c in calls if c["method"] == "POST" and c["path"] == "/v1/refunds"]
    # Stripe's reasons go to Stripe; every reason goes to the refund's metadata
    assert [r.get("reason") for r in refunds] == [None, "duplicate"]
    assert [r["metadata"]["o2c_refund_reason"] for r in refunds] == ["goodwill", "duplicate"]


def test_webhook_endpoints_are_stripes_objects_and_the_secret_is_shown_once(sandbox: StripeSandbox) -> None:
    form = [
        ("url", "https://hub.example/webhooks/stripe"),
        ("enabled_events[0]", "payment_intent.succeeded"),
        ("enabled_events[1]", "charge.refunded"),
        ("api_version", "2026-10-28.endive"),
        ("description", "o2c hub"),
    ]
    status, created = call(sandbox, "POST", "/v1/webhook_endpoints", form)
    assert status == 200 and created["object"] == "webhook_endpoint" and created["id"].startswith("we_")
    assert created["secret"].startswith("whsec_")
    assert (created["status"], created["api_version"], created["enabled_events"]) == (
        "enabled",
        "2026-10-28.endive",
        ["payment_intent.succeeded", "charge.refunded"],
    )
    status, read = call(sandbox, "GET", f"/v1/webhook_endpoints/{created['id']}")
    assert (
        status == 200 and "secret" not in read and read == {k: v for k, v in created.items() if k != "secret"}
    )
    status, listed = call(sandbox, "GET", "/v1/webhook_endpoints", [("limit", "1")])
    assert (status, listed["object"], [e["id"] for e in listed["data"]]) == (200, "list", [created["id"]])
    status, missing = call(sandbox, "GET", "/v1/webhook_endpoints/we_nope")
    assert (status, missing["error"]["code"]) == (404, "resource_missing")
    status, refused = call(
        sandbox, "POST", "/v1/webhook_endpoints", [*form[:2], ("api_version", "2026-13-01.never")]
    )
    assert (status, refused["error"]["param"]) == (400, "api_version")
    assert refused["error"]["message"].startswith("Invalid api_version: must be one of 2011-01-01,")


def test_events_reach_each_enabled_webhook_endpoint_signed_with_its_secret(
    sandbox: StripeSandbox, receiver: Any
) -> None:
    from shared.inbound.stripe import verify_signature

    endpoints = {}
    for path, events in (("/all", ["*"]), ("/refunds", ["charge.refunded"])):
        status, created = call(
            sandbox,
            "POST",
            "/v1/webhook_endpoints",
            [("url", receiver.url + path), *((f"enabled_events[{i}]", e) for i, e in enumerate(events))],
        )
        assert status == 200
        endpoints[path] = created
    status, customer = call(sandbox, "POST", "/v1/customers", [("name", "Acme")])
    status, seti = call(sandbox, "POST", "/v1/setup_intents", [("customer", customer["id"])])
    sandbox.complete_setup(seti["id"])
    sandbox.wait_for_webhooks()

    got = {(r.path, json.loads(r.body)["type"]) for r in receiver.received}
    assert got == {("/all", "setup_intent.succeeded")}  # /refunds did not ask for it
    (delivery,) = receiver.received
    verify_signature(
        delivery.body,
        delivery.headers.get("Stripe-Signature"),
        [endpoints["/all"]["secret"]],
        tolerance_s=300,
        now=time.time(),
    )
    event = json.loads(delivery.body)
    assert event["pending_webhooks"] == 2  # the sandbox's own webhook_url and this endpoint
    sent = [s for s in sandbox.webhooks_sent if s.get("endpoint") == endpoints["/all"]["id"]]
    assert [(s["type"], s["status"]) for s in sent] == [("setup_intent.succeeded", 200)]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("2099-01-01.never", "Invalid Stripe API version: 2099-01-01.never"),
        ("2025-03-31.basil", "The Stripe sandbox answers in API version 2026-10-28.endive only"),
    ],
)
def test_a_stripe_version_other_than_the_pinned_one_is_refused(
    sandbox: StripeSandbox, version: str, message: str
) -> None:
    status, body = call(sandbox, "POST", "/v1/customers", [("name", "Acme")], Stripe_Version=version)
    assert (status, body["error"]["type"]) == (400, "invalid_request_error")
    assert body["error"]["message"].startswith(message)
    status, body = call(
        sandbox, "POST", "/v1/customers", [("name", "Acme")], Stripe_Version="2026-10-28.endive"
    )
    assert (status, body["object"]) == (200, "customer")
