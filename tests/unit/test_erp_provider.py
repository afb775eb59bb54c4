"""ERP events over Standard Webhooks v1, checked against the reference implementation."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import standardwebhooks

from shared.inbound.erp import ErpProvider
from shared.inbound.signatures import standard_webhooks_v1
from shared.ingress.web import Problem, WebhookRequest
from shared.money import Money
from tests.conftest import ROOT

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OLD = "whsec_" + base64.b64encode(b"previous-secret-previous-secret!").decode()
SAMPLES = {p.stem: json.loads(p.read_text()) for p in (ROOT / "events" / "erp").glob("*.json")}


def signed(
    payload: Any, *, msg_id: str = "msg_2Kx1", secret: str = SECRET, ts: int | None = None
) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = int(time.time()) if ts is None else ts
    return WebhookRequest(
        method="POST",
        path="/webhooks/erp",
        body=body,
        headers={
            "webhook-id": msg_id,
            "webhook-timestamp": str(t),
            "webhook-signature": standard_webhooks_v1(secret, msg_id, t, body),
        },
    )


def reason(request: WebhookRequest) -> str:
    try:
        ErpProvider(secrets=lambda: [OLD, SECRET]).verify(request)
    except Problem as problem:
        return problem.reason
    return "ok"


def test_our_signature_is_the_reference_implementations() -> None:
    body = json.dumps(SAMPLES["invoice.posted"]).encode()
    ts = int(time.time())
    reference = standardwebhooks.Webhook(SECRET)
    assert reference.sign(
        "msg_1",
        __import__("datetime").datetime.fromtimestamp(ts, tz=__import__("datetime").UTC),
        body.decode(),
    ) == standard_webhooks_v1(SECRET, "msg_1", ts, body)
    # and the reference verifies what we sign
    request = signed(SAMPLES["invoice.posted"], msg_id="msg_1", ts=ts)
    reference.verify(request.body, {k: v for k, v in request.headers.items()})


def test_several_signatures_and_secrets_during_rotation() -> None:
    request = signed(SAMPLES["invoice.posted"], secret=OLD)
    assert reason(request) == "ok"
    both = WebhookRequest(
        request.method,
        request.path,
        {**request.headers, "webhook-signature": "v1,AAAA " + request.headers["webhook-signature"]},
        request.body,
    )
    assert reason(both) == "ok"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: WebhookRequest(
                r.method, r.path, {k: v for k, v in r.headers.items() if k != "webhook-signature"}, r.body
            ),
            "missing_signature",
        ),
        (
            lambda r: WebhookRequest(r.method, r.path, {**r.headers, "webhook-timestamp": "x"}, r.body),
            "malformed_signature",
        ),
        (
            lambda r: WebhookRequest(r.method, r.path, {**r.headers, "webhook-id": "msg_other"}, r.body),
            "invalid_signature",
        ),
        (lambda r: WebhookRequest(r.method, r.path, r.headers, r.body + b"\n"), "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(mutate: Any, expected: str) -> None:
    assert reason(mutate(signed(SAMPLES["invoice.posted"]))) == expected


def test_stale_and_future_timestamps_are_refused() -> None:
    assert reason(signed(SAMPLES["invoice.posted"], ts=int(time.time()) - 301)) == "stale_timestamp"
    assert reason(signed(SAMPLES["invoice.posted"], ts=int(time.time()) + 301)) == "stale_timestamp"


EXPECTED = {
    "invoice.posted": ("InvoicePosted", "amount", Money.of(2856000, "EUR")),
    "customer_payment.applied": ("CustomerPaymentApplied", "amount", Money.of(2856000, "EUR")),
    "credit_memo.recorded": ("CreditMemoRecorded", "amount", Money.of(50000, "EUR")),
    "customer_refund.recorded": ("RefundRecorded", "amount", Money.of(50000, "EUR")),
    "sales_order.status_changed": ("SalesOrderStatusChanged", None, None),
    "deposit.created": ("DepositCreated", "amount", Money.of(1187500, "USD")),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_erp_facts_map_to_canonical_events(name: str) -> None:
    provider = ErpProvider(secrets=lambda: [SECRET])
    [event] = provider.parse(signed(SAMPLES[name], msg_id=f"msg_{name}"))
    assert event.id == f"msg_{name}" and provider.selects(event)
    [canonical] = provider.normalise(event, "corr")
    detail_type, field, money = EXPECTED[name]
    assert canonical.detail_type == detail_type and canonical.source == "o2c.erp"
    if field:
        assert getattr(canonical.data, field) == money


def test_unknown_erp_type_is_not_selected_and_bad_amount_is_400() -> None:
    provider = ErpProvider(secrets=lambda: [SECRET])
    [unknown] = provider.parse(signed({"type": "vendor_bill.created", "data": {}}))
    assert not provider.selects(unknown)
    bad = {"type": "invoice.posted", "data": {**SAMPLES["invoice.posted"]["data"], "amount": "12.345"}}
    [event] = provider.parse(signed(bad))
    with pytest.raises(Problem) as caught:
        provider.normalise(event, "c")
    assert caught.value.status == 400
