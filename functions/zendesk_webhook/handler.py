"""POST /webhooks/zendesk: Zendesk's signature and timestamp, each event de-duplicated on its id; a ticket
tagged for a refund requests it through the same path as ``o2c refund``."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import secret_list
from shared.inbound.zendesk import ZendeskProvider
from shared.ingress.lambda_adapter import WebhookDeps, build_pipeline, webhook_handler
from shared.outbound.factories import zendesk_support
from shared.settings import Env, EnvSettings, LambdaHandler, WebhookSettings, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    webhook: WebhookSettings
    #: the API credentials; the webhooks' signing secrets under ``signing_secrets``
    credentials_arn: str
    refund_tag: str = "refund_requested"
    #: the ticket field holding the payment to refund; empty: none
    payment_intent_field_id: str = ""
    tolerance_s: int = 300

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            webhook=WebhookSettings.read(env),
            credentials_arn=env.required("ZENDESK_CREDENTIALS_ARN"),
            refund_tag=env.text("ZENDESK_REFUND_TAG", "refund_requested"),
            payment_intent_field_id=env.text("ZENDESK_PAYMENT_INTENT_FIELD_ID"),
            tolerance_s=env.integer("ZENDESK_TOLERANCE_SECONDS", 300),
        )


def make_provider(settings: Settings) -> ZendeskProvider:
    arn = settings.credentials_arn
    return ZendeskProvider(
        signing_secrets=lambda: secret_list(arn, key="signing_secrets", label="ZENDESK_CREDENTIALS_ARN"),
        tickets=zendesk_support,
        refund_tag=settings.refund_tag,
        payment_intent_field_id=settings.payment_intent_field_id,
        tolerance_s=settings.tolerance_s,
    )


def make_handler(
    settings: Settings, deps: WebhookDeps | None = None, provider: ZendeskProvider | None = None
) -> LambdaHandler:
    return webhook_handler(build_pipeline(provider or make_provider(settings), settings.webhook, deps))


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
