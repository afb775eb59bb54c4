"""The demo's /v1 API part, as a partner's checkout uses it: a token from the token endpoint (OAuth client
credentials), a customer created, an order submitted and paid (the customer saves a card as in the other
deals), its payment status read and a partial refund started with an Idempotency-Key, then seen booked.
Every step is checked; a failure is added to ``failures`` (the demo then exits 1)."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from o2c_cli.http import Reply, request


def api_demo(cloud: Any, target: Any, failures: list[str]) -> None:
    from o2c_cli import playbook

    api = cloud.local_json["api"]
    base = cloud.api_url
    correlation = f"demo-checkout-{uuid.uuid4().hex[:8]}"

    def check(label: str, ok: bool, detail: Any = "") -> bool:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}" + ("" if ok else f": {detail}"))
        if not ok:
            failures.append(f"API: {label}: {detail}")
        return ok

    client = api["clients"]["partner"]
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    print(f"  $ curl -u <client_id>:<secret> -d grant_type=client_credentials {api['token_url']}")
    reply = request(
        "POST",
        api["token_url"],
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    if not check("token (client credentials)", reply.status == 200, reply.text):
        return
    token = reply.json()["access_token"]

    def call(method: str, path: str, body: Any = None, key: str | None = None) -> Reply:
        # the token authorizes; the client's usage-plan key (x-api-key) meters it
        headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": client["api_key"],
            "X-Correlation-Id": correlation,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        data = json.dumps(body).encode() if body is not None else None
        return request(method, base + path, data, headers)

    def until(probe: Callable[[], Any], timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        found = probe()
        while not found and time.monotonic() < deadline:
            time.sleep(0.5)
            found = probe()
        return found

    external = f"checkout-{uuid.uuid4().hex[:6]}"
    customer = {
        "externalId": external,
        "name": "Contoso Self-Serve GmbH",
        "email": f"billing+{external}@contoso.example",
        "billingAddress": {"street": "Hauptstr. 1", "city": "Berlin", "postalCode": "10115", "country": "DE"},
        "taxId": "DE298765432",
        "region": "EMEA",
        "currency": "EUR",
    }
    reply = call("POST", "/v1/customers", customer, key=str(uuid.uuid4()))
    created = reply.json() or {}
    if not check(
        f"POST /v1/customers → {reply.status} ERP {created.get('erpCustomerId')}, Stripe {created.get('stripeCustomerId')}",
        reply.status == 201 and str(created.get("stripeCustomerId", "")).startswith("cus_"),
        reply.text,
    ):
        return
    order = {
        "currency": "EUR",
        "reference": "self-serve checkout",
        "customer": {k: v for k, v in customer.items() if k != "currency"},
        "lines": [{"sku": "PLAN-PRO", "name": "Pro plan", "quantity": 2, "unitPrice": "100.00"}],
    }
    reply = call("POST", "/v1/orders", order, key=str(uuid.uuid4()))
    accepted = reply.json() or {}
    if not check(
        f"POST /v1/orders → {reply.status}, Location {reply.headers.get('location')}, "
        f"correlation id {reply.headers.get('x-correlation-id')}",
        reply.status == 202 and reply.headers.get("x-correlation-id") == correlation,
        reply.text,
    ):
        return
    name = accepted["id"]
    try:
        playbook.save_card(cloud, target, name, "pm_card_visa")
        playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    except AssertionError as exc:
        check(f"order {name}: the customer saves a card and it is paid", False, exc)
        return
    view = call("GET", accepted["location"]).json() or {}
    if not check(
        f"GET {accepted['location']} → {view.get('state')} ({view.get('status')})",
        view.get("state") == "Paid",
        view,
    ):
        return
    intent = next((i for i in view.get("ids", []) if i.startswith("pi_")), "")

    def applied() -> Any:
        payment = call("GET", f"/v1/payments/{intent}").json() or {}
        return payment if payment.get("status") == "applied" else None

    payment = until(applied)
    if not check(
        f"GET /v1/payments/{intent} → {(payment or {}).get('status')} (Stripe and the ERP)",
        bool(payment),
        call("GET", f"/v1/payments/{intent}").text,
    ):
        return
    key = str(uuid.uuid4())
    ask = {"paymentIntentId": intent, "amount": "20.00", "reason": "requested_by_customer"}
    first, again = call("POST", "/v1/refunds", ask, key=key), call("POST", "/v1/refunds", ask, key=key)
    refund = first.json() or {}
    check(
        f"POST /v1/refunds (Idempotency-Key {key[:8]}…) → {first.status} {refund.get('id')}; "
        f"again → {again.status}, Idempotent-Replayed: {again.headers.get('idempotent-replayed')}",
        first.status == again.status == 202
        and again.headers.get("idempotent-replayed") == "true"
        and again.json() == refund,
        (first.text, again.text),
    )
    if first.status != 202:
        return

    def booked() -> Any:
        state = call("GET", refund["location"]).json() or {}
        return state if state.get("status") == "booked" else None

    state = until(booked)
    check(
        f"GET {refund['location']} → booked: Stripe {(state or {}).get('stripeRefundId')}, "
        f"ERP credit memo {(state or {}).get('erpCreditMemoId')}",
        bool(state) and (state or {}).get("amount") == {"amount": 2000, "currency": "EUR"},
        call("GET", refund["location"]).text,
    )
    refunds = [
        r
        for r in cloud.sandboxes["stripe"].refunds()
        if r["metadata"].get("o2c_refund_request_id") == refund.get("id")
    ]
    check("one Stripe refund for the key asked twice", len(refunds) == 1, refunds)
