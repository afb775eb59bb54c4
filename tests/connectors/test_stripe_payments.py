"""StripePayments (the official SDK) over HTTP against the Stripe sandbox: customers, saving a card,
authorize / decline / capture / void, Stripe-signed webhooks checked as the hub checks them, retries,
Idempotency-Key replays after a lost reply, and money on the wire."""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.inbound.stripe import normalise_event
from shared.money import Money
from shared.outbound import AuthError, PermanentError, TransientError
from shared.outbound.stripe_payments import AuthorizationResult, PaymentIntentStateError, StripePayments
from tests.connectors.conftest import FakeSleep, StripeHub, control, stripe_hub

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_51O2cHubSandboxKey"
WEBHOOK_SECRET = "whsec_o2c_sandbox_endpoint_secret"
LINKS = {
    "o2c_correlation_id": "corr-deal-006Dn00000DemoOpp1",
    "o2c_opportunity_id": "006Dn00000DemoOpp1",
    "o2c_erp_order_id": "SO-1001",
    "o2c_erp_customer_id": "CUST-42",
}


Hub = StripeHub


@pytest.fixture
def hub() -> Iterator[StripeHub]:
    with stripe_hub(WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def stripe_sandbox(hub: Hub) -> Iterator[StripeSandbox]:
    with StripeSandbox(
        webhook_url=hub.url, webhook_secret=WEBHOOK_SECRET, api_key=API_KEY, webhook_delay_s=0.01
    ) as sandbox:
        yield sandbox


def payments(sandbox: StripeSandbox, sleep: FakeSleep | None = None, **kwargs: Any) -> StripePayments:
    key = kwargs.pop("key", API_KEY)
    return StripePayments(lambda: key, base_url=sandbox.url, sleep=sleep or FakeSleep(), **kwargs)


def given_customer(stripe: StripePayments) -> str:
    return stripe.ensure_customer(
        erp_customer_id="CUST-42",
        crm_account_id="001Dn00000Acme",
        name="Acme GmbH",
        email="ap@acme.de",
        idempotency_key="customer:CUST-42",
    )


def given_saved_card(
    stripe: StripePayments, sandbox: StripeSandbox, card: str = "pm_card_visa"
) -> tuple[str, str]:
    customer_id = given_customer(stripe)
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-1001"
    )
    return customer_id, sandbox.complete_setup(seti["id"], payment_method=card)["payment_method"]


def authorize(
    stripe: StripePayments,
    customer_id: str,
    payment_method: str,
    *,
    key: str = "authorize:SO-1001",
    **money: Any,
) -> AuthorizationResult:
    return stripe.authorize(
        customer_id=customer_id,
        payment_method_id=payment_method,
        amount=Money.of(money.get("amount", 125000), money.get("currency", "USD")),
        metadata=LINKS,
        idempotency_key=key,
    )


# --- customers -------------------------------------------------------------------------------------------


def test_ensure_customer_twice_makes_one_customer(stripe_sandbox: StripeSandbox) -> None:
    # Given no Stripe customer for ERP customer CUST-42
    stripe = payments(stripe_sandbox)

    # When the hub ensures it twice (the second time under another intent's key)
    first = given_customer(stripe)
    second = stripe.ensure_customer(
        erp_customer_id="CUST-42",
        crm_account_id="001Dn00000Acme",
        name="Acme GmbH",
        email="ap@acme.de",
        idempotency_key="customer:CUST-42:again",
    )

    # Then one customer exists, found by search the second time, carrying the ERP and CRM ids
    assert first == second and first.startswith("cus_")
    [customer] = stripe_sandbox.customers()
    assert customer["metadata"] == {"o2c_erp_customer_id": "CUST-42", "o2c_crm_account_id": "001Dn00000Acme"}
    assert (customer["name"], customer["email"]) == ("Acme GmbH", "ap@acme.de")
    calls = [(c["method"], c["path"], c["idempotency_key"]) for c in stripe_sandbox.api_calls]
    assert calls == [
        ("GET", "/v1/customers/search", None),
        ("POST", "/v1/customers", "customer:CUST-42"),
        ("GET", "/v1/customers/search", None),
    ]
    assert stripe_sandbox.api_calls[0]["params"]["query"] == "metadata['o2c_erp_customer_id']:'CUST-42'"


