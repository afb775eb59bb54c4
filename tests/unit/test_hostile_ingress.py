"""Hostile and careless input on every webhook route, through the real pipeline on in-process moto: a
4xx (problem+json, or the SOAP reply Salesforce expects), never a 5xx, and nothing published for anything
refused. Property-based (hypothesis, bounded) over headers and bodies, unsigned and signed with the right
secret; plus one test per defect found by hand (issue 11)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import NotFound
from shared.events.envelope import CanonicalEvent
from shared.idempotency import OnceOnly
from shared.inbound.erp import ErpProvider
from shared.inbound.hubspot import HubSpotProvider
from shared.inbound.salesforce import SalesforceProvider
from shared.inbound.signatures import hubspot_v3, standard_webhooks_v1
from shared.inbound.stripe import StripeProvider, signature_header
from shared.ingress.pipeline import IngressPipeline, Provider
from shared.ingress.web import HttpResponse, WebhookRequest
from shared.publisher import EventPublisher
from shared.sensitive import contains_card_number
from tests.conftest import ROOT, stripe_sample
from tests.unit.bus_sink import Cloud
from tests.unit.crm_fixtures import FakeCrm, opportunity

STRIPE_SECRET = "whsec_unit"
ERP_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
HUBSPOT_SECRET = "hubspot-client-secret"
HUBSPOT_BASE = "https://hooks.example.com/prod"
ORG = "00D5g000004DemoEAA"
SF_SAMPLE = (ROOT / "events" / "salesforce" / "outbound_message.xml").read_text()
HUBSPOT_SAMPLE = json.loads((ROOT / "events" / "hubspot" / "deal_closed_won.json").read_text())
ERP_SAMPLE = json.loads((ROOT / "events" / "erp" / "invoice.posted.json").read_text())

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Recording:
    """The real EventBridge publisher (moto), remembering what each request published."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.events: list[CanonicalEvent] = []

    def publish(self, events: Sequence[CanonicalEvent]) -> int:
        self.events.extend(events)
        return self.inner.publish(events)


class Route:
    def __init__(self, cloud: Cloud, provider: Provider) -> None:
        self.publisher = Recording(EventPublisher(cloud.events, "o2c-unit"))
        self.pipeline = IngressPipeline(
            provider,
            publisher=self.publisher,
            once_only=OnceOnly(provider.name, "idem", client=cloud.ddb),
            max_body_bytes=262_144,
        )

    def send(self, request: WebhookRequest) -> HttpResponse:
        before = len(self.publisher.events)
        response = self.pipeline.handle(request)
        assert response.status < 500, (response.status, response.body[:300])
        if response.status >= 300:
            assert len(self.publisher.events) == before, "a refused request published"
        return response


@pytest.fixture
def cloud(aws_env: None) -> Iterator[Cloud]:
    from moto import mock_aws

    with mock_aws():
        yield Cloud("o2c.payments")


def stripe(cloud: Cloud) -> Route:
    return Route(cloud, StripeProvider(secrets=lambda: [STRIPE_SECRET]))


def hubspot(cloud: Cloud, crm: FakeCrm | None = None) -> Route:
    return Route(
        cloud,
        HubSpotProvider(
            client_secrets=lambda: [HUBSPOT_SECRET],
            deals=lambda: crm or FakeCrm(opportunity()),
            public_base_url=HUBSPOT_BASE,
        ),
    )


def erp(cloud: Cloud) -> Route:
    return Route(cloud, ErpProvider(secrets=lambda: [ERP_SECRET]))


def salesforce(cloud: Cloud, crm: FakeCrm | None = None) -> Route:
    return Route(
        cloud,
        SalesforceProvider(
            allowed_org_ids=(ORG,),
            opportunities=lambda: crm or FakeCrm(opportunity("salesforce", "0065g00000DemoOpAA")),
        ),
    )


