"""The shared ingress path on in-process moto: once-only publishing, 409 while in flight, 5xx on publish
failure with no idempotency record left claiming success."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from moto import mock_aws

from shared.idempotency import OnceOnly
from shared.inbound.stripe import StripeProvider, signature_header
from shared.ingress.pipeline import IngressPipeline
from shared.ingress.web import WebhookRequest
from shared.publisher import EventPublisher, PublishError
from tests.conftest import stripe_sample
from tests.unit.bus_sink import Cloud

SECRET = "whsec_unit"


@pytest.fixture
def cloud(aws_env: None) -> Iterator[Cloud]:
    with mock_aws():
        yield Cloud("o2c.payments")


def pipeline(cloud: Cloud, publisher: Any = None) -> IngressPipeline:
    return IngressPipeline(
        StripeProvider(secrets=lambda: [SECRET]),
        publisher=publisher or EventPublisher(cloud.events, "o2c-unit"),
        once_only=OnceOnly("stripe", "idem", client=cloud.ddb),
        max_body_bytes=262_144,
    )


def signed(name: str = "payment_intent.succeeded", **overrides: Any) -> WebhookRequest:
    event = {**stripe_sample(name), **overrides}
    body = json.dumps(event).encode()
    return WebhookRequest(
        method="POST",
        path="/webhooks/stripe",
        body=body,
        request_id="req-1",
        headers={"stripe-signature": signature_header(body, [SECRET])},
    )


def test_accepted_then_duplicate_publishes_once(cloud: Cloud) -> None:
    hub = pipeline(cloud)

    first = hub.handle(signed())
    again = hub.handle(signed())

    assert (first.status, json.loads(first.body)) == (
        200,
        {"status": "accepted", "eventId": "evt_1Demo0001AbCdEfGh"},
    )
    assert (again.status, json.loads(again.body)) == (
        200,
        {"status": "duplicate", "eventId": "evt_1Demo0001AbCdEfGh"},
    )
    published = cloud.published()
    assert [e["detail-type"] for e in published] == ["PaymentCaptured"]
    assert published[0]["detail"]["data"]["amountReceived"] == {"amount": 125000, "currency": "USD"}
    [record] = cloud.idempotency_records()
    assert record["id"]["S"].startswith("stripe#") and record["status"]["S"] == "COMPLETED"


def test_unused_event_type_is_ignored_without_any_record(cloud: Cloud) -> None:
    response = pipeline(cloud).handle(signed("customer.created"))
    assert json.loads(response.body) == {"status": "ignored"}
    assert cloud.published() == [] and cloud.idempotency_records() == []


class FlakyPublisher:
    def __init__(self, inner: EventPublisher, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def publish(self, events: Sequence[Any]) -> int:
        if self.failures:
            self.failures -= 1
            raise PublishError("EventBridge unavailable")
        return self.inner.publish(events)


def test_publish_failure_answers_503_and_leaves_no_record_so_the_retry_publishes(cloud: Cloud) -> None:
    hub = pipeline(cloud, FlakyPublisher(EventPublisher(cloud.events, "o2c-unit"), failures=1))

    failed = hub.handle(signed())
    assert failed.status == 503 and failed.content_type == "application/problem+json"
    assert cloud.idempotency_records() == [] and cloud.published() == []

    retried = hub.handle(signed())
    assert json.loads(retried.body)["status"] == "accepted"
    assert len(cloud.published()) == 1


class BlockingPublisher:
    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(self, events: Sequence[Any]) -> int:
        self.entered.set()
        assert self.release.wait(10)
        return self.inner.publish(events)


def test_identical_delivery_while_the_first_is_in_flight_gets_409(cloud: Cloud) -> None:
    blocking = BlockingPublisher(EventPublisher(cloud.events, "o2c-unit"))
    hub = pipeline(cloud, blocking)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", hub.handle(signed())))
    first.start()
    assert blocking.entered.wait(10)

    second = hub.handle(signed())
    blocking.release.set()
    first.join(10)

    assert second.status == 409 and second.content_type == "application/problem+json"
    assert second.headers.get("Retry-After")
    assert json.loads(results["first"].body)["status"] == "accepted"
    assert len(cloud.published()) == 1
    # the provider's retry of the 409 now finds the completed record
    assert json.loads(hub.handle(signed()).body)["status"] == "duplicate"


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda r: WebhookRequest(r.method, r.path, {}, r.body), 401, "missing-signature"),
        (
            lambda r: WebhookRequest(r.method, r.path, {"stripe-signature": "t=1,v1=00"}, r.body),
            401,
            "stale-timestamp",
        ),
        (lambda r: WebhookRequest(r.method, r.path, r.headers, r.body + b" "), 401, "invalid-signature"),
        (lambda r: WebhookRequest(r.method, r.path, r.headers, b"x" * 300_000), 413, "body-too-large"),
    ],
)
def test_refused_requests_publish_nothing_and_leave_no_record(
    cloud: Cloud, mutate: Any, status: int, reason: str
) -> None:
    response = pipeline(cloud).handle(mutate(signed()))
    problem = json.loads(response.body)
    assert (response.status, problem["status"]) == (status, status)
    assert problem["type"].endswith(reason)
    assert cloud.published() == [] and cloud.idempotency_records() == []


def test_malformed_json_with_valid_signature_is_400(cloud: Cloud) -> None:
    body = b'{"id": "evt_1", "type": '
    request = WebhookRequest(
        "POST", "/webhooks/stripe", {"stripe-signature": signature_header(body, [SECRET])}, body
    )
    response = pipeline(cloud).handle(request)
    assert response.status == 400 and json.loads(response.body)["type"].endswith("malformed-json")
    assert cloud.idempotency_records() == []


def test_same_event_id_with_another_type_is_refused(cloud: Cloud) -> None:
    hub = pipeline(cloud)
    assert hub.handle(signed()).status == 200
    tampered = signed(
        type="payment_intent.payment_failed", data=stripe_sample("payment_intent.payment_failed")["data"]
    )
    response = hub.handle(tampered)
    assert response.status == 409
    assert len(cloud.published()) == 1
