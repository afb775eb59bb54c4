"""The /v1 API's rules as a client meets them, through the resolver (fake hub behind it, idempotency on a
moto table): problem+json errors with stable types, request and correlation ids on every response, and the
Idempotency-Key rules (replay, reuse with another body, still running, scoped to the caller)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from infra.topology import IDEMPOTENCY_TABLE
from localcloud.provision import create_table
from shared.api.app import build, handle, openapi_json
from shared.api.deprecation import Deprecation
from shared.api.idempotency_keys import IdempotentPosts
from shared.api.problems import TYPE_BASE, Problem
from shared.api.resources import OrderIn, OrderView, RefundIn

ORDER: dict[str, Any] = {
    "currency": "EUR",
    "customer": {
        "externalId": "cust-1",
        "name": "Acme GmbH",
        "email": "billing@acme.example",
        "billingAddress": {"street": "Hauptstr. 1", "city": "Berlin", "postalCode": "10115", "country": "DE"},
        "taxId": "DE123456789",
    },
    "lines": [{"sku": "PLAN-PRO", "name": "Pro plan", "quantity": 2, "unitPrice": "50.00"}],
}


class FakeHub:
    def __init__(self) -> None:
        self.orders: list[str] = []
        self.refunds: list[str] = []
        self.on_order: Any = None
        self.customers: list[str] = []
        #: the caller's correlation id each POST handed the hub (None: the caller gave none)
        self.correlations: list[str | None] = []

    def start_order(self, order: OrderIn, order_id: str, correlation_id: str | None) -> tuple[str, str]:
        self.orders.append(order_id)
        self.correlations.append(correlation_id)
        if self.on_order:
            self.on_order()
        return f"api-{order_id}", correlation_id or f"api:{order_id}"

    def request_refund(
        self, refund: RefundIn, request_id: str, *, by: str, correlation_id: str | None = None
    ) -> str:
        if refund.paymentIntentId == "pi_unknown":
            raise Problem("business-rejection", "no captured payment pi_unknown is known to the hub")
        self.refunds.append(request_id)
        self.correlations.append(correlation_id)
        return correlation_id or "hubspot:1"

    def upsert_customer(self, customer: Any) -> Any:
        from shared.api.resources import CustomerView

        self.customers.append(customer.externalId)
        return CustomerView(id=f"api-{customer.externalId}", erpCustomerId="7", stripeCustomerId="cus_1")

    def order_view(self, any_id: str) -> OrderView | None:
        return None

    def refund_view(self, any_id: str) -> None:
        return None


@pytest.fixture
def api(aws_env: None) -> Iterator[tuple[Any, FakeHub, Any]]:
    with mock_aws():
        import boto3

        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "idem", IDEMPOTENCY_TABLE)
        hub = FakeHub()
        posts = IdempotentPosts("idem", client=ddb)
        app = build(lambda: hub, lambda: posts, stage="local")
        yield app, hub, posts


def event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    client_id: str | None = "partner-a",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        hdrs["Idempotency-Key"] = key
    ctx: dict[str, Any] = {"requestId": str(uuid.uuid4()), "stage": "local", "identity": {}}
    if client_id:
        ctx["authorizer"] = {"claims": {"client_id": client_id, "scope": "o2c/read"}}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": ctx,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def call(app: Any, ev: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    out = handle(app, ev, None)
    headers = {k: str(v) for k, v in (out.get("headers") or {}).items()}
    for k, values in (out.get("multiValueHeaders") or {}).items():
        headers.setdefault(k, str(values[-1]))
    body = json.loads(out["body"]) if out.get("body") else None
    return out["statusCode"], headers, body


def test_an_order_is_accepted_once_per_key_and_replayed_with_a_header(api: Any) -> None:
    app, hub, _ = api
    key = str(uuid.uuid4())
    status, headers, body = call(app, event("POST", "/v1/orders", ORDER, key=key))
    assert status == 202, body
    assert headers["Location"] == body["location"] == f"/v1/orders/{body['id']}"
    assert "Idempotent-Replayed" not in headers
    again_status, again_headers, again = call(app, event("POST", "/v1/orders", ORDER, key=key))
    assert (again_status, again) == (202, body)
    assert again_headers["Idempotent-Replayed"] == "true"
    assert len(hub.orders) == 1
    # the same body in another key order and spacing is the same request
    reordered = json.loads(json.dumps(ORDER, sort_keys=True))
    assert call(app, event("POST", "/v1/orders", reordered, key=key))[0] == 202
    assert len(hub.orders) == 1


def test_a_key_reused_with_another_body_is_refused(api: Any) -> None:
    app, hub, _ = api
    key = str(uuid.uuid4())
    assert call(app, event("POST", "/v1/orders", ORDER, key=key))[0] == 202
    other = {**ORDER, "reference": "another order"}
    status, headers, body = call(app, event("POST", "/v1/orders", other, key=key))
    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert body["type"] == TYPE_BASE + "idempotency-key-reused"
    assert len(hub.orders) == 1


def test_keys_are_scoped_to_the_caller(api: Any) -> None:
    app, hub, _ = api
    key = "same-key"
    a = call(app, event("POST", "/v1/orders", ORDER, key=key, client_id="partner-a"))
    b = call(app, event("POST", "/v1/orders", ORDER, key=key, client_id="partner-b"))
    assert a[0] == b[0] == 202
    assert a[2]["id"] != b[2]["id"] and len(hub.orders) == 2
    assert "Idempotent-Replayed" not in b[1]


def test_while_the_first_request_runs_a_second_with_its_key_is_a_conflict(api: Any) -> None:
    app, hub, posts = api
    key = str(uuid.uuid4())
    # a second function instance (its own resolver) gets the same request while the first one works
    other = build(lambda: hub, lambda: posts, stage="local")
    seen: list[tuple[int, dict[str, Any]]] = []

    def concurrent() -> None:
        hub.on_order = None
        status, _, body = call(other, event("POST", "/v1/orders", ORDER, key=key))
        seen.append((status, body))

    hub.on_order = concurrent
    assert call(app, event("POST", "/v1/orders", ORDER, key=key))[0] == 202
    [(status, body)] = seen
    assert status == 409 and body["type"] == TYPE_BASE + "conflict"
    assert len(hub.orders) == 1


def test_every_post_needs_an_idempotency_key(api: Any) -> None:
    app, hub, _ = api
    for path, body in (("/v1/orders", ORDER), ("/v1/refunds", {"paymentIntentId": "pi_1"})):
        status, _headers, problem = call(app, event("POST", path, body))
        assert status == 422 and problem["type"] == TYPE_BASE + "validation"
        assert "idempotency-key" in problem["detail"].lower()
    assert hub.orders == [] and hub.refunds == []


def test_a_business_rejection_is_not_remembered_so_the_key_can_be_retried(api: Any) -> None:
    app, _hub, _ = api
    key = str(uuid.uuid4())
    status, _, body = call(app, event("POST", "/v1/refunds", {"paymentIntentId": "pi_unknown"}, key=key))
    assert status == 422 and body["type"] == TYPE_BASE + "business-rejection"
    status, _, body = call(app, event("POST", "/v1/refunds", {"paymentIntentId": "pi_unknown"}, key=key))
    assert status == 422 and body["type"] == TYPE_BASE + "business-rejection"


def test_invalid_bodies_are_validation_problems_naming_the_field(api: Any) -> None:
    app, hub, _ = api
    bad = {**ORDER, "lines": [{"name": "x", "quantity": 0, "unitPrice": "1.00"}], "surprise": 1}
    status, _headers, body = call(app, event("POST", "/v1/orders", bad, key="k1"))
    assert status == 422 and body["type"] == TYPE_BASE + "validation"
    locations = {e["location"] for e in body["errors"]}
    assert any("quantity" in loc for loc in locations) and any("surprise" in loc for loc in locations)
    assert hub.orders == []
    status, _, body = call(
        app, event("POST", "/v1/refunds", {"paymentIntentId": "pi_1", "amount": "-1"}, key="k2")
    )
    assert status == 422 and body["type"] == TYPE_BASE + "validation"


def test_every_response_has_a_request_id_and_a_correlation_id(api: Any) -> None:
    app, _, _ = api
    ev = event("GET", "/v1/orders/ord_nothing", headers={"X-Correlation-Id": "checkout-42"})
    status, headers, body = call(app, ev)
    assert status == 404 and body["type"] == TYPE_BASE + "not-found"
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["X-Request-Id"] == ev["requestContext"]["requestId"]
    assert headers["X-Correlation-Id"] == "checkout-42"
    # no (or an unusable) correlation id: the hub makes one
    _, headers, _ = call(app, event("GET", "/v1/refunds/rr_x", headers={"X-Correlation-Id": "\u00e9"}))
    assert headers["X-Correlation-Id"].startswith("api:")
    status, headers, body = call(app, event("GET", "/v1/nowhere"))
    assert status == 404 and body["type"] == TYPE_BASE + "not-found" and headers["X-Request-Id"]


def test_a_callers_correlation_id_is_the_one_the_events_of_its_post_carry(api: Any) -> None:
    app, hub, _ = api
    given = {"X-Correlation-Id": "checkout-7f3a"}
    status, headers, body = call(app, event("POST", "/v1/orders", ORDER, key="c1", headers=given))
    assert status == 202 and headers["X-Correlation-Id"] == body["correlationId"] == "checkout-7f3a"
    refund = {"paymentIntentId": "pi_1", "amount": "5.00"}
    status, headers, body = call(app, event("POST", "/v1/refunds", refund, key="c2", headers=given))
    assert status == 202 and headers["X-Correlation-Id"] == body["correlationId"] == "checkout-7f3a"
    # none given, or one the webhooks would refuse back from Stripe's metadata (a space, a card number):
    # the hub's own flow ids, and the response says which
    for unusable in ({}, {"X-Correlation-Id": "two words"}, {"X-Correlation-Id": "c-4242424242424242"}):
        status, headers, body = call(
            app, event("POST", "/v1/refunds", refund, key=str(uuid.uuid4()), headers=unusable)
        )
        assert status == 202 and headers["X-Correlation-Id"] == body["correlationId"] == "hubspot:1"
    assert hub.correlations == ["checkout-7f3a", "checkout-7f3a", None, None, None]


def test_a_request_without_a_caller_is_unauthorized(api: Any) -> None:
    app, hub, _ = api
    status, _, body = call(app, event("POST", "/v1/orders", ORDER, key="k", client_id=None))
    assert status == 401 and body["type"] == TYPE_BASE + "unauthorized"
    assert hub.orders == []


def test_amounts_are_decimal_strings_never_floats() -> None:
    assert RefundIn(paymentIntentId="pi_1", amount="10.50").amount == "10.50"
    for bad in (10.5, "1e3", "0", "0.00", "-1", "1.2345"):
        with pytest.raises(ValueError):
            RefundIn(paymentIntentId="pi_1", amount=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OrderIn.model_validate({**ORDER, "lines": []})


def test_a_customer_is_written_once_per_key_and_answered_201_with_its_ids(api: Any) -> None:
    app, hub, _ = api
    customer = {**ORDER["customer"], "currency": "EUR"}
    key = str(uuid.uuid4())
    status, headers, body = call(app, event("POST", "/v1/customers", customer, key=key))
    assert (status, headers["Location"]) == (201, "/v1/customers/cust-1"), body
    assert body["erpCustomerId"] == "7" and body["stripeCustomerId"] == "cus_1"
    again = call(app, event("POST", "/v1/customers", customer, key=key))
    assert (again[0], again[2], again[1]["Idempotent-Replayed"]) == (201, body, "true")
    assert hub.customers == ["cust-1"]


def test_a_customers_holds_are_its_orders_held_and_not_yet_paid_or_settled() -> None:
    from shared.api.services import HubServices
    from tests.unit.test_refund_path import entry

    def at(e: Any, when: str) -> Any:
        import dataclasses

        return dataclasses.replace(e, occurred_at=when, event_id=f"{e.event_id}-{when}")

    created = [entry("OrderCreated", {"erpOrderId": o, "erpCustomerId": "7"}) for o in ("so1", "so2", "so3")]
    lineage = {
        "so1": [
            at(entry("OrderOnHold", {"erpOrderId": "so1", "reason": "payment_declined"}), "2026-12-01T10")
        ],
        "so2": [
            at(entry("OrderOnHold", {"erpOrderId": "so2", "reason": "payment_declined"}), "2026-12-01T10"),
            at(entry("OrderActivated", {"erpOrderId": "so2"}), "2026-12-01T11"),
        ],
        "so3": [],
    }

    class Lineage:
        def entries_for(self, the_id: str) -> list[Any]:
            return lineage.get(the_id, [])

    services = HubServices()
    services.__dict__["_lineage"] = Lineage()
    assert services._holds(created) == ["so1: payment_declined"]


def test_a_body_that_is_not_utf8_is_a_validation_problem(api: Any) -> None:
    """API Gateway hands a non-UTF-8 body over base64-encoded: the answer is 422, not a crashed function."""
    app, hub, _ = api
    ev = event("POST", "/v1/orders", key="k-bytes")
    ev.update(body=base64.b64encode(b"\x97M\xff\xfe").decode(), isBase64Encoded=True)
    status, headers, body = call(app, ev)
    assert (status, headers["Content-Type"], body["type"]) == (
        422,
        "application/problem+json",
        TYPE_BASE + "validation",
    )
    assert hub.orders == []


@pytest.mark.parametrize("external_id", ["acme.gmbh", "acme:1", "a" * 201])
def test_a_customer_external_id_the_erp_cannot_take_is_refused_before_any_write(
    api: Any, external_id: str
) -> None:
    """The ERP customer is ``api-<externalId>`` and NetSuite external ids are letters, digits, _ and -: a
    customer id outside that is a validation problem, for a customer as for an order's customer."""
    app, hub, _ = api
    customer = {**ORDER["customer"], "externalId": external_id}
    status, _, body = call(app, event("POST", "/v1/customers", {**customer, "currency": "EUR"}, key="k-c"))
    assert status == 422 and body["type"] == TYPE_BASE + "validation", body
    status, _, body = call(app, event("POST", "/v1/orders", {**ORDER, "customer": customer}, key="k-o"))
    assert status == 422 and body["type"] == TYPE_BASE + "validation", body
    assert hub.customers == [] and hub.orders == []


