"""The /v1 API as a partner uses it, on the shared local cloud: a token from the token endpoint (client
credentials), an order submitted and carried to Paid (the customer saves a card as in the other flows), its
payment and invoice read, and a partial refund asked twice with one Idempotency-Key (one refund in Stripe,
one in the ERP). No route answers without a token; a token without the route's scope gets 403."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from infra.topology import API_ROUTES
from tests.flow.conftest import Hub
from tests.flow.q2c import records, save_card, wait_until

PROBLEMS = "https://o2c-hub.dev/problems/"


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, head, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, head, payload = exc.code, dict(exc.headers), exc.read()
    return status, head, json.loads(payload) if payload else None


def token(hub: Hub, client: str = "partner", scope: str | None = None) -> str:
    api = hub.cloud.local_json["api"]
    creds = api["clients"][client]
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    status, _, body = http(
        "POST",
        api["token_url"],
        raw=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    return str(body["access_token"])


def api_key(hub: Hub, client: str = "partner") -> str:
    """The client's usage-plan key (``x-api-key``), issued with its credentials."""
    return str(hub.cloud.local_json["api"]["clients"][client]["api_key"])


def caller(hub: Hub, client: str = "partner") -> Callable[..., tuple[int, dict[str, str], Any]]:
    bearer = token(hub, client)
    key = api_key(hub, client)

    def call(method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, str], Any]:
        hdrs = {
            "Authorization": f"Bearer {bearer}",
            "x-api-key": key,
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        return http(method, hub.api + path, body, hdrs)

    return call


def an_order(customer: str) -> dict[str, Any]:
    return {
        "currency": "EUR",
        "reference": f"checkout {customer}",
        "customer": {
            "externalId": customer,
            "name": f"Checkout customer {customer}",
            "email": f"billing+{customer}@example.com",
            "billingAddress": {
                "street": "Hauptstr. 1",
                "city": "Berlin",
                "postalCode": "10115",
                "country": "DE",
            },
            "taxId": "DE298765432",
            "region": "EMEA",
        },
        "lines": [{"sku": "PLAN-PRO", "name": "Pro plan", "quantity": 3, "unitPrice": "100.00"}],
    }


def wait_for(probe: Callable[[], Any], last: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"not reached in time; last: {last()}"
        time.sleep(0.3)


def test_no_v1_route_answers_without_a_token_and_a_missing_scope_is_403(hub: Hub) -> None:
    reader = caller(hub, "reader")
    for route in API_ROUTES:
        path = route.path.replace("{id}", "anything")
        body: dict[str, Any] | None = {} if route.method == "POST" else None
        status, headers, problem = http(route.method, hub.api + path, body)
        assert status == 401, (route, problem)
        assert headers["Content-Type"] == "application/problem+json"
        assert problem["type"] == PROBLEMS + "unauthorized"
        forged = f"{token(hub)[:-4]}AAAA"
        assert http(route.method, hub.api + path, body, {"Authorization": f"Bearer {forged}"})[0] == 401
        status, _, problem = reader(route.method, path, body, Idempotency_Key="k")
        if route.scope == "read":
            assert status == 404, (route, problem)  # authorized: the function answered
        else:
            assert status == 403 and problem["type"] == PROBLEMS + "forbidden", (route, problem)
    # the token endpoint refuses a wrong secret and a scope the client may not have
    api = hub.cloud.local_json["api"]
    reader_id = api["clients"]["reader"]["client_id"]
    for form in (
        {"grant_type": "client_credentials", "client_id": reader_id, "client_secret": "wrong"},
        {
            "grant_type": "client_credentials",
            "client_id": reader_id,
            "client_secret": api["clients"]["reader"]["client_secret"],
            "scope": "o2c/refunds:write",
        },
    ):
        status, _, body = http(
            "POST",
            api["token_url"],
            raw=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status in (400, 401) and body["error"] in ("invalid_client", "invalid_scope")


@pytest.fixture(scope="module")
def paid_order(hub: Hub) -> dict[str, Any]:
    call = caller(hub)
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    status, headers, accepted = call(
        "POST",
        "/v1/orders",
        an_order(customer),
        Idempotency_Key=str(uuid.uuid4()),
        X_Correlation_Id=f"co-{customer}",
    )
    assert status == 202, accepted
    assert headers["Location"] == accepted["location"]
    # the order's events carry its own flow id, as a deal's carry hubspot:<deal>
    assert (
        headers["X-Correlation-Id"] == accepted["correlationId"] == accepted["id"].replace("api-", "api:", 1)
    )
    name = accepted["id"]
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")
    return {"name": name, "customer": customer, "location": accepted["location"]}


def test_an_order_submitted_by_api_reaches_paid_and_its_payment_and_invoice_read_back(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    call = caller(hub, "reader")
    status, headers, order = call("GET", paid_order["location"])
    assert status == 200, order
    assert headers["X-Request-Id"] and headers["X-Correlation-Id"]
    assert (order["status"], order["state"], order["waitingFor"]) == ("SUCCEEDED", "Paid", None)
    assert order["amount"]["currency"] == "EUR" and order["amount"]["amount"] >= 30000  # 300.00 before tax
    assert order["correlationId"] == paid_order["name"].replace("api-", "api:", 1)
    # one ERP customer for the API's customer id, and its order booked from the API's lines
    assert len(records(hub, "customer", externalId=f"api-{paid_order['customer']}")) == 1
    [payment_intent] = [i for i in order["ids"] if i.startswith("pi_")]
    # the ERP's side of a payment is read from the hub's lineage, recorded moments after the flow ends
    payment = wait_for(
        lambda: (
            (answer := call("GET", f"/v1/payments/{payment_intent}"))[0] == 200
            and answer[2]["status"] == "applied"
            and answer[2]
        ),
        lambda: call("GET", f"/v1/payments/{payment_intent}"),
    )
    assert (
        payment["stripe"]["status"] == "succeeded" and payment["stripe"]["amountReceived"] == order["amount"]
    )
    assert payment["erp"]["erpPaymentId"]
    status, _, invoice = call("GET", f"/v1/invoices/{payment['erp']['erpInvoiceId']}")
    assert status == 200, invoice
    assert invoice["paymentStatus"] == "paid" and invoice["total"] == order["amount"]
    assert [p["erpPaymentId"] for p in invoice["payments"]] == [payment["erp"]["erpPaymentId"]]


def test_a_refund_asked_twice_with_one_key_is_one_refund_in_stripe_and_in_the_erp(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    call = caller(hub)
    order = call("GET", paid_order["location"])[2]
    [payment_intent] = [i for i in order["ids"] if i.startswith("pi_")]
    key = str(uuid.uuid4())
    ask = {"paymentIntentId": payment_intent, "amount": "25.00"}
    first = call("POST", "/v1/refunds", ask, Idempotency_Key=key)
    second = call("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert first[0] == second[0] == 202, (first, second)
    assert first[2] == second[2] and "Idempotent-Replayed" not in first[1]
    assert second[1]["Idempotent-Replayed"] == "true"
    # the same key for another refund is refused, and nothing is asked of Stripe for it
    other = call("POST", "/v1/refunds", {**ask, "amount": "30.00"}, Idempotency_Key=key)
    assert other[0] == 422 and other[2]["type"] == PROBLEMS + "idempotency-key-reused"
    request_id = first[2]["id"]
    refund = wait_for(
        lambda: (r := call("GET", f"/v1/refunds/{request_id}")[2]).get("status") == "booked" and r,
        lambda: call("GET", f"/v1/refunds/{request_id}"),
    )
    assert refund["amount"] == {"amount": 2500, "currency": "EUR"}
    stripe_refunds = [
        r
        for r in hub.cloud.sandboxes["stripe"].refunds()
        if r["metadata"].get("o2c_refund_request_id") == request_id
    ]
    assert len(stripe_refunds) == 1 and stripe_refunds[0]["id"] == refund["stripeRefundId"]
    assert len(records(hub, "creditMemo", externalId=f"cm-{refund['stripeRefundId']}")) == 1
    hub.settle()
    assert len(records(hub, "creditMemo", externalId=f"cm-{refund['stripeRefundId']}")) == 1
    _status, _, payment = call("GET", f"/v1/payments/{payment_intent}")
    assert payment["status"] == "partially_refunded" and payment["stripe"]["refunded"]["amount"] == 2500


def test_an_order_the_erp_could_not_book_is_refused_not_started(hub: Hub) -> None:
    call = caller(hub)
    order = an_order(f"cust-{uuid.uuid4().hex[:8]}")
    del order["customer"]["taxId"]  # Germany: a B2B invoice needs the buyer's VAT id
    status, _, problem = call("POST", "/v1/orders", order, Idempotency_Key=str(uuid.uuid4()))
    assert status == 422 and problem["type"] == PROBLEMS + "business-rejection"
    assert problem["missingFields"] == ["account.taxId"]


def test_a_customer_written_by_api_is_the_one_its_orders_booked_against(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    reader, partner = caller(hub, "reader"), caller(hub)
    customer = paid_order["customer"]
    status, _, view = reader("GET", f"/v1/customers/{customer}")
    assert status == 200, view
    assert view["id"] == f"api-{customer}" and view["stripeCustomerId"].startswith("cus_")
    assert view["openInvoices"] == [] and len(view["payments"]) == 1
    # the customer master updated through the API: the same ERP and Stripe customer, none added
    update = {**an_order(customer)["customer"], "name": "Renamed GmbH", "currency": "EUR"}
    status, headers, written = partner("POST", "/v1/customers", update, Idempotency_Key=str(uuid.uuid4()))
    assert status == 201, written
    assert headers["Location"] == f"/v1/customers/{customer}"
    assert (written["erpCustomerId"], written["stripeCustomerId"]) == (
        view["erpCustomerId"],
        view["stripeCustomerId"],
    )
    [erp_customer] = records(hub, "customer", externalId=f"api-{customer}")
    assert erp_customer["companyName"] == "Renamed GmbH"
    # a customer the ERP could not invoice is refused, nothing written
    other = f"cust-{uuid.uuid4().hex[:8]}"
    incomplete = {**an_order(other)["customer"], "currency": "EUR"}
    del incomplete["taxId"]
    status, _, problem = partner("POST", "/v1/customers", incomplete, Idempotency_Key=str(uuid.uuid4()))
    assert status == 422 and problem["missingFields"] == ["account.taxId"]
    assert records(hub, "customer", externalId=f"api-{other}") == []