def request(path: str, body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", path=path, headers=headers, body=body, request_id="req-fuzz")


def stripe_signed(body: bytes) -> WebhookRequest:
    return request("/webhooks/stripe", body, {"stripe-signature": signature_header(body, [STRIPE_SECRET])})


def hubspot_signed(body: bytes) -> WebhookRequest:
    ts = int(time.time() * 1000)
    signature = hubspot_v3(HUBSPOT_SECRET, "POST", HUBSPOT_BASE + "/webhooks/hubspot", body, ts)
    return request(
        "/webhooks/hubspot",
        body,
        {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": str(ts)},
    )


def erp_signed(body: bytes, msg_id: str = "msg_2Kx1") -> WebhookRequest:
    ts = int(time.time())
    return request(
        "/webhooks/erp",
        body,
        {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": standard_webhooks_v1(ERP_SECRET, msg_id, ts, body),
        },
    )


def problem(response: HttpResponse) -> dict[str, Any]:
    assert response.content_type == "application/problem+json"
    return json.loads(response.body)


# --- strategies --------------------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "9" * 400,
        "-" + "9" * 30,
        "1e309",
        "NaN",
        "é",
        "\u0661\u0662\u0663",  # Arabic-Indic digits: int() accepts them
        "\ud800",
        "t=" + "9" * 400 + ",v1=" + "a" * 64,
        "t=1,v1=é",
        f"t={int(time.time())},v1=ü",
        "v1,é",
        "v1,",
        "v1," + "A" * 5000,
        "msg_" + "x" * 5000,
        "a,b,c," * 200,
        "\x00\r\n",
    ]
)
HEADER_VALUE = st.one_of(HOSTILE_TEXT, st.text(max_size=80), st.integers().map(str))
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    HOSTILE_TEXT,
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
RAW_BODY = st.one_of(
    st.binary(max_size=200),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b'"\\ud800"',
            b"NaN",
            b'{"amount": 1e100000}',
            b"1" * 5000,
        ]
    ),
)


def mutate(sample: Any, path: Sequence[str], value: Any) -> Any:
    """``sample`` with the field at ``path`` replaced by ``value``."""
    copy = json.loads(json.dumps(sample))
    node = copy
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(path[-1])] = value
    else:
        node[path[-1]] = value
    return copy


def paths(sample: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    items = (
        sample.items() if isinstance(sample, dict) else enumerate(sample) if isinstance(sample, list) else []
    )
    for key, value in items:
        out.append((*prefix, str(key)))
        out.extend(paths(value, (*prefix, str(key))))
    return out


def mutated(sample: Any) -> st.SearchStrategy[bytes]:
    return st.tuples(st.sampled_from(paths(sample)), JSON_VALUE).map(
        lambda pv: json.dumps(mutate(sample, pv[0], pv[1])).encode()
    )


STRIPE_EVENTS = [
    stripe_sample(n)
    for n in ("payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded", "payout.paid")
]

# --- property-based: every route, headers and bodies --------------------------------------------------


@FUZZ
@given(headers=st.dictionaries(st.sampled_from(["stripe-signature", "x-correlation-id"]), HEADER_VALUE))
def test_stripe_any_signature_header_is_401_never_an_exception(cloud: Cloud, headers: dict[str, str]) -> None:
    response = stripe(cloud).send(request("/webhooks/stripe", json.dumps(STRIPE_EVENTS[0]).encode(), headers))
    assert response.status in (400, 401)


@FUZZ
@given(body=st.one_of(RAW_BODY, *(mutated(e) for e in STRIPE_EVENTS)))
def test_stripe_signed_bodies_are_never_a_5xx(cloud: Cloud, body: bytes) -> None:
    stripe(cloud).send(stripe_signed(body))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["x-hubspot-signature-v3", "x-hubspot-request-timestamp", "x-correlation-id"]),
        HEADER_VALUE,
    )
)
def test_hubspot_any_signature_header_is_401(cloud: Cloud, headers: dict[str, str]) -> None:
    response = hubspot(cloud).send(request("/webhooks/hubspot", json.dumps(HUBSPOT_SAMPLE).encode(), headers))
    assert response.status in (400, 401)


@FUZZ
@given(body=st.one_of(RAW_BODY, mutated(HUBSPOT_SAMPLE)))
def test_hubspot_signed_bodies_are_never_a_5xx(cloud: Cloud, body: bytes) -> None:
    hubspot(cloud).send(hubspot_signed(body))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x-correlation-id"]),
        HEADER_VALUE,
    )
)
def test_erp_any_signature_header_is_401(cloud: Cloud, headers: dict[str, str]) -> None:
    response = erp(cloud).send(request("/webhooks/erp", json.dumps(ERP_SAMPLE).encode(), headers))
    assert response.status in (400, 401)


