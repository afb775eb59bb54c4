"""POST /webhooks/salesforce: Outbound Messages (SOAP 1.1) from allow-listed orgs; opportunities Salesforce
itself has won (re-read over REST) published. Optional sender proofs (stage settings): the message's
SessionId checked against the org (``SALESFORCE_VERIFY_SESSION_ID``) and mutual TLS
(``SALESFORCE_REQUIRE_CLIENT_CERT``)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.inbound.salesforce import SalesforceProvider, userinfo_organization
from shared.ingress.lambda_adapter import WebhookDeps, build_pipeline, webhook_handler
from shared.outbound.factories import salesforce_crm
from shared.settings import Env, EnvSettings, LambdaHandler, SettingError, WebhookSettings, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    webhook: WebhookSettings
    allowed_org_ids: tuple[str, ...]
    closed_won_stages: tuple[str, ...] = ("Closed Won",)
    #: the org's https://<name>.my.salesforce.com; needed to check SessionIds
    my_domain_url: str = ""
    verify_session_id: bool = False
    require_client_cert: bool = False

    @classmethod
    def read(cls, env: Env) -> Settings:
        settings = cls(
            webhook=WebhookSettings.read(env),
            allowed_org_ids=env.csv("SALESFORCE_ORG_IDS"),
            closed_won_stages=env.csv("SALESFORCE_CLOSED_WON_STAGES", "Closed Won"),
            my_domain_url=env.text("SALESFORCE_MY_DOMAIN_URL"),
            verify_session_id=env.flag("SALESFORCE_VERIFY_SESSION_ID"),
            require_client_cert=env.flag("SALESFORCE_REQUIRE_CLIENT_CERT"),
        )
        if settings.verify_session_id and not settings.my_domain_url:
            raise SettingError(
                "SALESFORCE_MY_DOMAIN_URL", env.owner, "is not set (SALESFORCE_VERIFY_SESSION_ID needs it)"
            )
        return settings


def make_provider(settings: Settings) -> SalesforceProvider:
    return SalesforceProvider(
        allowed_org_ids=settings.allowed_org_ids,
        opportunities=salesforce_crm,
        closed_won_stages=settings.closed_won_stages,
        sessions=userinfo_organization(settings.my_domain_url) if settings.verify_session_id else None,
        require_client_cert=settings.require_client_cert,
    )


def make_handler(
    settings: Settings, deps: WebhookDeps | None = None, provider: SalesforceProvider | None = None
) -> LambdaHandler:
    return webhook_handler(build_pipeline(provider or make_provider(settings), settings.webhook, deps))


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
