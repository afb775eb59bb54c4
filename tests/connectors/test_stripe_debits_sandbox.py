"""The Stripe sandbox's bank debits (SEPA, ACH) over the wire: saved with a mandate, charged with automatic
capture only, ``processing`` until the sandbox's clock is advanced, then succeeded or failed as Stripe's
test accounts do; and refused as Stripe refuses what a bank debit cannot do."""

from __future__ import annotations

from typing import Any

from localcloud.sandboxes.stripe import StripeSandbox
from tests.connectors.test_stripe_sandbox import call, sandbox  # noqa: F401 - the fixture

SUCCEEDS_IBAN = "DE89370400440532013000"
FAILS_IBAN = "DE62370400440532013001"
#: Stripe's test routing number (any other is refused in test mode)
ACH_ROUTING = "110000000"
MANDATE = {
    "mandate_data[customer_acceptance][type]": "online",
    "mandate_data[customer_acceptance][online][ip_address]": "203.0.113.7",
    "mandate_data[customer_acceptance][online][user_agent]": "Mozilla/5.0",
}


def _setup(sb: StripeSandbox, types: tuple[str, ...] = ("card", "sepa_debit")) -> tuple[str, str]:
    status, _, customer = call(sb, "POST", "/v1/customers", {"name": "Bank GmbH"})
    assert status == 200
    form = {"customer": customer["id"]} | {
        f"allowed_payment_method_types[{i}]": t for i, t in enumerate(types)
    }
    status, _, seti = call(sb, "POST", "/v1/setup_intents", form)
    assert status == 200, seti
    return customer["id"], seti["id"]


def _sepa(iban: str, **extra: str) -> dict[str, str]:
    return {
        "payment_method_data[type]": "sepa_debit",
        "payment_method_data[sepa_debit][iban]": iban,
        "payment_method_data[billing_details][name]": "Jenny Rosen",
        "payment_method_data[billing_details][email]": "jenny@bank.example",
        **MANDATE,
        **extra,
    }


def _save_sepa(sb: StripeSandbox, iban: str = SUCCEEDS_IBAN) -> tuple[str, dict[str, Any]]:
    customer, seti = _setup(sb)
    status, _, saved = call(sb, "POST", f"/v1/setup_intents/{seti}/confirm", _sepa(iban))
    assert status == 200, saved
    return customer, saved


def _ach(account: str, routing: str = ACH_ROUTING, **extra: str) -> dict[str, str]:
    return {
        "payment_method_data[type]": "us_bank_account",
        "payment_method_data[us_bank_account][routing_number]": routing,
        "payment_method_data[us_bank_account][account_number]": account,
        "payment_method_data[billing_details][name]": "Acme Inc.",
        **MANDATE,
        **extra,
    }


def _save_ach(sb: StripeSandbox, account: str, **extra: str) -> tuple[str, dict[str, Any]]:
    customer, seti = _setup(sb, ("card", "us_bank_account"))
    status, _, saved = call(sb, "POST", f"/v1/setup_intents/{seti}/confirm", _ach(account, **extra))
    assert status == 200, saved
    return customer, saved


def _ach_debit(sb: StripeSandbox, customer: str, pm: str) -> tuple[int, Any]:
    return _debit(sb, customer, pm, currency="usd", **{"allowed_payment_method_types[0]": "us_bank_account"})


def _debit(sb: StripeSandbox, customer: str, pm: str, **extra: str) -> tuple[int, Any]:
    form = {
        "amount": "120000",
        "currency": "eur",
        "customer": customer,
        "payment_method": pm,
        "allowed_payment_method_types[0]": "sepa_debit",
        "confirm": "true",
        "off_session": "true",
        **extra,
    }
    status, _, body = call(sb, "POST", "/v1/payment_intents", form)
    return status, body


