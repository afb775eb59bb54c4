"""Public webhook ingress: a REST API (one POST route per webhook function) behind a WAF web ACL."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge
from infra.topology import WEBHOOK_FUNCTIONS

PROBLEM_JSON = "application/problem+json"
_PROBLEM_HEADER = f"'{PROBLEM_JSON}'"


def _problem(title: str, status: int) -> str:
    return json.dumps({"type": "about:blank", "title": title, "status": status}, separators=(",", ":"))


METHOD_NOT_ALLOWED_BODY = _problem("Method Not Allowed", 405)
NOT_FOUND_BODY = _problem("Not Found", 404)
# Gateway responses are templates: $context.error.messageString is already a quoted JSON string.
_CLIENT_ERROR_TEMPLATE = '{"type":"about:blank","title":$context.error.messageString}'
_SERVER_ERROR_TEMPLATE = '{"type":"about:blank","title":"Service Unavailable"}'


class WebhookApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=config.log_retention)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"o2c-{config.stage}-webhooks",
            description=f"O2C Hub webhooks ({config.stage})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The API Gateway account setting (CloudWatch Logs role for execution logging) is one per account
            # and region: only the stage that owns it creates it (apiGatewayAccountRole); deleting a stack
            # that owned it would leave every other stage's execution logging pointing at a deleted role.
            cloud_watch_role=config.api_gateway_account_role,
            deploy_options=stage_options(config, self.access_logs, identify_caller=False),
        )
        self._add_problem_responses()
        for spec in WEBHOOK_FUNCTIONS:
            assert spec.route is not None, f"{spec.id} is a webhook without a route"
            resource = self.api.root.resource_for_path(spec.route.path)
            webhook = resource.add_method(
                spec.route.method,
                apigw.LambdaIntegration(functions[spec.id], proxy=True, allow_test_invoke=False),
            )
            # Any other method: 405. An explicit method takes precedence over ANY on the same resource.
            wrong_method = resource.add_method(
                "ANY", _method_not_allowed(allow=spec.route.method), method_responses=_METHOD_405_RESPONSES
            )
            for method in (webhook, wrong_method):
                acknowledge(
                    method,
                    "APIG4",
                    "Webhook providers (Stripe, the ERP) cannot present AWS or Cognito credentials; every "
                    "request is authenticated by its HMAC provider signature in the function.",
                )
                acknowledge(
                    method,
                    "COG4",
                    "Webhook providers cannot obtain Cognito tokens; requests are authenticated by the "
                    "provider's HMAC signature, verified by the function.",
                )
        acknowledge(
            self.api,
            "APIG2",
            "Webhook bodies are raw provider payloads whose signature covers the exact bytes; the "
            "function verifies signature and schema, an API Gateway request model cannot.",
        )
        cloud_watch_role = self.api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            acknowledge(
                cloud_watch_role,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level API Gateway CloudWatch role is required for execution logging; the AWS "
                "managed policy is the documented one for this service role.",
            )

        self.salesforce_domain = (
            _salesforce_mtls_domain(self, config, self.api) if config.salesforce_mtls else None
        )

        self.firewall = WebhookFirewall(self, "Firewall", config=config)
        wafv2.CfnWebACLAssociation(
            self,
            "FirewallAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.firewall.web_acl.attr_arn,
        )

    def _add_problem_responses(self) -> None:
        headers = {"Content-Type": _PROBLEM_HEADER}
        self.api.add_gateway_response(
            "UnknownRoute",
            # REST APIs answer an unknown path (or method) with MISSING_AUTHENTICATION_TOKEN/403.
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            response_headers=headers,
            templates={"application/json": NOT_FOUND_BODY},
        )
        self.api.add_gateway_response(
            "ClientError",
            type=apigw.ResponseType.DEFAULT_4_XX,
            response_headers=headers,
            templates={"application/json": _CLIENT_ERROR_TEMPLATE},
        )
        self.api.add_gateway_response(
            "ServerError",
            type=apigw.ResponseType.DEFAULT_5_XX,
            response_headers=headers,
            templates={"application/json": _SERVER_ERROR_TEMPLATE},
        )


_METHOD_405_RESPONSES = [
    apigw.MethodResponse(
        status_code="405",
        response_parameters={
            "method.response.header.Allow": True,
            "method.response.header.Content-Type": True,
        },
    )
]


def _salesforce_mtls_domain(scope: Construct, config: StageConfig, api: apigw.RestApi) -> apigw.DomainName:
    """A custom domain that requires a client certificate signed by a CA in the truststore (Salesforce's
    client certificate, downloaded from Setup → Certificate and Key Management → "API Client Certificate").
    API Gateway refuses the TLS handshake without one; the function refuses requests that bypassed the
    domain (no verified certificate in the request context)."""
    from aws_cdk import aws_certificatemanager as acm
    from aws_cdk import aws_s3 as s3

    bucket, _, key = config.salesforce_mtls_truststore_uri.removeprefix("s3://").partition("/")
    domain = apigw.DomainName(
        scope,
        "SalesforceMtlsDomain",
        domain_name=config.salesforce_mtls_domain_name,
        certificate=acm.Certificate.from_certificate_arn(
            scope, "SalesforceMtlsCertificate", config.salesforce_mtls_certificate_arn
        ),
        endpoint_type=apigw.EndpointType.REGIONAL,
        security_policy=apigw.SecurityPolicy.TLS_1_2,
        mtls=apigw.MTLSConfig(
            bucket=s3.Bucket.from_bucket_name(scope, "SalesforceTruststore", bucket), key=key
        ),
    )
    domain.add_base_path_mapping(api, stage=api.deployment_stage)
    return domain


def _method_not_allowed(*, allow: str) -> apigw.MockIntegration:
    return apigw.MockIntegration(
        # Other content types go to the mock as they are; the default response below still answers 405.
        passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
        request_templates={"application/json": '{"statusCode": 405}'},
        integration_responses=[
            apigw.IntegrationResponse(
                # No selection pattern: the default response, whatever the mock answered.
                status_code="405",
                response_parameters={
                    "method.response.header.Allow": f"'{allow}'",
                    "method.response.header.Content-Type": _PROBLEM_HEADER,
                },
                response_templates={"application/json": METHOD_NOT_ALLOWED_BODY},
            )
        ],
    )


#: Path prefix of every webhook route (topology WEBHOOK_FUNCTIONS).
WEBHOOK_PATH_PREFIX = "/webhooks/"

#: The AWS common rule set's rules that inspect the request *body*, with the label each adds when it matches
#: (AWS WAF developer guide, "Core rule set (CRS) managed rule group"). Webhook bodies are SOAP XML from
#: Salesforce and JSON carrying customer-entered text (Stripe, HubSpot): these rules would refuse some of
#: them before the hub sees them, and Stripe disables an endpoint that keeps failing. On webhook paths the
#: provider signature (verified over the exact bytes) and the hub's own body limit (MAX_BODY_BYTES, 413)
#: protect the function; everywhere else these rules still block.
COMMON_RULE_SET_BODY_RULES = {
    "SizeRestrictions_BODY": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body",
    "CrossSiteScripting_BODY": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body",
    "GenericLFI_BODY": "awswaf:managed:aws:core-rule-set:GenericLFI_Body",
    "GenericRFI_BODY": "awswaf:managed:aws:core-rule-set:GenericRFI_Body",
    "EC2MetaDataSSRF_BODY": "awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body",
}


def webhook_path_prefixes(stage: str) -> tuple[str, ...]:
    """The URI paths WAF sees for a webhook: through execute-api the path starts with the stage name;
    through a custom domain (base path mapping at the root) it does not."""
    assert all(
        spec.route is not None and spec.route.path.startswith(WEBHOOK_PATH_PREFIX)
        for spec in WEBHOOK_FUNCTIONS
    ), f"every webhook route must live under {WEBHOOK_PATH_PREFIX}"
    return (WEBHOOK_PATH_PREFIX, f"/{stage}{WEBHOOK_PATH_PREFIX}")


class WebhookFirewall(Construct):
    """REGIONAL web ACL: per-IP rate limit + AWS common rule set, its body rules scoped away from webhooks.

    AWS WAF's documented way to exempt one path from some rules of a managed group (developer guide, "label
    match examples"; knowledge center "exclude specific URIs from inspection"): override those rules to
    COUNT in the group, which still labels a matching request, then block on the label in a later rule
    whose statement leaves the exempt path out. A scope-down statement would drop the whole group (header,
    URI and query rules too) for webhooks; this keeps every non-body rule blocking on every path.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        metric_prefix = f"O2CHub-{config.stage}"
        CfnWebACL = wafv2.CfnWebACL

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{metric_prefix}-{name}",
                sampled_requests_enabled=True,
            )

        def starts_with(prefix: str) -> wafv2.CfnWebACL.StatementProperty:
            return CfnWebACL.StatementProperty(
                byte_match_statement=CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="STARTS_WITH",
                    search_string=prefix,
                    # API Gateway routes are case-sensitive: no transformation, so /WEBHOOKS/... (which
                    # no route serves) stays fully inspected.
                    text_transformations=[CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                )
            )

        body_rule_matched = CfnWebACL.StatementProperty(
            or_statement=CfnWebACL.OrStatementProperty(
                statements=[
                    CfnWebACL.StatementProperty(
                        label_match_statement=CfnWebACL.LabelMatchStatementProperty(scope="LABEL", key=label)
                    )
                    for label in COMMON_RULE_SET_BODY_RULES.values()
                ]
            )
        )
        not_a_webhook = CfnWebACL.StatementProperty(
            not_statement=CfnWebACL.NotStatementProperty(
                statement=CfnWebACL.StatementProperty(
                    or_statement=CfnWebACL.OrStatementProperty(
                        statements=[starts_with(p) for p in webhook_path_prefixes(config.stage)]
                    )
                )
            )
        )

        self.web_acl = CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("WebAcl"),
            rules=[
                CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=0,
                    action=CfnWebACL.RuleActionProperty(block={}),
                    statement=CfnWebACL.StatementProperty(
                        rate_based_statement=CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=config.waf_rate_limit_per_5min
                        )
                    ),
                    visibility_config=visibility("RateLimitPerIp"),
                ),
                CfnWebACL.RuleProperty(
                    name="AWSManagedRulesCommonRuleSet",
                    priority=1,
                    override_action=CfnWebACL.OverrideActionProperty(none={}),
                    statement=CfnWebACL.StatementProperty(
                        managed_rule_group_statement=CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name="AWSManagedRulesCommonRuleSet",
                            # Body rules count (and label) here; the next rule blocks on the label
                            # outside the webhook paths.
                            rule_action_overrides=[
                                CfnWebACL.RuleActionOverrideProperty(
                                    name=rule, action_to_use=CfnWebACL.RuleActionProperty(count={})
                                )
                                for rule in COMMON_RULE_SET_BODY_RULES
                            ],
                        )
                    ),
                    visibility_config=visibility("CommonRuleSet"),
                ),
                CfnWebACL.RuleProperty(
                    name="CommonRuleSetBodyOutsideWebhooks",
                    priority=2,
                    action=CfnWebACL.RuleActionProperty(block={}),
                    statement=CfnWebACL.StatementProperty(
                        and_statement=CfnWebACL.AndStatementProperty(
                            statements=[body_rule_matched, not_a_webhook]
                        )
                    ),
                    visibility_config=visibility("CommonRuleSetBodyOutsideWebhooks"),
                ),
            ],
        )


def stage_options(
    config: StageConfig, access_logs: logs.ILogGroup, *, identify_caller: bool
) -> apigw.StageOptions:
    """A hub API's stage: JSON access logs (with the caller and user when the API authenticates them by IAM),
    INFO execution logs without bodies or headers (they carry provider signatures and tokens), metrics,
    tracing, and the stage's throttling. Used by the webhook API and the IAM callers' API."""
    return apigw.StageOptions(
        stage_name=config.stage,
        access_log_destination=apigw.LogGroupLogDestination(access_logs),
        access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
            caller=identify_caller,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=identify_caller,
        ),
        logging_level=apigw.MethodLoggingLevel.INFO,
        data_trace_enabled=False,
        metrics_enabled=True,
        tracing_enabled=True,
        throttling_rate_limit=config.api_rate_limit,
        throttling_burst_limit=config.api_burst_limit,
    )
