"""Per-stage settings of the stack, read from CDK context (``-c stage=prod``, ``cdk.json``).

``cdk.json`` holds the defaults: ``"stage": "dev"`` and, under ``"stages"``, optional per-stage overrides
such as ``{"prod": {"logLevel": "INFO", "apiRateLimit": 200}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_logs as logs

from infra.topology import ERP_CONCURRENCY_LIMIT_DEFAULT, erp_concurrency_plan

_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
#: https://<name>[--<sandbox>][.<kind>].my.salesforce.com (or .my.salesforce.mil), no path
_MY_DOMAIN = re.compile(
    r"^https://[a-z0-9][a-z0-9-]*(--[a-z0-9-]+)?(\.(sandbox|develop|scratch|demo|patch|trailblaze))?"
    r"\.my\.salesforce\.(com|mil)/?$",
    re.IGNORECASE,
)

#: context key in cdk.json / -c → StageConfig field
_CONTEXT_KEYS = {
    "logLevel": "log_level",
    "logRetentionDays": "log_retention_days",
    "archiveRetentionDays": "archive_retention_days",
    "apiRateLimit": "api_rate_limit",
    "apiBurstLimit": "api_burst_limit",
    "apiClientRateLimit": "api_client_rate_limit",
    "apiClientBurstLimit": "api_client_burst_limit",
    "wafRateLimitPer5Min": "waf_rate_limit_per_5min",
    "eventMaxAgeHours": "event_max_age_hours",
    "eventRetryAttempts": "event_retry_attempts",
    "publicBaseUrl": "public_base_url",
    "hubspotApiBaseUrl": "hubspot_api_base_url",
    "hubspotClosedWonStages": "hubspot_closed_won_stages",
    "salesforceMyDomainUrl": "salesforce_my_domain_url",
    "salesforceOrgIds": "salesforce_org_ids",
    "salesforceClosedWonStages": "salesforce_closed_won_stages",
    "salesforceVerifySessionId": "salesforce_verify_session_id",
    "salesforceMtlsTruststoreUri": "salesforce_mtls_truststore_uri",
    "salesforceMtlsDomainName": "salesforce_mtls_domain_name",
    "salesforceMtlsCertificateArn": "salesforce_mtls_certificate_arn",
    "stripePartnerEventSource": "stripe_partner_event_source",
    "salesforcePartnerEventSource": "salesforce_partner_event_source",
    "alarmEmails": "alarm_emails",
    "chatbotSlackWorkspaceId": "chatbot_slack_workspace_id",
    "chatbotSlackChannelId": "chatbot_slack_channel_id",
    "apiGatewayAccountRole": "api_gateway_account_role",
    "erpConcurrencyLimit": "erp_concurrency_limit",
    "lambdaDeployment": "lambda_deployment",
    "lambdaDeploymentIgnoreAlarms": "lambda_deployment_ignore_alarms",
    "zendeskApiBaseUrl": "zendesk_api_base_url",
    "zendeskRefundTag": "zendesk_refund_tag",
    "refundOnEarlyFraudWarning": "refund_on_early_fraud_warning",
    "zendeskPaymentIntentFieldId": "zendesk_payment_intent_field_id",
    "warehousePersonalData": "warehouse_personal_data",
}

#: How CodeDeploy shifts each function's ``live`` alias to a new version (CodeDeployDefault.Lambda<name>).
LAMBDA_DEPLOYMENTS = (
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
)

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


@dataclass(frozen=True)
class StageConfig:
    stage: str
    log_level: str = "INFO"
    log_retention_days: int = 30
    archive_retention_days: int = 30
    #: API Gateway stage throttling (steady requests per second, burst).
    api_rate_limit: int = 100
    api_burst_limit: int = 200
    #: The /v1 API's usage plan: each OAuth client's own limits (steady requests per second, burst), on top of
    #: the stage's. One client at its limit gets 429 (problem+json ``rate-limited``, ``Retry-After``); the
    #: others are not affected. The local cloud enforces the same (``localcloud/api_usage.py``).
    api_client_rate_limit: int = 25
    api_client_burst_limit: int = 50
    #: WAF rate-based rule: requests per source IP per 5 minutes before blocking.
    waf_rate_limit_per_5min: int = 2000
    #: EventBridge → SQS target: give up (to the DLQ) after this long or this many retries.
    event_max_age_hours: int = 24
    event_retry_attempts: int = 185
    #: Public URL of the webhook API as providers call it (custom domain); empty → the execute-api URL.
    public_base_url: str = ""
    hubspot_api_base_url: str = "https://api.hubapi.com"
    hubspot_closed_won_stages: str = "closedwon"
    #: The Zendesk account's https://<subdomain>.zendesk.com; the tag that asks for a refund from a ticket and
    #: the id of the ticket field that holds the payment (README, Zendesk).
    zendesk_api_base_url: str = ""
    zendesk_refund_tag: str = "refund_requested"
    #: "true": an actionable Radar early fraud warning on a captured payment is refunded in full, once
    refund_on_early_fraud_warning: str = "false"
    zendesk_payment_intent_field_id: str = ""
    #: The org's My Domain URL (https://<name>.my.salesforce.com): Salesforce serves the OAuth client credentials
    #: flow there only. Required when the stage takes Salesforce (org ids or a partner event source); no default,
    #: since login.salesforce.com cannot issue these tokens.
    salesforce_my_domain_url: str = ""
    #: Salesforce organisations whose Outbound Messages are accepted (comma-separated ids).
    salesforce_org_ids: str = ""
    salesforce_closed_won_stages: str = "Closed Won"
    #: "true": an Outbound Message's SessionId must be a live session of its org (Salesforce UserInfo
    #: endpoint on salesforce_my_domain_url); the message must be sent with "Send Session ID" ticked.
    salesforce_verify_session_id: str = "false"
    #: Mutual TLS for Outbound Messages: s3://bucket/key of a PEM truststore holding the CA of Salesforce's
    #: client certificate, served on its own custom domain (Outbound Messages are configured to call
    #: https://<domain>/webhooks/salesforce) with a regional ACM certificate. The Salesforce function then
    #: refuses requests that did not arrive with a verified client certificate (e.g. via execute-api).
    salesforce_mtls_truststore_uri: str = ""
    salesforce_mtls_domain_name: str = ""
    salesforce_mtls_certificate_arn: str = ""
    #: Partner event sources (aws.partner/...); empty → that partner bus is not wired in this stage.
    stripe_partner_event_source: str = ""
    salesforce_partner_event_source: str = ""
    #: Who gets paged: every alarm goes to the stage's SNS topic, which mails these addresses (each
    #: confirms the subscription once, from the mail AWS sends) ...
    alarm_emails: tuple[str, ...] = ()
    #: ... and, when both are set, posts to this Slack channel through AWS Chatbot (the workspace is
    #: authorized once per account in the Chatbot console; its id is shown there).
    chatbot_slack_workspace_id: str = ""
    chatbot_slack_channel_id: str = ""
    #: The API Gateway account setting (the CloudWatch Logs role for execution logging) is one per account
    #: and region: exactly one stage there owns it ("true"); the others rely on it.
    api_gateway_account_role: bool = False
    #: The NetSuite account's concurrent-request limit: the ERP gate enforces it, and the ERP-bound event
    #: source mappings' maximum concurrency is planned within it (``topology.erp_concurrency_plan``).
    erp_concurrency_limit: int = ERP_CONCURRENCY_LIMIT_DEFAULT
    #: How a deploy shifts traffic to the new version of each function (one of LAMBDA_DEPLOYMENTS): all at
    #: once, or a canary (10 % for 5 minutes, then the rest) / linear shift that CodeDeploy rolls back when
    #: one of the function's alarms fires meanwhile.
    lambda_deployment: str = "AllAtOnce"
    #: "true" for one deploy: shift without watching the alarms. A deployment that starts while one of the
    #: function's alarms is in ALARM stops at once, so the fix for the very error that raised it cannot ship
    #: otherwise. Set it back afterwards.
    lambda_deployment_ignore_alarms: bool = False
    #: "true": the warehouse keeps personal data (names, e-mail addresses, postal addresses) of the events;
    #: by default it keeps ids only (``shared.warehouse``). Card data is never kept.
    warehouse_personal_data: bool = False

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise ValueError(
                f"stage {self.stage!r} must match {_STAGE.pattern} (it names the bus o2c-<stage>)"
            )
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"logLevel {self.log_level!r} must be DEBUG, INFO, WARNING or ERROR")
        if not 0 < self.api_client_rate_limit <= self.api_rate_limit:
            raise ValueError("apiClientRateLimit must be positive and at most apiRateLimit (the stage's)")
        if not 0 < self.api_client_burst_limit <= self.api_burst_limit:
            raise ValueError("apiClientBurstLimit must be positive and at most apiBurstLimit (the stage's)")
        erp_concurrency_plan(self.erp_concurrency_limit)  # refuses a limit the ERP-bound paths do not fit in
        if self.log_retention_days not in _RETENTION:
            raise ValueError(f"logRetentionDays must be one of {sorted(_RETENTION)}")
        if self.lambda_deployment not in LAMBDA_DEPLOYMENTS:
            raise ValueError(
                f"lambdaDeployment {self.lambda_deployment!r} must be one of {list(LAMBDA_DEPLOYMENTS)}"
            )
        if self.salesforce_verify_session_id not in {"true", "false"}:
            raise ValueError("salesforceVerifySessionId must be true or false")
        mtls = (
            self.salesforce_mtls_truststore_uri,
            self.salesforce_mtls_domain_name,
            self.salesforce_mtls_certificate_arn,
        )
        if any(mtls) and not all(mtls):
            raise ValueError(
                "salesforceMtlsTruststoreUri, salesforceMtlsDomainName and salesforceMtlsCertificateArn "
                "go together (API Gateway mutual TLS needs a custom domain)"
            )
        for email in self.alarm_emails:
            if not _EMAIL.match(email):
                raise ValueError(f"alarmEmails: {email!r} is not an email address")
        if bool(self.chatbot_slack_workspace_id) != bool(self.chatbot_slack_channel_id):
            raise ValueError("chatbotSlackWorkspaceId and chatbotSlackChannelId go together")
        if self.salesforce_mtls_truststore_uri and not re.match(
            r"^s3://[^/]+/.+", self.salesforce_mtls_truststore_uri
        ):
            raise ValueError("salesforceMtlsTruststoreUri must be s3://bucket/key")
        self._check_salesforce_my_domain()

    def _check_salesforce_my_domain(self) -> None:
        url = self.salesforce_my_domain_url
        uses_salesforce = bool(
            self.salesforce_org_ids
            or self.salesforce_partner_event_source
            or self.salesforce_verify_session_id == "true"
        )
        if not url:
            if uses_salesforce:
                raise ValueError(
                    f"stage {self.stage} takes Salesforce (salesforceOrgIds / salesforcePartnerEventSource / "
                    "salesforceVerifySessionId) but has "
                    "no salesforceMyDomainUrl: set it to the org's https://<your-domain>.my.salesforce.com "
                    "(Setup > My Domain); the OAuth client credentials flow works on that URL only"
                )
            return
        if not _MY_DOMAIN.match(url):
            raise ValueError(
                f"salesforceMyDomainUrl {url!r} is not a Salesforce My Domain URL: expected "
                "https://<your-domain>.my.salesforce.com (sandboxes: https://<your-domain>--<sandbox>.sandbox"
                ".my.salesforce.com); login.salesforce.com / test.salesforce.com cannot issue client-credentials "
                "tokens"
            )

    @property
    def chatbot_slack(self) -> bool:
        return bool(self.chatbot_slack_channel_id)

    @property
    def salesforce_mtls(self) -> bool:
        return bool(self.salesforce_mtls_truststore_uri)

    @classmethod
    def from_context(cls, stage: str, context: dict[str, Any] | None) -> StageConfig:
        overrides = dict(context or {})
        unknown = set(overrides) - set(_CONTEXT_KEYS)
        if unknown:
            raise ValueError(f"unknown stage settings {sorted(unknown)}; known: {sorted(_CONTEXT_KEYS)}")
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            name = _CONTEXT_KEYS[key]
            values[name] = _parse(key, types[name], value)
        return cls(stage=stage, **values)

    def partner_event_source(self, config_key: str) -> str:
        """The partner event source name for a topology PartnerBusSpec.config_key ('' when off)."""
        return str(getattr(self, _CONTEXT_KEYS[config_key]))

    def stage_settings(self) -> dict[str, str]:
        """Values for topology.STAGE_SETTING_DEFAULTS (PUBLIC_BASE_URL is resolved by the stack)."""
        return {
            "PUBLIC_BASE_URL": self.public_base_url,
            "HUBSPOT_API_BASE_URL": self.hubspot_api_base_url,
            "HUBSPOT_CLOSED_WON_STAGES": self.hubspot_closed_won_stages,
            "SALESFORCE_MY_DOMAIN_URL": self.salesforce_my_domain_url,
            "SALESFORCE_ORG_IDS": self.salesforce_org_ids,
            "SALESFORCE_CLOSED_WON_STAGES": self.salesforce_closed_won_stages,
            "SALESFORCE_VERIFY_SESSION_ID": self.salesforce_verify_session_id,
            "SALESFORCE_REQUIRE_CLIENT_CERT": "true" if self.salesforce_mtls else "false",
            "ERP_CONCURRENCY_LIMIT": str(self.erp_concurrency_limit),
            "ZENDESK_API_BASE_URL": self.zendesk_api_base_url,
            "ZENDESK_REFUND_TAG": self.zendesk_refund_tag,
            "ZENDESK_PAYMENT_INTENT_FIELD_ID": self.zendesk_payment_intent_field_id,
            "REFUND_ON_EARLY_FRAUD_WARNING": self.refund_on_early_fraud_warning,
        }

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION[self.log_retention_days]

    @property
    def archive_retention(self) -> Duration:
        return Duration.days(self.archive_retention_days)


def _parse(key: str, kind: Any, value: Any) -> Any:
    """A context value as its field's type; ``-c key=value`` always gives strings."""
    if kind in ("int", int):
        return int(value)
    if kind in ("bool", bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() not in {"true", "false"}:
            raise ValueError(f"{key} must be true or false, not {value!r}")
        return str(value).lower() == "true"
    if kind in ("tuple[str, ...]",):
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(item).strip() for item in items if str(item).strip())
    return str(value)