def test_a_sepa_mandate_is_saved_and_the_debit_succeeds_only_once_the_clock_has_moved(
    sandbox: StripeSandbox,  # noqa: F811
) -> None:
    customer, saved = _save_sepa(sandbox)
    assert saved["status"] == "succeeded" and saved["mandate"].startswith("mandate_")
    _, _, pm = call(sandbox, "GET", f"/v1/payment_methods/{saved['payment_method']}")
    assert pm["type"] == "sepa_debit" and pm["sepa_debit"]["last4"] == "3000" and "card" not in pm
    assert "iban" not in pm["sepa_debit"]

    status, pi = _debit(sandbox, customer, saved["payment_method"])
    assert status == 200 and pi["status"] == "processing" and pi["capture_method"] == "automatic_async"
    charge = sandbox.charge(pi["latest_charge"])
    assert charge["status"] == "pending"
    assert charge["payment_method_details"]["sepa_debit"]["mandate"] == saved["mandate"]

    assert sandbox.advance_clock(3600) == []  # an hour later: still processing
    assert sandbox.payment_intent(pi["id"])["status"] == "processing"
    assert sandbox.advance_clock(5 * 86400) == [pi["id"]]
    done = sandbox.payment_intent(pi["id"])
    assert done["status"] == "succeeded" and done["amount_received"] == 120000
    assert sandbox.charge(pi["latest_charge"])["balance_transaction"]
    types = [e["type"] for e in sandbox.events() if e["data"]["object"].get("id") == pi["id"]]
    assert types == ["payment_intent.processing", "payment_intent.succeeded"]


def test_stripes_failing_test_iban_fails_after_processing(sandbox: StripeSandbox) -> None:  # noqa: F811
    customer, saved = _save_sepa(sandbox, FAILS_IBAN)
    _, pi = _debit(sandbox, customer, saved["payment_method"])
    assert pi["status"] == "processing"
    sandbox.advance_clock(6 * 86400)
    failed = sandbox.payment_intent(pi["id"])
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "insufficient_funds"
    assert sandbox.charge(pi["latest_charge"])["status"] == "failed"
    types = [e["type"] for e in sandbox.events() if e["data"]["object"].get("id") == pi["id"]]
    assert types == ["payment_intent.processing", "payment_intent.payment_failed"]


def test_a_bank_debit_cannot_be_authorized_for_later_capture(sandbox: StripeSandbox) -> None:  # noqa: F811
    customer, saved = _save_sepa(sandbox)
    status, body = _debit(sandbox, customer, saved["payment_method"], capture_method="manual")
    assert status == 400
    assert body["error"]["param"] == "capture_method" and body["error"]["type"] == "invalid_request_error"


def test_a_sepa_debit_is_in_euros_and_of_an_allowed_type(sandbox: StripeSandbox) -> None:  # noqa: F811
    customer, saved = _save_sepa(sandbox)
    status, body = _debit(sandbox, customer, saved["payment_method"], currency="usd")
    assert status == 400 and body["error"]["param"] == "currency"
    status, body = _debit(
        sandbox, customer, saved["payment_method"], **{"allowed_payment_method_types[0]": "card"}
    )
    assert status == 400 and body["error"]["code"] == "payment_intent_incompatible_payment_method"