def test_concurrent_ensure_customer_with_one_key_makes_one_customer(stripe_sandbox: StripeSandbox) -> None:
    # Given five workers handling the same won deal at once, each with its own client
    barrier = threading.Barrier(5)

    def work() -> str:
        stripe = StripePayments(
            lambda: API_KEY, base_url=stripe_sandbox.url, base_backoff_s=0.02, max_attempts=6
        )  # real (tiny) sleeps: a 409 "request in progress" must wait for the first request to finish
        barrier.wait(timeout=10)
        return given_customer(stripe)

    # When they all ensure the customer with the one key for this intent
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = [future.result(timeout=15) for future in [pool.submit(work) for _ in range(5)]]

    # Then all five get the same customer and Stripe holds exactly one
    assert len(set(results)) == 1
    assert [c["id"] for c in stripe_sandbox.customers()] == results[:1]


def test_customer_search_quotes_the_erp_id(stripe_sandbox: StripeSandbox) -> None:
    # Given an ERP id with a quote in it
    stripe = payments(stripe_sandbox)
    kwargs: dict[str, Any] = {"crm_account_id": "a", "name": "O'Brien", "email": None}

    # When it is ensured twice
    first = stripe.ensure_customer(erp_customer_id="O'B-1", idempotency_key="c1", **kwargs)
    second = stripe.ensure_customer(erp_customer_id="O'B-1", idempotency_key="c2", **kwargs)

    # Then the search found it
    assert first == second and len(stripe_sandbox.customers()) == 1


# --- saving a card ---------------------------------------------------------------------------------------


def test_setup_intent_completed_sends_a_signed_setup_intent_succeeded(
    stripe_sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a customer and a SetupIntent for saving a card off session
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-1001"
    )
    assert seti["id"].startswith("seti_") and seti["client_secret"].startswith(seti["id"] + "_secret_")
    assert seti["status"] == "requires_payment_method"

    # When the customer saves a card in the browser
    completed = stripe_sandbox.complete_setup(seti["id"], payment_method="pm_card_visa")
    stripe_sandbox.wait_for_webhooks()

    # Then the hub got one correctly signed setup_intent.succeeded with the whole object
    assert hub.rejected == 0
    [event] = hub.events
    assert event["type"] == "setup_intent.succeeded" and event["id"].startswith("evt_")
    assert event["object"] == "event" and isinstance(event["created"], int)
    obj = event["data"]["object"]
    assert obj["object"] == "setup_intent" and obj["id"] == seti["id"]
    assert (obj["status"], obj["usage"], obj["customer"]) == ("succeeded", "off_session", customer_id)
    assert obj["payment_method"] == completed["payment_method"] and obj["payment_method"].startswith("pm_")
    assert obj["metadata"] == LINKS


def test_confirming_a_setup_intent_saves_the_card_once_and_replays_a_lost_reply(
    stripe_sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given a SetupIntent, and a first confirmation whose reply is lost after Stripe saved the card
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-1001"
    )
    stripe_sandbox.commit_then_timeout_next()

    # When the hub confirms it with Stripe's test Visa (the connector retries under the same key)
    setup = stripe.confirm_setup_intent(
        setup_intent_id=seti["id"], payment_method_id="pm_card_visa", idempotency_key="confirm:SO-1001"
    )
    stripe_sandbox.wait_for_webhooks()

    # Then the card is saved once: one succeeded SetupIntent, one event, the retry answered from the key
    assert setup.succeeded and setup.payment_method_id is not None
    [saved] = stripe_sandbox.setup_intents()
    assert (saved["status"], saved["payment_method"]) == ("succeeded", setup.payment_method_id)
    assert hub.types() == ["setup_intent.succeeded"]
    calls = [(c["method"], c["path"], c["idempotency_key"]) for c in stripe_sandbox.api_calls][-2:]
    assert calls == [("POST", f"/v1/setup_intents/{seti['id']}/confirm", "confirm:SO-1001")] * 2
    # and confirming it again under another key is refused: it already succeeded
    with pytest.raises(PermanentError) as again:
        stripe.confirm_setup_intent(
            setup_intent_id=seti["id"], payment_method_id="pm_card_visa", idempotency_key="confirm:again"
        )
    assert (again.value.status, again.value.code) == (400, "setup_intent_unexpected_state")


