"""POST /webhooks/hubspot: v3 signature, each event de-duplicated on its eventId, won deals published."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.config import secret_object
from shared.inbound.hubspot import HubSpotProvider
from shared.ingress.lambda_adapter import WebhookDeps, build_pipeline, webhook_handler
from shared.outbound.factories import hubspot_crm
from shared.settings import Env, EnvSettings, LambdaHandler, WebhookSettings, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    webhook: WebhookSettings
    #: the app's credentials; the v3 signature's client secrets under ``secrets``
    credentials_arn: str
    #: what HubSpot signs the request URI with; empty: the API's own execute-api URL
    public_base_url: str
    closed_won_stages: tuple[str, ...] = ("closedwon",)

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            webhook=WebhookSettings.read(env),
            credentials_arn=env.required("HUBSPOT_CREDENTIALS_ARN"),
            public_base_url=env.required("PUBLIC_BASE_URL", allow_empty=True),
            closed_won_stages=env.csv("HUBSPOT_CLOSED_WON_STAGES", "closedwon"),
        )


def client_secrets(arn: str) -> list[str]:
    secrets: Any = secret_object(arn, label="HUBSPOT_CREDENTIALS_ARN")["secrets"]
    return [str(s) for s in secrets]


def make_provider(settings: Settings) -> HubSpotProvider:
    arn = settings.credentials_arn
    return HubSpotProvider(
        client_secrets=lambda: client_secrets(arn),
        deals=hubspot_crm,
        public_base_url=settings.public_base_url,
        closed_won_stages=settings.closed_won_stages,
    )


def make_handler(
    settings: Settings, deps: WebhookDeps | None = None, provider: HubSpotProvider | None = None
) -> LambdaHandler:
    return webhook_handler(build_pipeline(provider or make_provider(settings), settings.webhook, deps))


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
