"""The Stripe connector's payment path, witnessed twice: by localstripe (an independent Stripe fake from the
package index, written by people who never saw this hub) and by the project's own Stripe sandbox. The same
test runs against both: a customer, a card saved by confirming a SetupIntent with ``pm_card_visa``, a
manual-capture PaymentIntent confirmed off session, its capture and a refund.

localstripe is old and partial. Where it differs from Stripe the connector is not bent to it: the step is
worked around here or left to the sandbox only, each time with a comment naming the difference
(``LOCALSTRIPE:``), and the contract the sandbox follows is Stripe's (API 2026-10-28.endive)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.money import Money
from shared.outbound import InvalidRecord
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import STRIPE_API_KEY, FakeSleep, LocalStripe, StripeHub

LINKS = {
    "o2c_correlation_id": "corr-deal-006Dn00000Witness",
    "o2c_opportunity_id": "006Dn00000Witness",
    "o2c_erp_order_id": "SO-7001",
    "o2c_erp_customer_id": "CUST-77",
}
CUSTOMER_METADATA = {"o2c_erp_customer_id": "CUST-77", "o2c_crm_account_id": "001Dn00000Globex"}


@dataclass(frozen=True)
class Witness:
    name: str
    url: str
    api_key: str
    sandbox: StripeSandbox | None = None
    hub: StripeHub | None = None  # the sandbox's webhooks, checked as the hub checks them

    @property
    def is_localstripe(self) -> bool:
        return self.name == "localstripe"

    def payments(self) -> StripePayments:
        return StripePayments(lambda: self.api_key, base_url=self.url, sleep=FakeSleep())

    def sdk(self) -> Any:
        """Stripe's own SDK on this witness, for what the connector has no call for."""
        import stripe

        return stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def read(self, resource: str, object_id: str) -> dict[str, Any]:
        return dict(getattr(self.sdk().v1, resource).retrieve(object_id).to_dict())


@pytest.fixture(params=["sandbox", "localstripe"])
def witness(request: pytest.FixtureRequest) -> Iterator[Witness]:
    if request.param == "localstripe":
        server: LocalStripe = request.getfixturevalue("localstripe")
        yield Witness("localstripe", server.url, server.api_key)
    else:
        sandbox = request.getfixturevalue("sandbox")
        yield Witness("sandbox", sandbox.url, STRIPE_API_KEY, sandbox, request.getfixturevalue("hub"))


def given_customer(witness: Witness, stripe: StripePayments) -> str:
    """The Stripe customer of ERP customer CUST-77, as ``ensure_customer`` makes it."""
    if witness.is_localstripe:
        # LOCALSTRIPE: it has no ``GET /v1/customers/search`` (Stripe's Search API): the path falls into
        # ``GET /v1/customers/{id}`` and answers 404, so ``ensure_customer`` cannot look first. The customer
        # is created with exactly what ``ensure_customer`` creates it with when its search finds none.
        created = witness.sdk().v1.customers.create(
            {"name": "Globex SARL", "email": "ap@globex.fr", "metadata": CUSTOMER_METADATA}
        )
        return str(created.id)
    return stripe.ensure_customer(
        erp_customer_id="CUST-77",
        crm_account_id="001Dn00000Globex",
        name="Globex SARL",
        email="ap@globex.fr",
        idempotency_key="customer:CUST-77",
    )