def test_a_card_saved_fine_can_still_be_declined_when_charged(stripe_sandbox: StripeSandbox) -> None:
    # Given a customer who saved Stripe's 4000 0000 0000 0341 ("attaching succeeds, charges fail")
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-1001"
    )
    setup = stripe.confirm_setup_intent(
        setup_intent_id=seti["id"],
        payment_method_id="pm_card_chargeCustomerFail",
        idempotency_key="confirm:1",
    )
    assert setup.succeeded and setup.payment_method_id is not None

    # When the hub authorizes off session
    result = authorize(stripe, customer_id, setup.payment_method_id)

    # Then the bank declines the charge, a business outcome
    assert (result.status, result.failure_code, result.decline_code) == (
        "requires_payment_method",
        "card_declined",
        "generic_decline",
    )


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"payment_method": "pm_card_visa", "save_card": "true"}, "save_card", "parameter_unknown"),
        ({"payment_method": "pm_card_nope"}, "payment_method", "resource_missing"),
        # a bank account on a SetupIntent for cards only: a type the SetupIntent does not allow
        (
            {"payment_method_data": {"type": "sepa_debit"}},
            "payment_method_data[type]",
            "payment_intent_incompatible_payment_method",
        ),
        # raw card data is not one of Stripe's payment_method_data types: Stripe's enum refuses it
        ({"payment_method_data": {"type": "card"}}, "payment_method_data[type]", None),
    ],
)
def test_setup_intent_confirmation_refuses_what_stripe_does_not_take_and_what_the_sandbox_does_not_serve(
    stripe_sandbox: StripeSandbox, params: dict[str, Any], param: str, code: str | None
) -> None:
    import stripe as sdk

    stripe = payments(stripe_sandbox)
    seti = stripe.create_setup_intent(
        customer_id=given_customer(stripe), metadata=LINKS, idempotency_key="setup:SO-1001"
    )
    client = sdk.StripeClient(API_KEY, base_addresses={"api": stripe_sandbox.url}, max_network_retries=0)
    with pytest.raises(sdk.InvalidRequestError) as refused:
        client.v1.setup_intents.confirm(seti["id"], params)
    assert (refused.value.http_status, refused.value.param, refused.value.code) == (400, param, code)
    [untouched] = stripe_sandbox.setup_intents()
    assert (untouched["status"], untouched["payment_method"]) == ("requires_payment_method", None)


# --- authorize, decline, capture, void ----------------------------------------------------------------------


def test_authorize_with_a_good_card_holds_the_funds(stripe_sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a customer with a saved Visa
    stripe = payments(stripe_sandbox)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)

    # When the hub authorizes 1,250.00 USD off session
    result = authorize(stripe, customer_id, pm)
    stripe_sandbox.wait_for_webhooks()

    # Then the funds are held, and a signed amount_capturable_updated tells the hub so
    assert result.authorized and result.status == "requires_capture"
    assert result.payment_intent_id.startswith("pi_") and result.decline_code is None
    [event] = hub.of_type("payment_intent.amount_capturable_updated")
    pi = event["data"]["object"]
    assert (pi["id"], pi["amount_capturable"], pi["capture_method"]) == (
        result.payment_intent_id,
        125000,
        "manual",
    )
    assert pi["metadata"] == LINKS and pi["customer"] == customer_id
    assert event["request"]["idempotency_key"] == "authorize:SO-1001"
    # and the hub's own mapping reads it as PaymentAuthorized
    [canonical] = normalise_event(event, "corr-fallback")
    assert canonical.detail_type == "PaymentAuthorized"
    assert canonical.metadata.correlationId == LINKS["o2c_correlation_id"]


@pytest.mark.parametrize(
    ("card", "decline_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ],
)
def test_a_declined_card_is_a_result_not_an_exception(
    stripe_sandbox: StripeSandbox, hub: Hub, card: str, decline_code: str, message: str
) -> None:
    # Given a customer
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)

    # When the hub authorizes with a card the bank declines
    result = authorize(stripe, customer_id, card)
    stripe_sandbox.wait_for_webhooks()

    # Then it learns why, and a signed payment_intent.payment_failed carries the same
    assert result == AuthorizationResult(
        payment_intent_id=result.payment_intent_id,
        status="requires_payment_method",
        decline_code=decline_code,
        failure_code="card_declined",
        message=message,
    )
    assert not result.authorized
    [event] = hub.of_type("payment_intent.payment_failed")
    pi = event["data"]["object"]
    assert pi["id"] == result.payment_intent_id and pi["status"] == "requires_payment_method"
    error = pi["last_payment_error"]
    assert (error["type"], error["code"], error["decline_code"], error["message"]) == (
        "card_error",
        "card_declined",
        decline_code,
        message,
    )
    assert (
        error["payment_method"]["card"]["brand"] == "visa"
        and len(error["payment_method"]["card"]["last4"]) == 4
    )
    [canonical] = normalise_event(event, "corr-fallback")
    assert canonical.detail_type == "PaymentFailed"
    # and a retry of the same intent replays the decline instead of charging again
    assert authorize(stripe, customer_id, card) == result
    assert len(stripe_sandbox.payment_intents()) == 1