@FUZZ
@given(body=st.one_of(RAW_BODY, mutated(ERP_SAMPLE)), msg_id=st.one_of(st.just("msg_2Kx1"), HEADER_VALUE))
def test_erp_signed_bodies_are_never_a_5xx(cloud: Cloud, body: bytes, msg_id: str) -> None:
    try:
        req = erp_signed(body, msg_id)
    except UnicodeEncodeError:  # a header no HTTP client could send, and no sender could sign
        return
    erp(cloud).send(req)


SF_FIELDS = ["Id", "IsWon", "StageName", "LastModifiedDate", "OrganizationId"]


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.tuples(st.sampled_from(SF_FIELDS), st.one_of(st.text(max_size=40), HOSTILE_TEXT)).map(
            lambda fv: _sf_with(fv[0], fv[1])
        ),
    )
)
def test_salesforce_any_body_is_never_a_5xx(cloud: Cloud, body: bytes) -> None:
    salesforce(cloud).send(request("/webhooks/salesforce", body, {"content-type": "text/xml"}))


def _sf_with(field: str, value: str) -> bytes:
    from xml.sax.saxutils import escape

    tag = "OrganizationId" if field == "OrganizationId" else f"sf:{field}"
    start, end = SF_SAMPLE.index(f"<{tag}>") + len(f"<{tag}>"), SF_SAMPLE.index(f"</{tag}>")
    clean = "".join(c for c in value if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    return (SF_SAMPLE[:start] + escape(clean) + SF_SAMPLE[end:]).encode()


# --- one test per defect found by hand ------------------------------------------------------------------


def test_a_400_digit_stripe_timestamp_is_401_not_an_overflow(cloud: Cloud) -> None:
    body = json.dumps(STRIPE_EVENTS[0]).encode()
    response = stripe(cloud).send(
        request("/webhooks/stripe", body, {"stripe-signature": "t=" + "9" * 400 + ",v1=ab"})
    )
    assert (response.status, problem(response)["type"]) == (
        401,
        "https://o2c-hub.dev/problems/malformed-signature",
    )


def test_a_400_digit_hubspot_or_erp_timestamp_is_401(cloud: Cloud) -> None:
    huge = "9" * 400
    hub = hubspot(cloud).send(
        request(
            "/webhooks/hubspot", b"[]", {"x-hubspot-signature-v3": "x", "x-hubspot-request-timestamp": huge}
        )
    )
    erp_reply = erp(cloud).send(
        request(
            "/webhooks/erp",
            b"{}",
            {"webhook-id": "msg_1", "webhook-timestamp": huge, "webhook-signature": "v1,x"},
        )
    )
    assert hub.status == erp_reply.status == 401


def test_non_ascii_signatures_are_401_not_a_type_error(cloud: Cloud) -> None:
    body = json.dumps(STRIPE_EVENTS[0]).encode()
    now = int(time.time())
    assert (
        stripe(cloud).send(request("/webhooks/stripe", body, {"stripe-signature": f"t={now},v1=é"})).status
        == 401
    )
    assert (
        hubspot(cloud)
        .send(
            request(
                "/webhooks/hubspot",
                b"[]",
                {"x-hubspot-signature-v3": "é", "x-hubspot-request-timestamp": str(now * 1000)},
            )
        )
        .status
        == 401
    )
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": "v1,é"}
    assert erp(cloud).send(request("/webhooks/erp", b"{}", headers)).status == 401


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 2_000 + b"1" + b"}" * 2_000],
    ids=["100k deep", "2k deep"],
)
def test_deep_json_is_400(cloud: Cloud, body: bytes) -> None:
    response = stripe(cloud).send(stripe_signed(body))
    assert response.status == 400


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "object", "currency"), 7),
        (("data", "object", "last_payment_error"), [1]),
        (("data", "object", "id"), "pi_\ud800"),
        (("data", "object", "id"), "pi_" + "a" * 5000),
        (("id",), "evt_" + "a" * 5000),
        (("data", "object", "metadata"), [1]),
    ],
    ids=[
        "currency 7",
        "last_payment_error [1]",
        "lone surrogate id",
        "5000-char object id",
        "5000-char id",
        "metadata list",
    ],
)
def test_signed_but_malformed_stripe_event_is_400(cloud: Cloud, path: tuple[str, ...], value: Any) -> None:
    event = mutate(stripe_sample("payment_intent.payment_failed"), path, value)
    body = json.dumps(
        event
    ).encode()  # ensure_ascii: a lone surrogate travels as \ud800, as a sender sends it
    response = stripe(cloud).send(stripe_signed(body))
    assert response.status == 400, response.body
    assert cloud.idempotency_records() == []


