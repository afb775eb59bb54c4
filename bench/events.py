"""Lambda events as the local cloud builds them: API Gateway (REST proxy) requests from the local cloud's
own API Gateway front, SQS batches from its event source mapping."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infra.topology import FunctionSpec
from localcloud.api import ApiGateway
from localcloud.pollers import sqs_event
from localcloud.provision import REGION


class ApiEvents:
    """API Gateway proxy events for one webhook function, built by ``localcloud.api.ApiGateway``."""

    def __init__(self, fn: FunctionSpec, stage: str = "local") -> None:
        assert fn.route is not None, f"{fn.id} has no route"
        self._gateway = ApiGateway([fn], _never_invoked, port=0, stage=stage)
        self._gateway.server.server_close()  # only its event builder is used: no socket stays open
        self._route = self._gateway.routes[0]

    def request(self, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        route = self._route
        all_headers = [("Host", "127.0.0.1"), ("Content-Length", str(len(body))), *headers.items()]
        return self._gateway.build_event(
            route, route.method, route.resource, "", all_headers, body, "127.0.0.1"
        )


def _never_invoked(function_id: str, event: Any) -> Any:
    raise AssertionError("the benchmark's API Gateway front only builds events")


def eventbridge_message(detail_type: str, source: str, detail: dict[str, Any], bus: str) -> dict[str, Any]:
    """An EventBridge event as a rule delivers it to an SQS target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": detail,
        "event-bus-name": bus,
    }


def canonical_batch(stripe_body: bytes, bus: str, queue_arn: str) -> dict[str, Any]:
    """The SQS event a consumer (LineageRecorder) gets for the canonical event(s) of one Stripe delivery."""
    from shared.inbound.stripe import normalise_event

    return sqs_batch(
        [
            eventbridge_message(
                canonical.detail_type, canonical.source, json.loads(canonical.detail_json()), bus
            )
            for canonical in normalise_event(json.loads(stripe_body), correlation_id=str(uuid.uuid4()))
        ],
        queue_arn,
    )


def sqs_batch(events: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event a consumer gets for EventBridge ``events`` its rule delivered to its queue."""
    messages = []
    for event in events:
        body = json.dumps(event)
        messages.append(
            {
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": uuid.uuid4().hex,
                "Body": body,
                "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
        )
    return sqs_event(messages, queue_arn, REGION)