def test_capture_succeeds_and_sends_payment_intent_succeeded(stripe_sandbox: StripeSandbox, hub: Hub) -> None:
    # Given an authorized payment
    stripe = payments(stripe_sandbox)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)
    authorized = authorize(stripe, customer_id, pm)

    # When the hub captures it (twice: a retry of the same intent, and a later one under another key)
    status = stripe.capture(payment_intent_id=authorized.payment_intent_id, idempotency_key="capture:SO-1001")
    again = stripe.capture(payment_intent_id=authorized.payment_intent_id, idempotency_key="capture:SO-1001")
    later = stripe.capture(
        payment_intent_id=authorized.payment_intent_id, idempotency_key="capture:SO-1001:b"
    )
    stripe_sandbox.wait_for_webhooks()

    # Then it succeeded once, with its charge, and the hub heard of it once
    assert status == again == later == "succeeded"
    pi = stripe.retrieve_payment_intent(authorized.payment_intent_id)
    assert (pi["status"], pi["amount_received"], pi["amount_capturable"]) == ("succeeded", 125000, 0)
    [event] = hub.of_type("payment_intent.succeeded")
    captured = event["data"]["object"]
    assert captured["latest_charge"].startswith("ch_") and captured["latest_charge"] == pi["latest_charge"]
    assert captured["metadata"] == LINKS
    [canonical] = normalise_event(event, "corr-fallback")
    assert canonical.detail_type == "PaymentCaptured"
    assert canonical.data.amountReceived == Money.of(125000, "USD")  # type: ignore[attr-defined]
    assert {captured["latest_charge"], "SO-1001", "006Dn00000DemoOpp1"} <= canonical.lineage_ids()


def test_cancel_twice_is_canceled_both_times(stripe_sandbox: StripeSandbox, hub: Hub) -> None:
    # Given an authorized payment
    stripe = payments(stripe_sandbox)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)
    authorized = authorize(stripe, customer_id, pm)

    # When the hub voids it, then voids it again under another key
    first = stripe.cancel(payment_intent_id=authorized.payment_intent_id, idempotency_key="void:SO-1001")
    second = stripe.cancel(
        payment_intent_id=authorized.payment_intent_id, idempotency_key="void:SO-1001:retry"
    )
    stripe_sandbox.wait_for_webhooks()

    # Then both answer canceled, the hold is released, and one payment_intent.canceled was sent
    assert first == second == "canceled"
    assert stripe_sandbox.payment_intent(authorized.payment_intent_id)["amount_capturable"] == 0
    assert len(hub.of_type("payment_intent.canceled")) == 1
    # and capturing a voided payment is refused, naming the status
    with pytest.raises(PaymentIntentStateError) as refused:
        stripe.capture(payment_intent_id=authorized.payment_intent_id, idempotency_key="capture:SO-1001")
    assert (refused.value.status, refused.value.payment_intent_status) == (400, "canceled")


# --- faults ------------------------------------------------------------------------------------------------


def test_rate_limit_then_success_waits_as_stripe_asks(stripe_sandbox: StripeSandbox) -> None:
    # Given Stripe answers 429 with Retry-After: 0.2 once
    sleep = FakeSleep()
    stripe = payments(stripe_sandbox, sleep)
    stripe_sandbox.fail_next(429, retry_after=0.2)

    # When the hub ensures a customer
    customer_id = given_customer(stripe)

    # Then it waited what Stripe asked and succeeded on the second attempt
    assert customer_id.startswith("cus_")
    assert sleep.waits == [0.2]


