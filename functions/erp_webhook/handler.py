"""POST /webhooks/erp: Standard Webhooks v1 from the ERP, mapped to canonical ERP facts."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import secret_list
from shared.inbound.erp import ErpProvider
from shared.ingress.lambda_adapter import WebhookDeps, build_pipeline, webhook_handler
from shared.settings import Env, EnvSettings, LambdaHandler, WebhookSettings, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    webhook: WebhookSettings
    #: the Standard Webhooks signing secrets (``{"secrets": ["whsec_..."]}``)
    webhook_secret_arn: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            webhook=WebhookSettings.read(env), webhook_secret_arn=env.required("ERP_WEBHOOK_SECRET_ARN")
        )


def make_provider(settings: Settings) -> ErpProvider:
    arn = settings.webhook_secret_arn
    return ErpProvider(secrets=lambda: secret_list(arn, label="ERP_WEBHOOK_SECRET_ARN"))


def make_handler(
    settings: Settings, deps: WebhookDeps | None = None, provider: ErpProvider | None = None
) -> LambdaHandler:
    return webhook_handler(build_pipeline(provider or make_provider(settings), settings.webhook, deps))


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
