"""Which Invoice a PaymentIntent paid, over HTTP against the Stripe sandbox: at the pinned API version neither
the PaymentIntent nor its Charge names an invoice, and a renewal's payment carries no metadata; Stripe's
InvoicePayment objects (``GET /v1/invoice_payments``) are the link."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.money import Money
from shared.outbound import NotFound, PermanentError
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import (
    STRIPE_API_KEY,
    STRIPE_WEBHOOK_SECRET,
    control,
)

API_KEY, WEBHOOK_SECRET = STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET
LINKS = {"o2c_correlation_id": "hubspot:42", "o2c_erp_order_id": "SO-3001"}

_keys = itertools.count(1)


def customer(stripe: StripePayments) -> str:
    return stripe.ensure_customer(
        erp_customer_id="CUST-9",
        crm_account_id="001Dn00000Acme",
        name="Acme GmbH",
        email="ap@acme.de",
        idempotency_key="customer:CUST-9",
    )


def renewal(sandbox: StripeSandbox, subscription_id: str, *, succeed: bool = True) -> tuple[str, str]:
    """Renew the subscription: the invoice's ``in_`` id and the ``pi_`` id of the payment that charged it
    (read from the sandbox, not from the invoice)."""
    before = {pi["id"] for pi in sandbox.payment_intents()}
    invoice_id = sandbox.renew(subscription_id, succeed=succeed)
    [pi] = [pi for pi in sandbox.payment_intents() if pi["id"] not in before]
    assert pi["metadata"] == {}  # nothing on the payment says what it paid
    return invoice_id, str(pi["id"])


def get(sandbox: StripeSandbox, path: str, params: list[tuple[str, str]] | None = None) -> tuple[int, Any]:
    """A raw API GET (query in Stripe's bracket notation): status and JSON, errors included."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(
        sandbox.url + path + query, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def by_payment_intent(pi: str) -> list[tuple[str, str]]:
    return [("payment[type]", "payment_intent"), ("payment[payment_intent]", pi)]


def test_a_paid_renewals_payment_finds_its_invoice(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given a subscription renewed and paid
    sub_id = sandbox.create_subscription(customer(stripe), 9900, "eur")
    invoice_id, pi = renewal(sandbox, sub_id)

    # When the hub asks which invoice the payment paid
    found = stripe.invoice_of_payment(pi)

    # Then it is the renewal's invoice, found through one InvoicePayment request as the SDK sends it
    assert found == invoice_id
    [call] = [c for c in sandbox.api_calls if c["path"] == "/v1/invoice_payments"]
    assert (call["method"], call["params"]) == (
        "GET",
        {"payment[type]": "payment_intent", "payment[payment_intent]": pi, "limit": "1"},
    )

    # And the InvoicePayment is in Stripe's shape, the same over the list, by id, and in inspection
    [inpay] = sandbox.invoice_payments()
    assert inpay == {
        "id": inpay["id"],
        "object": "invoice_payment",
        "amount_paid": 9900,
        "amount_requested": 9900,
        "created": inpay["created"],
        "currency": "eur",
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": pi},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": inpay["created"]},
    }
    assert inpay["id"].startswith("inpay_")
    status, page = get(sandbox, "/v1/invoice_payments", by_payment_intent(pi))
    assert (status, page["object"], page["data"], page["has_more"]) == (200, "list", [inpay], False)
    assert get(sandbox, f"/v1/invoice_payments/{inpay['id']}") == (200, inpay)
    assert control(sandbox.url, "GET", "/_sandbox/invoice_payments") == {"data": [inpay]}
    # (an Invoice lists its payments only when asked: expand[]=payments)
    assert "payments" not in stripe.retrieve_invoice(invoice_id)
    status, expanded = get(sandbox, f"/v1/invoices/{invoice_id}", [("expand[]", "payments")])
    assert (status, expanded["payments"]["object"], expanded["payments"]["data"]) == (200, "list", [inpay])


def test_a_renewal_invoice_finds_the_payment_that_paid_it(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given a subscription renewed twice, the first declined, the second paid
    sub_id = sandbox.create_subscription(customer(stripe), 2500, "usd")
    declined, _ = renewal(sandbox, sub_id, succeed=False)
    paid, pi = renewal(sandbox, sub_id)

    # Then the invoice names no payment (since 2025-03-31.basil), and the hub asks its invoice payments
    invoice = stripe.retrieve_invoice(paid)
    assert not {"payment_intent", "charge"} & set(invoice)
    assert stripe.payment_of_invoice(paid) == pi
    [call] = [c for c in sandbox.api_calls if c["path"] == "/v1/invoice_payments"]
    assert (call["method"], call["params"]) == ("GET", {"invoice": paid, "status": "paid", "limit": "10"})
    # And an invoice nobody paid yet has no payment; one Stripe does not know is NotFound
    assert stripe.payment_of_invoice(declined) is None
    with pytest.raises(NotFound):
        stripe.payment_of_invoice("in_1DemoRenewal")


def test_a_declined_renewals_payment_finds_its_open_invoice(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    # Given a renewal whose card is declined (over the control endpoints)
    sub = control(
        sandbox.url,
        "POST",
        "/_sandbox/subscriptions",
        {"customer": customer(stripe), "amount": 4900, "currency": "usd"},
    )
    invoice = control(sandbox.url, "POST", f"/_sandbox/subscriptions/{sub['id']}/renew", {"succeed": False})
    [pi] = [p["id"] for p in sandbox.payment_intents()]

    # Then its payment still names the invoice, which is open, as is the InvoicePayment
    assert stripe.invoice_of_payment(pi) == invoice["id"]
    assert stripe.retrieve_invoice(invoice["id"])["status"] == "open"
    [inpay] = sandbox.invoice_payments()
    assert (inpay["status"], inpay["amount_paid"], inpay["amount_requested"], inpay["currency"]) == (
        "open",
        None,
        4900,
        "usd",
    )
    assert inpay["status_transitions"] == {"canceled_at": None, "paid_at": None}
    status, page = get(sandbox, "/v1/invoice_payments", [("invoice", invoice["id"]), ("status", "paid")])
    assert (status, page["data"]) == (200, [])
    status, page = get(sandbox, "/v1/invoice_payments", [("invoice", invoice["id"]), ("status", "open")])
    assert [i["id"] for i in page["data"]] == [inpay["id"]]


def test_a_one_off_payment_has_no_invoice(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given a deal's payment, authorized and captured through the connector (quote to cash)
    n = next(_keys)
    cus = customer(stripe)
    seti = stripe.create_setup_intent(customer_id=cus, metadata=LINKS, idempotency_key=f"setup:{n}")
    pm = sandbox.complete_setup(seti["id"], "pm_card_visa")["payment_method"]
    auth = stripe.authorize(
        customer_id=cus,
        payment_method_id=pm,
        amount=Money.of(12000, "EUR"),
        metadata=LINKS,
        idempotency_key=f"authorize:{n}",
    )
    assert stripe.capture(payment_intent_id=auth.payment_intent_id, idempotency_key=f"capture:{n}") == (
        "succeeded"
    )
    # and a subscription renewal beside it (so the list is not simply empty)
    sandbox.renew(sandbox.create_subscription(cus, 500, "eur"))

    # Then the one-off payment paid no invoice
    assert stripe.invoice_of_payment(auth.payment_intent_id) is None
    assert len(sandbox.invoice_payments()) == 1


def test_a_payment_intent_created_directly_has_no_invoice(
    stripe: StripePayments, sandbox: StripeSandbox
) -> None:
    pi = direct_payment_intent(sandbox)
    assert stripe.invoice_of_payment(pi) is None


def direct_payment_intent(sandbox: StripeSandbox) -> str:
    """A PaymentIntent created straight on the API (no customer, not confirmed)."""
    body = urllib.parse.urlencode({"amount": "700", "currency": "eur"}).encode()
    request = urllib.request.Request(
        f"{sandbox.url}/v1/payment_intents",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
        return str(json.loads(response.read())["id"])


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ([("created[gte]", "1")], "parameter_unknown", "created"),
        ([("customer", "cus_x")], "parameter_unknown", "customer"),
        (
            [("payment[type]", "payment_intent"), ("payment[charge]", "ch_x")],
            "parameter_unknown",
            "payment[charge]",
        ),
        ([("payment[payment_intent]", "pi_x")], "parameter_missing", "payment[type]"),
        (
            [("payment[type]", "payment_record"), ("payment[payment_intent]", "pi_x")],
            "parameter_invalid",
            "payment[payment_intent]",
        ),
        # out of Stripe's enum: "Invalid payment[type]: must be one of ...", without a code (Stripe has none)
        ([("payment[type]", "charge")], None, "payment[type]"),
        ([("status", "failed")], None, "status"),
        ([("limit", "0")], "parameter_invalid_integer", "limit"),
        ([("limit", "101")], "parameter_invalid_integer", "limit"),
        (by_payment_intent("pi_unknown"), "resource_missing", "payment[payment_intent]"),
        ([("invoice", "in_unknown")], "resource_missing", "invoice"),
        ([("starting_after", "inpay_unknown")], "resource_missing", "starting_after"),
    ],
)
def test_invoice_payment_list_refusals(
    sandbox: StripeSandbox, params: list[tuple[str, str]], code: str | None, param: str
) -> None:
    status, body = get(sandbox, "/v1/invoice_payments", params)
    assert status == 400
    assert (body["error"]["type"], body["error"].get("code"), body["error"]["param"]) == (
        "invalid_request_error",
        code,
        param,
    )


def test_unknown_parameters_are_refused_through_the_sdk(stripe: StripePayments) -> None:
    params: dict[str, Any] = {"limit": 1, "payment_method": "pm_x"}
    with pytest.raises(PermanentError) as refused:
        stripe._call(
            "GET /v1/invoice_payments", lambda v1, options: v1.invoice_payments.list(params, options)
        )
    assert (refused.value.status, refused.value.code) == (400, "parameter_unknown")


def test_an_unknown_invoice_payment_is_404(sandbox: StripeSandbox) -> None:
    status, body = get(sandbox, "/v1/invoice_payments/inpay_unknown")
    assert (status, body["error"]["code"]) == (404, "resource_missing")


def test_invoice_payments_page_newest_first(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given three renewals (the second declined)
    sub_id = sandbox.create_subscription(customer(stripe), 2500, "eur")
    renewals = [renewal(sandbox, sub_id, succeed=succeed) for succeed in (True, False, True)]
    newest_first = [i["id"] for i in reversed(sandbox.invoice_payments())]
    assert [i["invoice"] for i in reversed(sandbox.invoice_payments())] == [r[0] for r in reversed(renewals)]

    # When listed a page of one at a time, following starting_after
    seen: list[str] = []
    status, page = get(sandbox, "/v1/invoice_payments", [("limit", "1"), ("expand[0]", "data.invoice")])
    while True:
        assert status == 200 and len(page["data"]) == 1
        seen.append(page["data"][0]["id"])
        if not page["has_more"]:
            break
        status, page = get(sandbox, "/v1/invoice_payments", [("limit", "1"), ("starting_after", seen[-1])])

    # Then every InvoicePayment comes once, newest first; ending_before pages back; the default page is 10
    assert seen == newest_first
    status, page = get(sandbox, "/v1/invoice_payments", [("limit", "1"), ("ending_before", seen[-1])])
    assert ([i["id"] for i in page["data"]], page["has_more"]) == ([seen[1]], True)
    status, page = get(sandbox, "/v1/invoice_payments", [("ending_before", seen[-1])])
    assert ([i["id"] for i in page["data"]], page["has_more"]) == (seen[:2], False)
    status, page = get(sandbox, "/v1/invoice_payments")
    assert (len(page["data"]), page["has_more"], page["url"]) == (3, False, "/v1/invoice_payments")
    status, page = get(sandbox, "/v1/invoice_payments", [("status", "open")])
    assert [i["invoice"] for i in page["data"]] == [renewals[1][0]]

    # And each payment finds its own invoice
    assert [stripe.invoice_of_payment(pi) for _, pi in renewals] == [invoice for invoice, _ in renewals]