def test_server_errors_are_retried_with_backoff_under_the_same_key(stripe_sandbox: StripeSandbox) -> None:
    # Given a customer, and Stripe failing twice with 500/503 on the next calls
    sleep = FakeSleep()
    stripe = payments(stripe_sandbox, sleep)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)
    stripe_sandbox.fail_next(500)
    stripe_sandbox.fail_next(503)

    # When the hub authorizes
    result = authorize(stripe, customer_id, pm)

    # Then the third attempt (same Idempotency-Key) authorized, after two jittered waits
    assert result.authorized
    assert len(sleep.waits) == 2 and all(0 <= w <= 0.5 for w in sleep.waits)
    keys = [c["idempotency_key"] for c in stripe_sandbox.api_calls if c["path"] == "/v1/payment_intents"]
    assert keys == ["authorize:SO-1001"] * 3


def test_persistent_or_long_rate_limits_become_transient_errors(stripe_sandbox: StripeSandbox) -> None:
    sleep = FakeSleep()
    stripe = payments(stripe_sandbox, sleep)

    # Given Stripe asks for a 60 s pause: the error is raised at once, for the queue to retry later
    stripe_sandbox.fail_next(429, retry_after=60)
    with pytest.raises(TransientError) as long_wait:
        given_customer(stripe)
    assert (long_wait.value.status, long_wait.value.retry_after, sleep.waits) == (429, 60.0, [])

    # Given Stripe keeps failing: after max_attempts the last failure is raised
    stripe_sandbox.fail_next(503, count=3)
    with pytest.raises(TransientError) as exhausted:
        given_customer(stripe)
    assert exhausted.value.status == 503 and len(sleep.waits) == 2


def test_commit_then_dropped_connection_retry_returns_the_same_payment_intent(
    stripe_sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given Stripe will apply the next POST and then drop the connection before replying
    stripe = payments(stripe_sandbox)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)
    stripe_sandbox.commit_then_timeout_next()

    # When the hub authorizes
    result = authorize(stripe, customer_id, pm)
    stripe_sandbox.wait_for_webhooks()

    # Then the retry under the same key got the stored reply: exactly one PaymentIntent, one event
    [pi] = stripe_sandbox.payment_intents()
    assert result.payment_intent_id == pi["id"] and result.authorized
    assert len(hub.of_type("payment_intent.amount_capturable_updated")) == 1
    assert [c["idempotency_key"] for c in stripe_sandbox.api_calls if c["path"] == "/v1/payment_intents"] == [
        "authorize:SO-1001",
        "authorize:SO-1001",
    ]


def test_commit_then_timeout_retry_returns_the_same_customer(stripe_sandbox: StripeSandbox) -> None:
    # Given Stripe will create the customer but reply only after the client's timeout
    stripe = payments(stripe_sandbox, timeout_s=0.25)
    stripe_sandbox.commit_then_timeout_next(delay_s=0.5)

    # When the hub ensures the customer
    customer_id = given_customer(stripe)

    # Then the retry replayed the first create
    assert [c["id"] for c in stripe_sandbox.customers()] == [customer_id]


def test_wrong_key_is_an_auth_error_and_a_reused_key_with_other_params_is_permanent(
    stripe_sandbox: StripeSandbox,
) -> None:
    with pytest.raises(AuthError) as denied:
        given_customer(payments(stripe_sandbox, key="sk_test_wrong_key_000000"))
    assert denied.value.status == 401 and denied.value.detail is None

    stripe = payments(stripe_sandbox)
    customer_id, pm = given_saved_card(stripe, stripe_sandbox)
    authorize(stripe, customer_id, pm, amount=1000)
    with pytest.raises(PermanentError) as reused:
        authorize(stripe, customer_id, pm, amount=2000)  # same key, other amount: a bug, not a retry
    assert (reused.value.status, reused.value.code) == (400, "idempotency_error")


# --- money on the wire ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "wire"),
    [(50000, "JPY", ("50000", "jpy")), (5, "ISK", ("500", "isk")), (125050, "EUR", ("125050", "eur"))],
)
def test_amounts_go_to_stripe_in_its_units(
    stripe_sandbox: StripeSandbox, amount: int, currency: str, wire: tuple[str, str]
) -> None:
    # Given a customer
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)

    # When the hub authorizes the canonical amount
    result = authorize(stripe, customer_id, "pm_card_visa", amount=amount, currency=currency)

    # Then Stripe received its own unit (ISK in hundredths) and a lower-case currency, and nothing else odd
    [call] = [c for c in stripe_sandbox.api_calls if c["path"] == "/v1/payment_intents"]
    assert (call["params"]["amount"], call["params"]["currency"]) == wire
    assert call["params"]["capture_method"] == "manual"
    assert (call["params"]["confirm"], call["params"]["off_session"]) == ("true", "true")
    assert call["params"]["metadata"] == LINKS
    assert stripe_sandbox.payment_intent(result.payment_intent_id)["amount"] == int(wire[0])


