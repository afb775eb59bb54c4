"""The governed /v1 API on the stage's REST API: OAuth 2.0 client credentials through a Cognito user pool
(a resource server with the scopes of ``topology.API_SCOPES``, an app client for partners), and a Cognito
authorizer on every /v1 method requiring the route's scope (``topology.API_ROUTES``). No /v1 method without
it (``tests/infra/test_governed_api.py``). The local cloud plays the same check (``localcloud/api_auth.py``).

Throttling per client: a usage plan whose rate and burst apply to each of its API keys on its own, one key
per OAuth app client (issued with the client's credentials, sent as ``x-api-key``), every /v1 method
requiring it; the stage's own limits (``WebhookApi``) stay the ceiling for all callers together. Why API keys
from the header and not the token: API Gateway meters by API key only; taking the key from the token needs
a Lambda authorizer in place of the Cognito one (key source AUTHORIZER, ``usageIdentifierKey``), i.e. the
hub verifying Cognito's RS256 signatures itself, which the runtime has no library for. The key identifies,
the token authenticates and authorizes. A throttled client gets 429 problem+json ``rate-limited`` with
``Retry-After`` (the THROTTLED gateway response); the local cloud enforces the same
(``localcloud/api_usage.py``)."""

from __future__ import annotations

import json

from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge
from infra.topology import API_RESOURCE_SERVER, API_ROUTES, API_SCOPES, api_rate_limited_detail

#: the /v1 API's problem types (shared/api/problems.py TYPE_BASE)
API_PROBLEM_BASE = "https://o2c-hub.dev/problems/"


class GovernedApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api: apigw.RestApi,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Clients",
            user_pool_name=f"o2c-{config.stage}-api-clients",
            # machine clients only: nobody signs up; no users at all
            self_sign_up_enabled=False,
            removal_policy=RemovalPolicy.RETAIN if config.stage == "prod" else RemovalPolicy.DESTROY,
            advanced_security_mode=cognito.AdvancedSecurityMode.OFF,
        )
        scopes = {
            name: cognito.ResourceServerScope(scope_name=name, scope_description=text)
            for name, text in API_SCOPES.items()
        }
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=API_RESOURCE_SERVER,
            user_pool_resource_server_name=f"o2c-{config.stage}-api",
            scopes=list(scopes.values()),
        )
        # One client for the partners' checkout (every scope); add one per partner with the scopes it needs.
        self.client = self.user_pool.add_client(
            "PartnerClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(self.resource_server, s) for s in scopes.values()],
            ),
            access_token_validity=None,
        )
        self.domain = self.user_pool.add_domain(
            "TokenDomain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"o2c-{config.stage}-{Stack.of(self).account}"
            ),
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[self.user_pool],
            identity_source="method.request.header.Authorization",
        )
        # the authorizer's refusals in the API's taxonomy (shared/api/problems.py), as the local cloud answers
        for response_type, status, kind in (
            (apigw.ResponseType.UNAUTHORIZED, 401, "unauthorized"),
            (apigw.ResponseType.ACCESS_DENIED, 403, "forbidden"),
        ):
            api.add_gateway_response(
                f"Api{kind.capitalize()}",
                type=response_type,
                status_code=str(status),
                response_headers={"Content-Type": "'application/problem+json'"},
                templates={
                    "application/json": (
                        f'{{"type":"{API_PROBLEM_BASE}{kind}","title":$context.error.messageString,"status":{status}}}'
                    )
                },
            )
        self._add_usage_plan(config, api)
        # A Lambda proxy integration with ONE invoke permission for every /v1 method: LambdaIntegration adds a
        # permission per method, and the stack is at CloudFormation's 500-resource limit.
        integration = apigw.Integration(
            type=apigw.IntegrationType.AWS_PROXY,
            integration_http_method="POST",
            uri=(
                f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}:lambda:path/2015-03-31/functions/"
                f"{function.function_arn}/invocations"
            ),
        )
        function.add_permission(
            "V1ApiInvoke",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=api.arn_for_execute_api("*", "/v1/*", api.deployment_stage.stage_name),
        )
        self.methods: list[apigw.Method] = []
        for route in API_ROUTES:
            resource = api.root.resource_for_path(route.path)
            method = resource.add_method(
                route.method,
                integration,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                authorization_scopes=[f"{API_RESOURCE_SERVER}/{route.scope}"],
                # the caller's usage-plan key (its client's): throttled per client
                api_key_required=True,
            )
            self.methods.append(method)
        acknowledge(
            self.user_pool,
            "COG2",
            "A machine-to-machine pool (client credentials): it has no users, so no MFA to require.",
        )
        acknowledge(
            self.user_pool,
            "COG1",
            "No users sign in to this pool (client credentials only): no password policy applies.",
        )
        acknowledge(
            self.user_pool,
            "COG8",
            "The Plus feature plan's threat protection guards user sign-ins; this pool has no users, only "
            "client-credential app clients.",
        )
        acknowledge(
            self.user_pool,
            "COG3",
            "Advanced security protects user sign-ins; this pool issues client-credential tokens only.",
        )
        CfnOutput(self, "ApiTokenUrl", value=f"{self.domain.base_url()}/oauth2/token")
        CfnOutput(self, "ApiClientId", value=self.client.user_pool_client_id)
        CfnOutput(self, "ApiUserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "ApiClientKeyId", value=self.client_key.key_id)

    def _add_usage_plan(self, config: StageConfig, api: apigw.RestApi) -> None:
        """The usage plan (each key throttled on its own), the partner client's key in it, and the
        gateway's refusals (no or an unknown key, throttled) in the API's problem+json."""
        self.client_key = apigw.ApiKey(
            self,
            "PartnerClientKey",
            api_key_name=f"o2c-{config.stage}-partner",
            description="Usage-plan key of the PartnerClient app client (throttling only; the token authorizes)",
            enabled=True,
        )
        self.usage_plan = api.add_usage_plan(
            "ClientUsagePlan",
            name=f"o2c-{config.stage}-api-clients",
            description="Each /v1 client's own rate and burst, one API key per OAuth app client",
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_client_rate_limit, burst_limit=config.api_client_burst_limit
            ),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        self.usage_plan.add_api_key(self.client_key)
        detail = api_rate_limited_detail(config.api_client_rate_limit, config.api_client_burst_limit)
        api.add_gateway_response(
            "ApiRateLimited",
            type=apigw.ResponseType.THROTTLED,
            status_code="429",
            # a token is back within a second at any rate of 1 per second or more
            response_headers={"Content-Type": "'application/problem+json'", "Retry-After": "'1'"},
            templates={
                "application/json": json.dumps(
                    {
                        "type": f"{API_PROBLEM_BASE}rate-limited",
                        "title": "Too many requests",
                        "status": 429,
                        "detail": detail,
                    }
                )
            },
        )
        api.add_gateway_response(
            "ApiKeyRefused",
            type=apigw.ResponseType.INVALID_API_KEY,
            status_code="403",
            response_headers={"Content-Type": "'application/problem+json'"},
            templates={
                "application/json": json.dumps(
                    {"type": f"{API_PROBLEM_BASE}forbidden", "title": "Forbidden", "status": 403}
                )
            },
        )