def test_payment_path_save_card_authorize_capture_refund(witness: Witness) -> None:
    stripe = witness.payments()

    # Given a Stripe customer for ERP customer CUST-77
    customer_id = given_customer(witness, stripe)

    # When the customer saves a card: a SetupIntent, confirmed with Stripe's test card pm_card_visa
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-7001"
    )
    assert seti["id"].startswith("seti_") and seti["status"] == "requires_payment_method"
    setup = stripe.confirm_setup_intent(
        setup_intent_id=seti["id"], payment_method_id="pm_card_visa", idempotency_key="confirm:SO-7001"
    )

    # Then the SetupIntent succeeded with a PaymentMethod minted from the test card (not the token itself)
    assert (setup.setup_intent_id, setup.status, setup.failure_code) == (seti["id"], "succeeded", None)
    payment_method = setup.payment_method_id
    assert (
        payment_method is not None and payment_method.startswith("pm_") and payment_method != "pm_card_visa"
    )
    card = witness.read("payment_methods", payment_method)
    assert (card["type"], card["card"]["brand"], card["card"]["last4"]) == ("card", "visa", "4242")
    if not witness.is_localstripe:
        # LOCALSTRIPE: confirming a SetupIntent leaves the PaymentMethod unattached (``customer`` null);
        # Stripe attaches it to the SetupIntent's customer, which is what lets it be charged off session.
        assert card["customer"] == customer_id

    if witness.sandbox is not None and witness.hub is not None:
        # LOCALSTRIPE: it sends no ``setup_intent.*`` events; the hub waits for this one to go on
        witness.sandbox.wait_for_webhooks()
        [event] = witness.hub.of_type("setup_intent.succeeded")
        saved = event["data"]["object"]
        assert (saved["id"], saved["status"], saved["payment_method"]) == (
            seti["id"],
            "succeeded",
            payment_method,
        )
        assert (saved["customer"], saved["metadata"]) == (customer_id, LINKS)

    # And the customer carries the ERP and CRM ids, and nothing else
    customer = stripe.retrieve_customer(customer_id)
    assert customer["metadata"] == CUSTOMER_METADATA
    assert (customer["name"], customer["email"]) == ("Globex SARL", "ap@globex.fr")

    # When the hub holds 1,250.00 USD on the saved card (manual capture, off session)
    held = stripe.authorize(
        customer_id=customer_id,
        payment_method_id=payment_method,
        amount=Money.of(125000, "USD"),
        metadata=LINKS,
        idempotency_key="authorize:SO-7001",
    )

    # Then the money is authorized, not taken
    assert held.authorized and (held.status, held.failure_code) == ("requires_capture", None)
    intent = stripe.retrieve_payment_intent(held.payment_intent_id)
    assert (intent["status"], intent["amount"], intent["currency"]) == ("requires_capture", 125000, "usd")
    assert (intent["capture_method"], intent["customer"], intent["payment_method"]) == (
        "manual",
        customer_id,
        payment_method,
    )
    assert intent["metadata"] == LINKS
    if not witness.is_localstripe:
        # LOCALSTRIPE: its PaymentIntent has no ``amount_capturable`` / ``amount_received`` (Stripe has both).
        assert (intent["amount_capturable"], intent["amount_received"]) == (125000, 0)

    # When the hub captures it
    assert stripe.capture(payment_intent_id=held.payment_intent_id, idempotency_key="capture:SO-7001") == (
        "succeeded"
    )

    # Then the PaymentIntent succeeded and its charge captured the whole 1,250.00 USD
    intent = stripe.retrieve_payment_intent(held.payment_intent_id)
    assert intent["status"] == "succeeded"
    charge = stripe.retrieve_charge(_id(intent["latest_charge"]))
    assert (charge["captured"], charge["amount"], charge["currency"]) == (True, 125000, "usd")
    assert (charge["payment_intent"], charge["amount_refunded"]) == (held.payment_intent_id, 0)
    if not witness.is_localstripe:
        # LOCALSTRIPE: its Charge has no ``amount_captured`` (Stripe's Charge has) and its PaymentIntent no
        # ``amount_received``: there the captured amount is ``amount`` of a charge with ``captured`` true.
        assert (charge["amount_captured"], intent["amount_received"]) == (125000, 125000)

    # When the hub refunds 200.00 USD of it
    refund = stripe.create_refund(
        payment_intent_id=held.payment_intent_id,
        amount=Money.of(20000, "USD"),
        metadata={"o2c_credit_memo_id": "CM-7001"},
        idempotency_key="refund:CM-7001",
    )

    # Then Stripe refunded exactly that, on that charge, and the charge shows it
    assert (refund.status, refund.amount, refund.failure_reason) == (
        "succeeded",
        Money.of(20000, "USD"),
        None,
    )
    assert (refund.charge_id, refund.payment_intent_id) == (charge["id"], held.payment_intent_id)
    assert refund.id.startswith("re_")
    charge = stripe.retrieve_charge(charge["id"])
    assert (charge["amount_refunded"], charge["refunded"]) == (20000, False)

    if witness.is_localstripe:
        # LOCALSTRIPE: a refund without ``amount`` refunds the charge's whole amount again, whatever was
        # refunded before (Stripe refunds what remains), and it never refuses more than remains (Stripe:
        # ``amount_too_large``). Refunding the rest is witnessed by the sandbox only.
        return

    # When the hub refunds all that remains
    rest = stripe.create_refund(
        payment_intent_id=held.payment_intent_id, amount=None, metadata={}, idempotency_key="refund:rest"
    )

    # Then the remaining 1,050.00 USD is refunded and the charge is fully refunded
    assert (rest.status, rest.amount) == ("succeeded", Money.of(105000, "USD"))
    charge = stripe.retrieve_charge(charge["id"])
    assert (charge["amount_refunded"], charge["refunded"]) == (125000, True)


