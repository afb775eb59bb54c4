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
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

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
    # the caller's correlation id is the one the order's events carry
    assert headers["X-Correlation-Id"] == accepted["correlationId"] == f"co-{customer}"
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
    assert order["correlationId"] == f"co-{paid_order['customer']}"
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


# --- IAM (SigV4) callers: the second API ------------------------------------------------------------------


def iam_user(hub: Hub, name: str, *methods: str) -> Credentials:
    """An IAM user of the local cloud whose policy allows execute-api:Invoke on these methods of the IAM API
    (``GET/v1/*``, ``POST/v1/refunds``), as the stack's per-scope managed policies do."""
    api = hub.cloud.local_json["api"]
    prefix = f"arn:aws:execute-api:{hub.cloud.local_json['region']}:123456789012:{api['iam_api_id']}/{hub.cloud.stage}"
    iam = hub.cloud.client("iam")
    user = f"{name}-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="o2c-api",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:Invoke",
                        "Resource": [f"{prefix}/{m}" for m in methods],
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def sigv4(hub: Hub, credentials: Credentials | None) -> Callable[..., tuple[int, dict[str, str], Any]]:
    """Calls the IAM API signed with botocore's SigV4 signer (as a service's SDK, or awscurl, signs them)."""
    base = hub.cloud.local_json["api"]["iam_url"]

    def call(method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(
            method=method,
            url=base + path,
            data=data,
            headers={
                "Content-Type": "application/json",
                **{k.replace("_", "-"): v for k, v in headers.items()},
            },
        )
        if credentials is not None:
            SigV4Auth(credentials, "execute-api", hub.cloud.local_json["region"]).add_auth(request)
        return http(method, base + path, raw=data or None, headers=dict(request.headers.items()))

    return call


def test_an_iam_caller_may_call_what_its_policy_allows_and_keys_are_scoped_to_it(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    reader = sigv4(hub, iam_user(hub, "api-reader", "GET/v1/*"))
    refunder_keys = iam_user(hub, "api-refunder", "GET/v1/*", "POST/v1/refunds")
    refunder = sigv4(hub, refunder_keys)
    status, _, order = reader("GET", paid_order["location"])
    assert status == 200 and order["id"] == paid_order["name"], order
    [payment_intent] = [i for i in order["ids"] if i.startswith("pi_")]
    ask = {"paymentIntentId": payment_intent, "amount": "1.00"}
    key = str(uuid.uuid4())
    # a policy allowing only GET: IAM refuses the refund, before the function sees it
    status, headers, problem = reader("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert status == 403 and headers["Content-Type"] == "application/problem+json", problem
    assert problem["type"] == PROBLEMS + "forbidden" and "execute-api:Invoke" in problem["title"]
    # unsigned, or signed with a wrong secret: 403, as API Gateway answers
    status, _, problem = sigv4(hub, None)("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert (status, problem["title"]) == (403, "Missing Authentication Token")
    forged = sigv4(hub, Credentials(refunder_keys.access_key, "not-the-secret"))
    assert forged("POST", "/v1/refunds", ask, Idempotency_Key=key)[0] == 403
    # allowed: the refund is asked; the caller is the IAM user, its keys its own
    first = refunder("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert first[0] == 202, first
    again = refunder("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert again[2] == first[2] and again[1]["Idempotent-Replayed"] == "true"
    # another caller's same key is another request: no replay of the first caller's refund
    other = sigv4(hub, iam_user(hub, "api-refunder-2", "POST/v1/refunds"))(
        "POST", "/v1/refunds", ask, Idempotency_Key=key
    )
    assert other[0] == 202 and "Idempotent-Replayed" not in other[1] and other[2]["id"] != first[2]["id"]
    partner = caller(hub)("POST", "/v1/refunds", ask, Idempotency_Key=key)
    assert partner[0] == 202 and partner[2]["id"] not in (first[2]["id"], other[2]["id"])
    for accepted in (first[2], other[2], partner[2]):
        location = str(accepted["location"])

        def refund(location: str = location) -> tuple[int, dict[str, str], Any]:
            return reader("GET", location)

        wait_for(lambda: refund()[2].get("status") == "booked", refund)
    asked_by = {r["metadata"].get("o2c_refund_request_id") for r in hub.cloud.sandboxes["stripe"].refunds()}
    assert {first[2]["id"], other[2]["id"], partner[2]["id"]} <= asked_by


# --- correlation ids carried into the events ----------------------------------------------------------------


def bus_events(hub: Hub, correlation_id: str) -> list[Any]:
    """The events on the hub's bus with this correlation id, as the lineage recorder recorded them."""
    from shared.lineage import LineageStore

    store = LineageStore(hub.cloud.client("dynamodb"), hub.cloud.resources["tables"]["LineageTable"])
    return [e for e in store.entries_for(correlation_id) if e.correlation_id == correlation_id]


def test_the_callers_correlation_id_is_on_the_events_its_order_and_refund_cause(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    order_events = {e.detail_type for e in bus_events(hub, f"co-{paid_order['customer']}")}
    # the order's execution (ERP, tax, payment) and Stripe's webhooks back for its payment
    assert {
        "OrderCreated",
        "InvoicePosted",
        "PaymentAuthorized",
        "PaymentCaptured",
        "InvoicePaid",
    } <= order_events
    call = caller(hub)
    order = call("GET", paid_order["location"])[2]
    [payment_intent] = [i for i in order["ids"] if i.startswith("pi_")]
    correlation = f"refund-{uuid.uuid4().hex[:8]}"
    status, headers, accepted = call(
        "POST",
        "/v1/refunds",
        {"paymentIntentId": payment_intent, "amount": "2.00"},
        Idempotency_Key=str(uuid.uuid4()),
        X_Correlation_Id=correlation,
    )
    assert status == 202 and headers["X-Correlation-Id"] == accepted["correlationId"] == correlation
    wait_for(
        lambda: call("GET", accepted["location"])[2].get("status") == "booked",
        lambda: call("GET", accepted["location"]),
    )
    # asked, confirmed by Stripe's webhook, booked in the ERP: all under the caller's id
    refund_events = wait_for(
        lambda: (
            (found := {e.detail_type for e in bus_events(hub, correlation)})
            >= {"RefundRequested", "RefundBooked"}
            and found
        ),
        lambda: {e.detail_type for e in bus_events(hub, correlation)},
    )
    assert "RefundSucceeded" in refund_events, refund_events


# --- the support view ---------------------------------------------------------------------------------------


def test_the_support_view_shows_a_customers_open_dispute_and_payment_status(
    hub: Hub, paid_order: dict[str, Any]
) -> None:
    reader = caller(hub, "reader")
    order = reader("GET", paid_order["location"])[2]
    [payment_intent] = [i for i in order["ids"] if i.startswith("pi_")]
    status, _, view = reader("GET", f"/v1/customers/{paid_order['customer']}")
    assert (
        status == 200
        and view["openDisputes"] == []
        and view["crmAccount"] is None
        and view["dunning"] is None
    )
    assert [p["id"] for p in view["lastPayments"]] == [payment_intent]
    stripe = hub.cloud.sandboxes["stripe"]
    charge = next(c["id"] for c in stripe.charges() if c["payment_intent"] == payment_intent)
    dispute_id = stripe.open_dispute(charge, reason="fraudulent")
    view = wait_for(
        lambda: (
            (v := reader("GET", f"/v1/customers/{paid_order['customer']}")[2])["openDisputes"]
            and v["openDisputes"][0].get("erpDisputeHoldId")
            and v
        ),
        lambda: reader("GET", f"/v1/customers/{paid_order['customer']}"),
    )
    [dispute] = view["openDisputes"]
    assert (dispute["disputeId"], dispute["status"], dispute["reason"]) == (
        dispute_id,
        "needs_response",
        "fraudulent",
    )
    assert dispute["paymentIntentId"] == payment_intent and dispute["evidenceDueBy"]
    assert [p["status"] for p in view["lastPayments"]] == ["disputed"]
