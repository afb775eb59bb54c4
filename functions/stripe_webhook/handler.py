"""POST /webhooks/stripe: verify the Stripe-Signature, de-duplicate on event.id, publish canonical events."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import secret_list
from shared.inbound.stripe import DEFAULT_TOLERANCE_S, StripeProvider
from shared.ingress.lambda_adapter import WebhookDeps, build_pipeline, webhook_handler
from shared.settings import Env, EnvSettings, LambdaHandler, WebhookSettings, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    webhook: WebhookSettings
    #: the endpoint's signing secrets (``{"secrets": [...]}``: more than one while one is rolled)
    webhook_secret_arn: str
    tolerance_s: int = DEFAULT_TOLERANCE_S

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            webhook=WebhookSettings.read(env),
            webhook_secret_arn=env.required("STRIPE_WEBHOOK_SECRET_ARN"),
            tolerance_s=env.integer("STRIPE_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_S),
        )


def make_provider(settings: Settings) -> StripeProvider:
    arn = settings.webhook_secret_arn
    return StripeProvider(
        secrets=lambda: secret_list(arn, label="STRIPE_WEBHOOK_SECRET_ARN"), tolerance_s=settings.tolerance_s
    )


def make_handler(
    settings: Settings, deps: WebhookDeps | None = None, provider: StripeProvider | None = None
) -> LambdaHandler:
    return webhook_handler(build_pipeline(provider or make_provider(settings), settings.webhook, deps))


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