def test_a_card_the_bank_refuses_is_refused_when_it_is_saved(witness: Witness) -> None:
    stripe = witness.payments()
    customer_id = given_customer(witness, stripe)
    seti = stripe.create_setup_intent(
        customer_id=customer_id, metadata=LINKS, idempotency_key="setup:SO-7002"
    )
    # Stripe's test card 4000 0000 0000 0002 (generic decline), by the name each witness knows it by
    declining = "pm_card_visa_chargeDeclined" if witness.is_localstripe else "pm_card_chargeDeclined"

    if witness.is_localstripe:
        # LOCALSTRIPE: it refuses the card at setup too (402), but its error is an ``invalid_request_error``
        # without the SetupIntent, which it leaves ``canceled``; Stripe answers a ``card_error`` carrying the
        # SetupIntent, back in ``requires_payment_method`` so that another card can be tried. Without the
        # SetupIntent the connector cannot say what became of it, and says so.
        with pytest.raises(InvalidRecord) as refused:
            stripe.confirm_setup_intent(
                setup_intent_id=seti["id"], payment_method_id=declining, idempotency_key="confirm:SO-7002"
            )
        assert (refused.value.status, refused.value.code) == (402, "card_declined")
        return

    # When the customer saves a card the bank declines
    setup = stripe.confirm_setup_intent(
        setup_intent_id=seti["id"], payment_method_id=declining, idempotency_key="confirm:SO-7002"
    )

    # Then nothing is saved: the SetupIntent waits for another card, with the bank's reason
    assert not setup.succeeded
    assert (setup.setup_intent_id, setup.status) == (seti["id"], "requires_payment_method")
    assert (setup.failure_code, setup.decline_code) == ("card_declined", "generic_decline")
    assert setup.message == "Your card was declined."

    # And the hub hears of the failure, not of a saved card
    assert witness.sandbox is not None and witness.hub is not None
    witness.sandbox.wait_for_webhooks()
    assert witness.hub.types() == ["setup_intent.setup_failed"]
    [event] = witness.hub.of_type("setup_intent.setup_failed")
    failed = event["data"]["object"]
    assert (failed["id"], failed["status"], failed["payment_method"]) == (
        seti["id"],
        "requires_payment_method",
        None,
    )
    assert (failed["last_setup_error"]["code"], failed["last_setup_error"]["decline_code"]) == (
        "card_declined",
        "generic_decline",
    )

    # And another card succeeds on the same SetupIntent
    again = stripe.confirm_setup_intent(
        setup_intent_id=seti["id"], payment_method_id="pm_card_visa", idempotency_key="confirm:SO-7002:2"
    )
    assert (again.status, again.failure_code) == ("succeeded", None)
    witness.sandbox.wait_for_webhooks()
    assert witness.hub.types() == ["setup_intent.setup_failed", "setup_intent.succeeded"]


def _id(value: Any) -> str:
    """An id from a field that holds an id or an expanded object."""
    return str(value["id"] if isinstance(value, dict) else value)