# --- webhook timing and redelivery --------------------------------------------------------------------------


def test_held_webhooks_arrive_after_release_and_redeliver_signs_anew(
    stripe_sandbox: StripeSandbox, hub: Hub
) -> None:
    # Given webhooks are held
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)
    stripe_sandbox.hold_webhooks()

    # When a payment is authorized, the API reply comes but no webhook yet
    result = authorize(stripe, customer_id, "pm_card_visa")
    time.sleep(0.05)
    assert hub.events == [] and stripe_sandbox.webhooks_sent == []

    # Then on release it arrives, and a redelivery is the same event, validly signed again
    stripe_sandbox.release_webhooks()
    stripe_sandbox.wait_for_webhooks()
    [event] = hub.events
    assert event["data"]["object"]["id"] == result.payment_intent_id
    status, _ = stripe_sandbox.redeliver(event["id"])
    assert status == 200 and hub.rejected == 0
    assert hub.events[1] == event
    assert [(w["event_id"], w["attempt"], w["status"]) for w in stripe_sandbox.webhooks_sent] == [
        (event["id"], 1, 200),
        (event["id"], 2, 200),
    ]


def test_control_endpoints_drive_the_sandbox_over_http(stripe_sandbox: StripeSandbox, hub: Hub) -> None:
    # Given a SetupIntent made through the API
    stripe = payments(stripe_sandbox)
    customer_id = given_customer(stripe)
    seti = stripe.create_setup_intent(customer_id=customer_id, metadata=LINKS, idempotency_key="setup:1")
    base = stripe_sandbox.url

    # When another process completes it, holds webhooks and queues a lost reply over /_sandbox
    completed = control(
        base, "POST", f"/_sandbox/setup_intents/{seti['id']}/complete", {"payment_method": "pm_card_visa"}
    )
    assert control(base, "POST", "/_sandbox/webhooks/wait", {"timeout_s": 5}) == {"pending": 0}
    assert control(base, "POST", "/_sandbox/webhooks/hold") == {"held": True}
    assert control(base, "POST", "/_sandbox/faults/commit_then_timeout", {"count": 1}) == {"queued": True}
    result = authorize(stripe, customer_id, completed["payment_method"])
    assert control(base, "POST", "/_sandbox/webhooks/release") == {"held": False}
    control(base, "POST", "/_sandbox/webhooks/wait", {})

    # Then the lists show the one PaymentIntent and both events, delivered
    [pi] = control(base, "GET", "/_sandbox/payment_intents")["data"]
    assert pi["id"] == result.payment_intent_id
    assert [c["id"] for c in control(base, "GET", "/_sandbox/customers")["data"]] == [customer_id]
    sent = control(base, "GET", "/_sandbox/webhooks")["data"]
    assert [w["type"] for w in sent] == ["setup_intent.succeeded", "payment_intent.amount_capturable_updated"]
    events = control(base, "GET", "/_sandbox/events")["data"]
    assert control(base, "POST", f"/_sandbox/events/{events[0]['id']}/redeliver")["status"] == 200


def test_the_sdk_is_not_imported_at_module_level() -> None:
    # Cold starts: the SDK (~0.5 s of imports) is loaded by the first Stripe call only
    tree = ast.parse((ROOT / "shared" / "outbound" / "stripe_payments.py").read_text())
    top_level = [
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    ]
    assert "stripe" not in top_level and "requests" not in top_level


def test_a_request_still_in_progress_under_the_key_is_waited_for(stripe_sandbox: StripeSandbox) -> None:
    # Given Stripe answers 409 (another request with this Idempotency-Key is still running) once
    sleep = FakeSleep()
    stripe = payments(stripe_sandbox, sleep)
    customer_id = given_customer(stripe)
    stripe_sandbox.fail_next(409)

    # When the hub authorizes
    result = authorize(stripe, customer_id, "pm_card_visa")

    # Then it retried after a short backoff and got the authorization
    assert result.authorized and len(sleep.waits) == 1