def test_a_deprecated_operation_is_marked_in_the_document_and_says_so_on_every_answer(api: Any) -> None:
    """No real route is deprecated: the test deprecates two. The document marks them ``deprecated``; each of
    their answers, success or problem, carries Deprecation (RFC 9745, ``@<epoch seconds>``), Sunset (RFC 8594,
    an HTTP-date) and Link; the other operations' answers carry none."""
    _, hub, posts = api
    since, sunset = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 7, 1, tzinfo=UTC)
    page = "https://o2c-hub.dev/deprecations/v1-orders"
    notice = Deprecation(since=since, sunset=sunset, link=page)
    app = build(
        lambda: hub, lambda: posts, stage="local", deprecations={"getOrder": notice, "upsertCustomer": notice}
    )
    document = json.loads(openapi_json(app))
    flags = {
        op["operationId"]: op.get("deprecated", False)
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {k for k, v in flags.items() if v} == {"getOrder", "upsertCustomer"}
    expected = {
        "Deprecation": "@1798761600",
        "Sunset": "Thu, 01 Jul 2027 00:00:00 GMT",
        "Link": f'<{page}>; rel="deprecation"; type="text/html", <{page}>; rel="sunset"; type="text/html"',
    }
    customer = {**ORDER["customer"], "currency": "EUR"}
    ev = event("GET", "/v1/orders/ord_1")
    ev["resource"] = "/v1/orders/{id}"
    answers = [
        call(app, event("POST", "/v1/customers", customer, key="k-dep")),  # 201
        call(app, ev),  # 404 problem
        call(app, event("POST", "/v1/customers", {"name": "x"}, key="k-bad")),  # 422 problem
    ]
    assert [status for status, _, _ in answers] == [201, 404, 422]
    for _, headers, _ in answers:
        assert {k: headers.get(k) for k in expected} == expected
    status, headers, _ = call(app, event("POST", "/v1/orders", ORDER, key="k-ord"))
    assert status == 202 and "Deprecation" not in headers and "Sunset" not in headers


def test_a_deprecation_must_name_an_operation(api: Any) -> None:
    _, hub, posts = api
    notice = Deprecation(since=datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="getOrders"):
        build(lambda: hub, lambda: posts, stage="local", deprecations={"getOrders": notice})
    assert Deprecation(since=datetime(2027, 1, 1, tzinfo=UTC)).headers() == {"Deprecation": "@1798761600"}


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/merge-patch+json",
    ],
)
def test_a_body_that_is_not_json_is_a_validation_problem(api: Any, content_type: str) -> None:
    """The API takes JSON only: a form (even one whose fields would do) or a multipart body without its
    boundary is refused 422 before anything is done, never a crash."""
    app, hub, _ = api
    ev = event("POST", "/v1/refunds", key="k-form", headers={"Content-Type": content_type})
    ev["body"] = "paymentIntentId=pi_1&amount=10.00"
    status, headers, body = call(app, ev)
    assert (status, headers["Content-Type"], body["type"]) == (
        422,
        "application/problem+json",
        TYPE_BASE + "validation",
    )
    assert hub.refunds == []
