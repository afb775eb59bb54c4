"""A Stripe webhook handler written the way the Powertools and Stripe docs show it.

- Logger, Tracer and Metrics decorators on the handler, created at module level;
- ``@idempotent`` on the whole event, keyed on the Stripe event id in the body, with a module-level
  ``DynamoDBPersistenceLayer`` (which creates its own boto3 session and client);
- the signing secret from Powertools parameters (``get_secret``, which creates its own client too);
- ``stripe.Webhook.construct_event`` to verify the signature;
- a Powertools parser (pydantic) model for the event, parsed out of the API Gateway envelope;
- a module-level ``boto3.client("events")`` for PutEvents.

To compare plumbing, not business logic, it maps events with the hub's own ``normalise_event``, so both
handlers publish the same canonical events for the same deliveries. Same environment as StripeWebhook.

What following the docs costs besides time (``bench/README.md``): the idempotency record is written
before the signature is checked, so a forged delivery costs two DynamoDB writes and stores its 401 under
a real event id, and a duplicate is answered with the first reply, indistinguishable from a first delivery.
"""

from __future__ import annotations

import json
import os
from typing import Any, cast

import boto3
import stripe
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.parser import BaseModel, envelopes, parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.inbound.stripe import normalise_event

logger = Logger()
tracer = Tracer()
metrics = Metrics()

persistence_layer = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE_NAME"])
config = IdempotencyConfig(event_key_jmespath="powertools_json(body).id", raise_on_no_idempotency_key=True)
events_client = boto3.client("events")


class StripeEventData(BaseModel):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class StripeEvent(BaseModel):
    id: str
    type: str
    created: int
    livemode: bool = False
    api_version: str | None = None
    data: StripeEventData


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def verify(payload: str, signature: str | None) -> stripe.Event:
    secrets = parameters.get_secret(os.environ["STRIPE_WEBHOOK_SECRET_ARN"], transform="json")["secrets"]
    for secret in secrets[:-1]:
        try:
            return stripe.Webhook.construct_event(payload, signature, secret)
        except stripe.SignatureVerificationError:
            continue
    return stripe.Webhook.construct_event(payload, signature, secrets[-1])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(config=config, persistence_store=persistence_layer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        verify(event["body"], headers.get("stripe-signature"))
    except stripe.SignatureVerificationError:
        logger.warning("invalid Stripe signature")
        metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=1)
        return response(401, {"error": "invalid signature"})

    stripe_event = cast(
        StripeEvent, parse(event=event, model=StripeEvent, envelope=envelopes.ApiGatewayEnvelope)
    )
    canonical = normalise_event(stripe_event.model_dump(), correlation_id=logger.get_correlation_id() or "")
    if not canonical:
        metrics.add_metric(name="Ignored", unit=MetricUnit.Count, value=1)
        return response(200, {"status": "ignored"})

    events_client.put_events(
        Entries=[
            {
                "Source": e.source,
                "DetailType": e.detail_type,
                "Detail": e.detail_json(),
                "EventBusName": os.environ["EVENT_BUS_NAME"],
            }
            for e in canonical
        ]
    )
    logger.info(
        "Stripe event published", extra={"stripe_event_id": stripe_event.id, "type": stripe_event.type}
    )
    metrics.add_metric(name="Accepted", unit=MetricUnit.Count, value=1)
    return response(200, {"status": "accepted", "eventId": stripe_event.id})
