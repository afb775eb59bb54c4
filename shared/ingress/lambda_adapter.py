"""Turns a provider into a Lambda handler for API Gateway (REST proxy) events.

The handler stays thin: Powertools wiring, one ``IngressPipeline`` per process (built on the first
invocation, reused while the execution environment is warm), and the reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.ingress.pipeline import IngressPipeline, Provider
from shared.ingress.web import WebhookRequest
from shared.observability import logger, metrics, tracer
from shared.outbound import deadline

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def build_pipeline(provider: Provider) -> IngressPipeline:
    from shared.aws import client
    from shared.claimcheck import ClaimChecks
    from shared.config import WebhookSettings
    from shared.idempotency import OnceOnly
    from shared.publisher import EventPublisher

    settings = WebhookSettings.from_environment()
    return IngressPipeline(
        provider,
        publisher=EventPublisher(
            client("events"), settings.event_bus_name, claim_checks=ClaimChecks.from_env()
        ),
        once_only=OnceOnly(provider.name, settings.idempotency_table_name, client=client("dynamodb")),
        max_body_bytes=settings.max_body_bytes,
    )


def webhook_handler(provider_factory: Callable[[], Provider]) -> LambdaHandler:
    pipelines: list[IngressPipeline] = []

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not pipelines:
            pipelines.append(build_pipeline(provider_factory()))
        pipeline = pipelines[0]
        pipeline.once_only.register_lambda_context(context)
        metrics.add_dimension(name="provider", value=pipeline.provider.name)
        request = WebhookRequest.from_api_gateway(event)
        with deadline.from_context(context):  # CRM reads stop in time: a 503 the provider retries
            return pipeline.handle(request).to_api_gateway()

    return lambda_handler
