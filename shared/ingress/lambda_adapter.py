"""Turns a provider into a Lambda handler for API Gateway (REST proxy) events.

The handler stays thin: Powertools wiring (``lambda_entry``), one ``IngressPipeline`` per process and the
reply. A webhook function's ``make_handler(settings, deps)`` builds it from its settings
(``shared.settings.WebhookSettings`` and the provider's own) and ``WebhookDeps`` (the bus and the
de-duplication table: real ones by default, fakes in tests); its module-level handler is built on the first
invocation (``shared.settings.lazy_handler``) and reused while the execution environment is warm.
"""

from __future__ import annotations

from typing import Any

from shared import deadline
from shared.ingress.pipeline import IngressPipeline, OnceOnlyGate, Provider, Publisher
from shared.ingress.web import WebhookRequest
from shared.observability import lambda_entry, metrics
from shared.settings import LambdaHandler, WebhookSettings


class WebhookDeps:
    """What the webhook path writes to: the hub's bus and the provider's de-duplication records. (A plain
    class: a dataclass's generated methods would cost every webhook's cold start.)"""

    __slots__ = ("once_only", "publisher")

    def __init__(self, publisher: Publisher, once_only: OnceOnlyGate) -> None:
        self.publisher = publisher
        self.once_only = once_only


def webhook_deps(provider: str, settings: WebhookSettings) -> WebhookDeps:
    """The real ones, on the process's AWS clients; the claim-check bucket's S3 client only if an event
    ever needs it."""
    from shared.aws import client
    from shared.claimcheck import ClaimChecks
    from shared.idempotency import OnceOnly
    from shared.publisher import EventPublisher

    bucket = settings.claim_check_bucket
    return WebhookDeps(
        publisher=EventPublisher(
            client("events"),
            settings.event_bus_name,
            claim_checks=ClaimChecks(lambda: client("s3"), bucket) if bucket else None,
        ),
        once_only=OnceOnly(provider, settings.idempotency_table_name, client=client("dynamodb")),
    )


def build_pipeline(
    provider: Provider, settings: WebhookSettings | None = None, deps: WebhookDeps | None = None
) -> IngressPipeline:
    """The provider's pipeline; settings from the environment and the real dependencies unless given."""
    settings = settings or WebhookSettings.from_env()
    deps = deps or webhook_deps(provider.name, settings)
    return IngressPipeline(
        provider, publisher=deps.publisher, once_only=deps.once_only, max_body_bytes=settings.max_body_bytes
    )


def webhook_handler(pipeline: IngressPipeline) -> LambdaHandler:
    """The Lambda handler serving ``pipeline``."""

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        pipeline.once_only.register_lambda_context(context)
        metrics.add_dimension(name="provider", value=pipeline.provider.name)
        request = WebhookRequest.from_api_gateway(event)
        with deadline.from_context(context):  # CRM reads stop in time: a 503 the provider retries
            return pipeline.handle(request).to_api_gateway()

    return lambda_handler