def test_saving_a_bank_account_needs_the_customers_mandate_acceptance(sandbox: StripeSandbox) -> None:  # noqa: F811
    _, seti = _setup(sandbox)
    form = {k: v for k, v in _sepa(SUCCEEDS_IBAN).items() if not k.startswith("mandate_data")}
    status, _, body = call(sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", form)
    assert status == 400 and body["error"]["code"] == "setup_intent_mandate_invalid"
    form = {k: v for k, v in _sepa(SUCCEEDS_IBAN).items() if not k.endswith("[user_agent]")}
    status, _, body = call(sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", form)
    assert status == 400 and body["error"]["param"] == "mandate_data[customer_acceptance][online][user_agent]"
    assert sandbox.mandates() == []


def test_sepa_needs_the_holders_name_and_email_and_a_valid_iban(sandbox: StripeSandbox) -> None:  # noqa: F811
    _, seti = _setup(sandbox)
    form = {k: v for k, v in _sepa(SUCCEEDS_IBAN).items() if not k.endswith("[email]")}
    status, _, body = call(sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", form)
    assert status == 400 and body["error"]["code"] == "parameter_missing"
    status, _, body = call(
        sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", _sepa("DE89370400440532013009")
    )
    assert status == 400 and body["error"]["code"] == "payment_method_invalid_parameter"


def test_a_setup_intent_for_cards_only_refuses_a_bank_account(sandbox: StripeSandbox) -> None:  # noqa: F811
    _, seti = _setup(sandbox, ("card",))
    status, _, body = call(sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", _sepa(SUCCEEDS_IBAN))
    assert status == 400 and body["error"]["code"] == "payment_intent_incompatible_payment_method"


def test_a_bank_account_saved_without_a_mandate_cannot_be_debited(sandbox: StripeSandbox) -> None:  # noqa: F811
    customer, saved = _save_sepa(sandbox)
    with sandbox._lock:
        for mandate in sandbox._mandates.values():
            mandate["status"] = "inactive"  # revoked by the customer
    status, body = _debit(sandbox, customer, saved["payment_method"])
    assert status == 400 and body["error"]["code"] == "payment_intent_mandate_invalid"


def test_an_ach_return_after_success_is_a_final_dispute(sandbox: StripeSandbox) -> None:  # noqa: F811
    holder = {"payment_method_data[us_bank_account][account_holder_type]": "company"}
    customer, saved = _save_ach(sandbox, "000123456789", **holder)
    status, pi = _ach_debit(sandbox, customer, saved["payment_method"])
    assert status == 200 and pi["status"] == "processing"
    sandbox.advance_clock(4 * 86400)
    assert sandbox.payment_intent(pi["id"])["status"] == "succeeded"
    dispute_id = sandbox.open_dispute(pi["latest_charge"], "insufficient_funds")
    dispute = next(d for d in sandbox.disputes() if d["id"] == dispute_id)
    assert dispute["status"] == "lost" and dispute["payment_method_details"] is None
    created = next(e for e in sandbox.events() if e["type"] == "charge.dispute.created")
    assert created["data"]["object"]["status"] == "lost"  # final when it opens
    types = [e["type"] for e in sandbox.events() if e["data"]["object"].get("id") == dispute_id]
    assert types == ["charge.dispute.created", "charge.dispute.closed"]


def test_stripes_failing_ach_test_accounts_fail_after_processing_with_their_codes(
    sandbox: StripeSandbox,  # noqa: F811
) -> None:
    for account, code in (("000222222227", "insufficient_funds"), ("000111111113", "account_closed")):
        customer, saved = _save_ach(sandbox, account)
        status, pi = _ach_debit(sandbox, customer, saved["payment_method"])
        assert status == 200 and pi["status"] == "processing"
        sandbox.advance_clock(4 * 86400)
        assert sandbox.payment_intent(pi["id"])["last_payment_error"]["code"] == code


def test_ach_needs_stripes_test_routing_number(sandbox: StripeSandbox) -> None:  # noqa: F811
    _, seti = _setup(sandbox, ("card", "us_bank_account"))
    form = _ach("000123456789", routing="021000021")
    status, _, body = call(sandbox, "POST", f"/v1/setup_intents/{seti}/confirm", form)
    assert status == 400 and body["error"]["code"] == "bank_account_bad_routing_numbers"


def test_a_subscription_may_be_paid_by_the_customers_sepa_mandate(sandbox: StripeSandbox) -> None:  # noqa: F811
    customer, saved = _save_sepa(sandbox)
    _, _, product = call(sandbox, "POST", "/v1/products", {"name": "Platform"})
    form = {
        "customer": customer,
        "default_payment_method": saved["payment_method"],
        "items[0][price_data][currency]": "eur",
        "items[0][price_data][product]": product["id"],
        "items[0][price_data][recurring][interval]": "year",
        "items[0][price_data][unit_amount]": "120000",
        "trial_end": str(int(sandbox.now()) + 86400),
    }
    status, _, sub = call(sandbox, "POST", "/v1/subscriptions", form)
    assert status == 200, sub
    assert sub["default_payment_method"] == saved["payment_method"]
    # another customer's bank account is not this customer's payment method
    other, _ = _save_sepa(sandbox)
    status, _, body = call(sandbox, "POST", "/v1/subscriptions", {**form, "customer": other})
    assert status == 400 and body["error"]["param"] == "default_payment_method"