@pytest.mark.parametrize("amount", ["Infinity", "NaN", "1e100000", 1e300, "-1e20"], ids=str)
def test_an_impossible_erp_amount_is_400_not_retryable(cloud: Cloud, amount: Any) -> None:
    payload = mutate(ERP_SAMPLE, ("data", "amount"), amount)
    response = erp(cloud).send(erp_signed(json.dumps(payload).encode()))
    assert response.status == 400, response.body


def test_erp_amount_1e100000_as_a_json_number_is_400(cloud: Cloud) -> None:
    body = json.dumps(ERP_SAMPLE).replace(f'"{ERP_SAMPLE["data"]["amount"]}"', "1e100000").encode()
    assert b"1e100000" in body
    assert erp(cloud).send(erp_signed(body)).status == 400


def test_a_5000_character_erp_webhook_id_is_refused_before_anything_is_stored(cloud: Cloud) -> None:
    response = erp(cloud).send(erp_signed(json.dumps(ERP_SAMPLE).encode(), msg_id="msg_" + "x" * 5000))
    assert response.status == 401
    assert cloud.idempotency_records() == []


def test_a_5000_character_erp_record_id_is_400(cloud: Cloud) -> None:
    payload = mutate(ERP_SAMPLE, ("data", "invoiceId"), "9" * 5000)
    assert erp(cloud).send(erp_signed(json.dumps(payload).encode())).status == 400


def test_hubspot_event_for_a_non_numeric_or_unknown_object_is_acknowledged_as_ignored(cloud: Cloud) -> None:
    crm = FakeCrm(NotFound("deal 4242 not found", status=404))
    route = hubspot(cloud, crm)
    for object_id in ("abc", 4242, "../companies/1", None, [1]):
        event = {**HUBSPOT_SAMPLE[0], "eventId": 100 + len(str(object_id)), "objectId": object_id}
        response = route.send(hubspot_signed(json.dumps([event]).encode()))
        assert (response.status, json.loads(response.body)) == (200, {"status": "ignored"}), object_id
    assert crm.state_calls == ["4242"] and crm.calls == []


def test_salesforce_notification_for_an_unknown_opportunity_is_acked_not_a_fault(cloud: Cloud) -> None:
    crm = FakeCrm(NotFound("no such opportunity", status=404))
    response = salesforce(cloud, crm).send(request("/webhooks/salesforce", SF_SAMPLE.encode(), {}))
    assert response.status == 200 and "<Ack>true</Ack>" in response.body
    assert cloud.published() == []


def test_a_gateway_request_id_that_reads_like_a_card_number_is_not_refused(cloud: Cloud) -> None:
    # Given a signed Stripe event and no X-Correlation-Id: the correlation falls back to API Gateway's own
    # request id — here, to be sure the hub's own id is never put through the card check at all, one that
    # reads as the Luhn-valid 4111 1111 1111 1111
    body = json.dumps(STRIPE_EVENTS[0]).encode()
    signed = stripe_signed(body)
    gateway_id = "4111-1111-1111-1111"
    assert contains_card_number(gateway_id)
    delivery = WebhookRequest(
        method="POST", path=signed.path, headers=signed.headers, body=body, request_id=gateway_id
    )

    # When Stripe delivers it
    response = stripe(cloud).send(delivery)

    # Then the hub's own id is not mistaken for card data sent from outside: the event is accepted
    assert response.status == 200, response.body[:300]
    assert json.loads(response.body)["status"] == "accepted"


@pytest.mark.parametrize("created", [[1], "1700000000", 1.5, -1, True])
def test_a_stripe_event_whose_created_is_no_timestamp_is_400(cloud: Cloud, created: object) -> None:
    """Found by the fuzzing above: ``"created": [[]]`` on a mapped event type crashed the mapping (a 5xx)."""
    event = dict(STRIPE_EVENTS[0], created=created)
    response = stripe(cloud).send(stripe_signed(json.dumps(event).encode()))
    assert response.status == 400
    assert problem(response)["type"] == "https://o2c-hub.dev/problems/malformed-event"
