"""Following a deal's execution and playing the people's parts on the local cloud (the customer saving a
card in Stripe's sandbox), for the demo and the flow tests."""

from __future__ import annotations

import time
from typing import Any

from o2c_cli.executions import ExecutionState, state_of
from o2c_cli.targets import Target


def wait_until(
    target: Target, name: str, *, state: str | None = None, status: str | None = None, timeout: float = 90
) -> ExecutionState:
    """Poll until the execution is at ``state`` (waiting there, for a ``WaitFor...`` state) or has ``status``."""
    deadline = time.monotonic() + timeout
    last: ExecutionState | None = None
    while time.monotonic() < deadline:
        last = state_of(target, name)
        if last is not None:
            if state and last.current_state == state and (last.waiting_on or not state.startswith("WaitFor")):
                return last
            if status and last.status == status:
                return last
            if last.status != "RUNNING":
                raise AssertionError(
                    f"execution ended: {last.line()} (expected state={state} status={status})"
                )
        time.sleep(0.2)
    raise AssertionError(f"timed out; last: {last.line() if last else 'no execution'}")


def save_card(
    cloud: Any,
    target: Target,
    name: str,
    payment_method: str = "pm_card_visa",
    *,
    state: str = "WaitForPaymentMethod",
    timeout: float = 90,
) -> str:
    """The customer saves a card on the SetupIntent the execution waits for: the SetupIntent is confirmed
    with ``payment_method`` through Stripe's API (``POST /v1/setup_intents/{id}/confirm``, as Stripe.js
    does in the customer's browser; here server-side), and Stripe sends ``setup_intent.succeeded``. Stripe
    refuses its declining test cards when they are saved (AssertionError here); a card that is saved and
    declined when charged is ``pm_card_chargeCustomerFail``."""
    from shared.outbound.stripe_payments import StripePayments

    waiting = wait_until(target, name, state=state, timeout=timeout).waiting_on
    if not waiting or not waiting.startswith("setup:"):
        raise AssertionError(f"{name} is not waiting for a payment method: {waiting}")
    setup_intent = waiting.removeprefix("setup:")
    sandbox = cloud.sandboxes["stripe"]
    stripe = StripePayments(lambda: str(sandbox.api_key), base_url=sandbox.url)
    saved = stripe.confirm_setup_intent(
        setup_intent_id=setup_intent,
        payment_method_id=payment_method,
        idempotency_key=f"confirm:{setup_intent}",
    )
    if not saved.succeeded:
        raise AssertionError(
            f"{name}: Stripe did not save {payment_method}: {saved.status} {saved.failure_code} {saved.decline_code}"
        )
    return setup_intent


#: What the customer's browser sends with a bank account: the acceptance of the mandate Stripe shows them
#: (online, with the browser's address and user agent, as Stripe.js collects it).
MANDATE_ACCEPTED_ONLINE = {
    "customer_acceptance": {
        "type": "online",
        "online": {"ip_address": "203.0.113.7", "user_agent": "Mozilla/5.0 (o2c demo customer)"},
    }
}


def save_bank_account(
    cloud: Any,
    target: Target,
    name: str,
    *,
    iban: str | None = None,
    account_number: str | None = None,
    holder: str = "Accounts Payable",
    email: str = "ap@customer.example",
    state: str = "WaitForPaymentMethod",
    timeout: float = 90,
) -> str:
    """The customer saves a bank account with its mandate on the SetupIntent the execution waits for: a
    SEPA IBAN (``iban``, e.g. Stripe's test ``DE89370400440532013000``) or a US account (``account_number``
    at Stripe's test routing number ``110000000``, e.g. ``000123456789``), the holder's name and email, and
    the acceptance of the mandate, confirmed through Stripe's API as Stripe.js does in the browser."""
    from shared.outbound.stripe_payments import StripePayments

    waiting = wait_until(target, name, state=state, timeout=timeout).waiting_on
    if not waiting or not waiting.startswith("setup:"):
        raise AssertionError(f"{name} is not waiting for a payment method: {waiting}")
    setup_intent = waiting.removeprefix("setup:")
    if iban:
        data: dict[str, Any] = {"type": "sepa_debit", "sepa_debit": {"iban": iban}}
    elif account_number:
        data = {
            "type": "us_bank_account",
            "us_bank_account": {
                "routing_number": "110000000",
                "account_number": account_number,
                "account_holder_type": "company",
            },
        }
    else:
        raise ValueError("an iban or an account_number")
    data["billing_details"] = {"name": holder, "email": email}
    sandbox = cloud.sandboxes["stripe"]
    stripe = StripePayments(lambda: str(sandbox.api_key), base_url=sandbox.url)
    saved = stripe.confirm_setup_intent(
        setup_intent_id=setup_intent,
        payment_method_data=data,
        mandate_data=MANDATE_ACCEPTED_ONLINE,
        idempotency_key=f"confirm:{setup_intent}",
    )
    if not saved.succeeded:
        raise AssertionError(
            f"{name}: Stripe did not save the bank account: {saved.status} {saved.failure_code}"
        )
    return setup_intent


def save_wallet_card(
    cloud: Any, target: Target, name: str, wallet: str = "apple_pay", *, timeout: float = 90
) -> str:
    """The customer saves a card from a wallet (Apple Pay, Google Pay) on the SetupIntent the execution waits
    for. Stripe has no test PaymentMethod for a wallet (its tokens come from a real device), so the Stripe
    sandbox's control stands in for the device (``save_wallet_card``); ``setup_intent.succeeded`` follows."""
    waiting = wait_until(target, name, state="WaitForPaymentMethod", timeout=timeout).waiting_on
    if not waiting or not waiting.startswith("setup:"):
        raise AssertionError(f"{name} is not waiting for a payment method: {waiting}")
    setup_intent = waiting.removeprefix("setup:")
    cloud.sandboxes["stripe"].save_wallet_card(setup_intent, wallet)
    return setup_intent


def timeline(target: Target, name: str) -> list[tuple[float, str]]:
    """(seconds since start, state) for every state the execution entered."""
    from o2c_cli.executions import execution_arn

    sfn = target.client("stepfunctions")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn(target, name), "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    if not events:
        return []
    start = events[0]["timestamp"]
    return [
        ((e["timestamp"] - start).total_seconds(), e["stateEnteredEventDetails"]["name"])
        for e in events
        if "stateEnteredEventDetails" in e
    ]
