"""The Stripe sandbox answers only with fields Stripe has at API 2026-10-28.endive: every object it returns
(a customer, a SetupIntent, PaymentIntents authorized, captured and declined, their charges and payment
methods, refunds, a dispute, a subscription and its renewal invoice and invoice payment, a payout and its
balance transactions in a converted currency, webhook endpoints, and every event), walked field by field
against the resources of ``vendor-specs/stripe/stripe-contract.json``: each field name must be the
resource's, each enum value one of its enum, each ``null`` on a nullable field."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from localcloud.sandboxes.stripe.contract import contract

API_KEY = "sk_test_51O2cHubShapesKey"

# Being changed in parallel by the stripe-defects work (issue 10, defects 5-8, billing.py / balance.py):
# the invoice's period and payment fields and the payout's reconciliation follow Stripe's current objects
# there. Until that lands, these known differences are allowed here; delete each line once it is gone (the
# stripe-defects branch removes invoice.payment_intent: with it merged, this set can be emptied).
# The others being changed there are meanings, not names, so this walk cannot see them: the invoice's
# period_start/period_end (defect 6: the line's period is the service period), the payout's
# reconciliation_status (defect 7) and the balance transaction's exchange_rate (defect 8).
PENDING: set[str] = {
    "invoice.payment_intent",  # defect 5: no payment_intent on an invoice since 2025-03-31.basil
}


def call(sandbox: StripeSandbox, method: str, path: str, form: list[tuple[str, str]] | None = None) -> Any:
    data = urlencode(form or []).encode() if method == "POST" else None
    query = "?" + urlencode(form) if method == "GET" and form else ""
    request = urllib.request.Request(sandbox.url + path + query, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Authorization", f"Bearer {API_KEY}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


@pytest.fixture(scope="module")
def answers() -> Iterator[list[dict[str, Any]]]:
    """Every object the sandbox answered in a representative run, and every event it sent."""
    with StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe",
        webhook_secret="whsec_x",
        api_key=API_KEY,
        webhook_delay_s=0,
        settlement={"jpy": ("usd", "0.0067")},
    ) as sb:
        got: list[dict[str, Any]] = []
        customer = call(
            sb, "POST", "/v1/customers", [("name", "Acme"), ("metadata[o2c_erp_customer_id]", "C-1")]
        )
        got.append(customer)
        got.append(call(sb, "GET", f"/v1/customers/{customer['id']}"))
        got.append(
            call(sb, "GET", "/v1/customers/search", [("query", "metadata['o2c_erp_customer_id']:'C-1'")])
        )
        seti = call(
            sb,
            "POST",
            "/v1/setup_intents",
            [
                ("customer", customer["id"]),
                ("usage", "off_session"),
                ("allowed_payment_method_types[0]", "card"),
            ],
        )
        got.append(seti)
        got.append(
            call(sb, "POST", f"/v1/setup_intents/{seti['id']}/confirm", [("payment_method", "pm_card_visa")])
        )
        got.append(call(sb, "GET", f"/v1/setup_intents/{seti['id']}"))
        refused_seti = call(sb, "POST", "/v1/setup_intents", [("customer", customer["id"])])
        refused = call(
            sb,
            "POST",
            f"/v1/setup_intents/{refused_seti['id']}/confirm",
            [("payment_method", "pm_card_chargeDeclined")],
        )
        got.append(refused["error"]["setup_intent"])
        pm = sb.setup_intents()[0]["payment_method"]
        paid = []
        for amount, currency in (("2000", "usd"), ("150000", "jpy")):
            pi = call(
                sb,
                "POST",
                "/v1/payment_intents",
                [
                    ("amount", amount),
                    ("currency", currency),
                    ("customer", customer["id"]),
                    ("payment_method", pm),
                    ("allowed_payment_method_types[0]", "card"),
                    ("capture_method", "manual"),
                    ("confirm", "true"),
                    ("off_session", "true"),
                ],
            )
            got.append(pi)
            got.append(call(sb, "POST", f"/v1/payment_intents/{pi['id']}/capture"))
            paid.append(pi)
        declined = call(
            sb,
            "POST",
            "/v1/payment_intents",
            [
                ("amount", "500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        got.append(declined["error"]["payment_intent"])
        got.append(declined["error"]["payment_method"])
        pending = call(sb, "POST", "/v1/payment_intents", [("amount", "700"), ("currency", "usd")])
        got.append(call(sb, "POST", f"/v1/payment_intents/{pending['id']}/cancel"))
        got.append(call(sb, "POST", "/v1/refunds", [("payment_intent", paid[0]["id"]), ("amount", "500")]))
        charge_of = {pi["id"]: sb.payment_intent(pi["id"])["latest_charge"] for pi in paid}
        for payout in sb.create_payouts():
            got.append(call(sb, "GET", f"/v1/payouts/{payout}"))
            got.append(call(sb, "GET", "/v1/balance_transactions", [("payout", payout), ("limit", "100")]))
        dispute = sb.open_dispute(charge_of[paid[1]["id"]])
        sb.close_dispute(dispute, "lost")
        subscription = sb.create_subscription(customer["id"], 3000, "usd")
        invoice = sb.renew(subscription)
        got.append(call(sb, "GET", f"/v1/invoices/{invoice}"))
        got.append(call(sb, "GET", f"/v1/subscriptions/{subscription}"))
        got.append(call(sb, "GET", "/v1/invoice_payments", [("invoice", invoice)]))
        # a subscription deal's: a product and a subscription made over the API, its first cycle billed
        product = call(sb, "POST", "/v1/products", [("name", "Platform"), ("metadata[o2c_sku]", "PLAT")])
        got.append(product)
        made = call(
            sb,
            "POST",
            "/v1/subscriptions",
            [
                ("customer", customer["id"]),
                ("default_payment_method", pm),
                ("items[0][price_data][currency]", "usd"),
                ("items[0][price_data][product]", product["id"]),
                ("items[0][price_data][recurring][interval]", "year"),
                ("items[0][price_data][unit_amount]", "120000"),
                ("items[0][quantity]", "2"),
                ("trial_end", str(int(time.time()) + 86400)),
                ("metadata[o2c_erp_order_id]", "SO-1"),
            ],
        )
        got.append(made)
        got.append(call(sb, "GET", f"/v1/invoices/{sb.renew(made['id'])}"))
        got.append(call(sb, "GET", "/v1/subscriptions", [("customer", customer["id"]), ("status", "all")]))
        for store in (sb.charges(), sb.refunds(), sb.disputes(), sb.balance_transactions()):
            got += store
        got.append(call(sb, "GET", f"/v1/charges/{charge_of[paid[0]['id']]}"))
        got.append(call(sb, "GET", f"/v1/disputes/{dispute}"))
        endpoint = call(
            sb,
            "POST",
            "/v1/webhook_endpoints",
            [
                ("url", "https://hub.example/w"),
                ("enabled_events[0]", "*"),
                ("api_version", "2026-10-28.endive"),
            ],
        )
        got.append(endpoint)
        got.append(call(sb, "GET", "/v1/webhook_endpoints"))
        got += sb.events()
        assert all("error" not in answer for answer in got), [a for a in got if "error" in a]
        yield got


def test_the_run_covers_the_objects_the_hub_reads(answers: list[dict[str, Any]]) -> None:
    seen: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("object"), str):
                seen.add(node["object"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(answers)
    assert seen >= {
        "customer",
        "setup_intent",
        "payment_intent",
        "payment_method",
        "charge",
        "refund",
        "dispute",
        "invoice",
        "invoice_payment",
        "subscription",
        "payout",
        "balance_transaction",
        "event",
        "webhook_endpoint",
        "list",
    }


def test_every_field_and_enum_value_is_stripes(answers: list[dict[str, Any]]) -> None:
    problems: set[str] = set()
    for answer in answers:
        _walk(answer, answer.get("object"), answer.get("object") or "?", problems)
    assert sorted(problems - PENDING) == []


def _walk(node: Any, kind: str | None, where: str, problems: set[str], item_kind: str | None = None) -> None:
    """Check ``node`` against resource (or nested class) ``kind``; ``where`` names it in the problems
    (``payment_intent.last_payment_error.code``), without ids so that problems are counted once. A list's
    items are of ``item_kind`` when they do not say."""
    resources = contract()["resources"]
    if kind in ("list", "search_result"):
        for item in node.get("data", []):
            of = item.get("object") or item_kind
            _walk(item, of, of or "?", problems)
        extra = set(node) - {"object", "data", "has_more", "url", "next_page", "total_count"}
        problems.update(f"{where}.{name}" for name in extra)
        return
    fields = resources.get(kind or "")
    if fields is None:
        problems.add(f"{where}: not a Stripe resource ({kind})")
        return
    for name, value in node.items():
        spec = fields.get(name)
        if spec is None:
            problems.add(f"{where}.{name}")
            continue
        _value(spec, value, f"{where}.{name}", problems)


def _value(spec: dict[str, Any], value: Any, where: str, problems: set[str]) -> None:
    if value is None:
        if not spec.get("nullable"):
            problems.add(f"{where}: null, not nullable")
        return
    errors: list[set[str]] = []
    for alt in spec["alts"]:
        found: set[str] = set()
        _alt(alt, value, where, found)
        if not found:
            return
        errors.append(found)
    problems.update(min(errors, key=len) if errors else set())


def _alt(alt: dict[str, Any], value: Any, where: str, problems: set[str]) -> None:
    resources = contract()["resources"]
    kind = alt.get("type")
    if "anyOf" in alt:
        _value({"alts": alt["anyOf"]}, value, where, problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.add(f"{where}: not a string")
        elif "enum" in alt and value not in alt["enum"]:
            problems.add(f"{where}: {value!r} not in Stripe's enum")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(f"{where}: not an integer")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.add(f"{where}: not a boolean")
    elif kind in ("number", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            problems.add(f"{where}: not a number")
    elif kind == "hash":
        if not isinstance(value, dict):
            problems.add(f"{where}: not a hash")
        elif where.endswith("event.data.object") or where.endswith(".data.object"):
            _walk(value, value.get("object"), value.get("object"), problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.add(f"{where}: not an array")
            return
        for item in value:
            _value({"alts": [alt["items"]]}, item, where + "[]", problems)
    elif kind == "object":
        if not isinstance(value, dict):
            problems.add(f"{where}: not an object")
        elif alt.get("ref") in resources:
            ref = alt["ref"]
            _walk(value, ref, where if "." in ref else ref, problems)
    elif kind == "expandable":
        if isinstance(value, dict):
            if alt.get("ref") in resources and value.get("object") == alt["ref"]:
                _walk(value, alt["ref"], alt["ref"], problems)
            elif value.get("object") != alt.get("ref"):
                problems.add(f"{where}: a {value.get('object')}, not a {alt.get('ref')}")
        elif not isinstance(value, str):
            problems.add(f"{where}: neither an id nor an object")
    elif kind == "list":
        if not isinstance(value, dict) or value.get("object") != "list":
            problems.add(f"{where}: not a list object")
        else:
            _walk(value, "list", where, problems, alt.get("ref"))


def test_the_hubs_sample_events_are_stripes() -> None:
    """The Stripe events the hub's tests and the demo send (``events/stripe/``) carry only Stripe's fields
    and enum values: a hub test cannot pass on a field Stripe does not send."""
    samples = sorted((Path(__file__).parents[2] / "events" / "stripe").glob("*.json"))
    assert samples
    problems: set[str] = set()
    for sample in samples:
        event = json.loads(sample.read_text())
        _walk(event, "event", f"{sample.name}:event", problems)
    assert sorted(problems) == []


# Objects built in billing.py / balance.py, which the stripe-defects work is reshaping (defects 5-8): not yet
# held to the fixtures' field set. Delete each once that lands.
SHAPE_PENDING = {"invoice", "line_item", "price", "subscription", "subscription_item", "payout"}
# Fields Stripe leaves out unless asked for with ``expand[]`` ("includable"): Charge ``refunds`` since
# 2022-11-15.
INCLUDABLE = {("charge", "refunds")}


def test_objects_have_every_field_of_stripes_fixture(answers: list[dict[str, Any]]) -> None:
    """Shaped like Stripe's own example objects (``fixtures``): no field of the fixture is missing."""
    fixtures = contract()["fixtures"]
    missing: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("object")
            if isinstance(kind, str) and kind in fixtures and "id" in node and kind not in SHAPE_PENDING:
                missing.update(
                    f"{kind}.{name}"
                    for name in fixtures[kind]
                    if name not in node and (kind, name) not in INCLUDABLE
                )
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(answers)
    assert sorted(missing) == []
