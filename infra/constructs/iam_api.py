"""The /v1 API for callers inside AWS: the same routes and the same function on a second REST API whose every
method requires SigV4 (``AWS_IAM``), with the scopes as IAM permissions.

Why a second API: API Gateway gives a method ONE authorization type. The partners' API (``GovernedApi``:
Cognito tokens with scopes) cannot also take SigV4 on the same methods, and a Lambda authorizer verifying
SigV4 itself would re-implement what API Gateway and IAM already do. So internal callers (another service's
Lambda role, a job's role) get ``o2c-<stage>-api-iam``: API Gateway verifies the signature and asks IAM
whether the caller's policies allow ``execute-api:Invoke`` on the method's ARN
(``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/v1/...``). What a Cognito scope grants, a
managed policy here grants: one per scope (``o2c-<stage>-api-read``, ``...-orders-write``,
``...-refunds-write``, ``...-customers-write``) allowing Invoke on exactly the methods needing that scope, to
attach to the calling roles. The function gets the caller from ``requestContext.identity.userArn`` and scopes
idempotency keys to it (``shared.api.app``). The local cloud serves the same second API with real SigV4
verification and the same IAM evaluation (``localcloud/api_sigv4.py``).

It is a nested stack (its template is ``<stack>IamApi....nested.template.json``): the stage's stack is close to
CloudFormation's 500 resources per stack."""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnElement, CfnOutput, NestedStack, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ingress import stage_options
from infra.nag import acknowledge
from infra.topology import API_ROUTES, API_SCOPES

#: the /v1 API's problem types (shared/api/problems.py TYPE_BASE)
API_PROBLEM_BASE = "https://o2c-hub.dev/problems/"
#: API Gateway's refusals of a SigV4 request: all 403, as API Gateway answers them
IAM_REFUSALS = (
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,  # unsigned (or an unknown route)
    apigw.ResponseType.INVALID_SIGNATURE,
    apigw.ResponseType.EXPIRED_TOKEN,  # X-Amz-Date more than 15 minutes off
    apigw.ResponseType.UNAUTHORIZED,  # an access key IAM does not know
    apigw.ResponseType.ACCESS_DENIED,  # the caller's policies do not allow execute-api:Invoke
)


def _nag(value: str, pseudo: str) -> str:
    """A stack's partition/region/account as cdk-nag names it in a finding: the value of a stack with an
    explicit environment, ``<AWS::Region>`` (the pseudo parameter) in an environment-agnostic one."""
    return f"<{pseudo}>" if Token.is_unresolved(value) else value


def scope_policy_name(stage: str, scope: str) -> str:
    return f"o2c-{stage}-api-{scope.replace(':', '-')}"


def invoke_resource(api_arn_prefix: str, stage: str, method: str, path: str) -> str:
    """The execute-api resource of a route: ``{id}`` matches any one id (``*``)."""
    return f"{api_arn_prefix}/{stage}/{method}/{path.lstrip('/').replace('{id}', '*')}"


class IamApi(NestedStack):
    """A nested stack: the stage's stack is near CloudFormation's 500 resources per stack."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=config.log_retention)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"o2c-{config.stage}-api-iam",
            description=f"O2C Hub /v1 API for IAM (SigV4) callers inside AWS ({config.stage})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the account's role is the webhook API's (WebhookApi)
            # the IAM principal in the access log: who called is what an audit asks
            deploy_options=stage_options(config, self.access_logs, identify_caller=True),
        )
        for response_type in IAM_REFUSALS:
            self.api.add_gateway_response(
                f"Refused{response_type.response_type.title().replace('_', '')}",
                type=response_type,
                status_code="403",
                response_headers={"Content-Type": "'application/problem+json'"},
                templates={
                    "application/json": (
                        f'{{"type":"{API_PROBLEM_BASE}forbidden","title":$context.error.messageString,"status":403}}'
                    )
                },
            )
        integration = apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
        self.methods: list[apigw.Method] = []
        for route in API_ROUTES:
            method = self.api.root.resource_for_path(route.path).add_method(
                route.method, integration, authorization_type=apigw.AuthorizationType.IAM
            )
            self.methods.append(method)
            acknowledge(
                method,
                "COG4",
                "Callers inside AWS authenticate with SigV4 (AWS_IAM); the partners' Cognito-authorized API "
                "is the other REST API (GovernedApi).",
            )
        acknowledge(
            self.api,
            "APIG2",
            "The function validates every body against the pydantic models of the OpenAPI document and "
            "answers problem+json; a gateway model would be a second, drifting copy.",
        )
        acknowledge(
            self.api,
            "APIG3",
            "Only SigV4-signed requests of IAM principals allowed execute-api:Invoke reach a method; the "
            "webhook firewall's rules are for anonymous internet traffic.",
        )
        stack = Stack.of(self)
        # arn:aws:execute-api:<region>:<account>:<api id>
        arn_prefix = stack.format_arn(service="execute-api", resource=self.api.rest_api_id)
        self.scope_policies: dict[str, iam.ManagedPolicy] = {}
        for scope_name in API_SCOPES:
            routes = [r for r in API_ROUTES if r.scope == scope_name]
            self.scope_policies[scope_name] = iam.ManagedPolicy(
                self,
                f"Scope{scope_name.title().replace(':', '').replace('-', '')}",
                managed_policy_name=scope_policy_name(config.stage, scope_name),
                description=f"The /v1 API's '{scope_name}' for IAM callers: {API_SCOPES[scope_name]}",
                statements=[
                    iam.PolicyStatement(
                        actions=["execute-api:Invoke"],
                        resources=[
                            invoke_resource(arn_prefix, config.stage, r.method, r.path) for r in routes
                        ],
                    )
                ],
            )
            for r in routes:
                if "{id}" in r.path:
                    acknowledge(
                        self.scope_policies[scope_name],
                        f"IAM5[Resource::arn:{_nag(stack.partition, 'AWS::Partition')}:execute-api:"
                        f"{_nag(stack.region, 'AWS::Region')}:{_nag(stack.account, 'AWS::AccountId')}:"
                        f"<{stack.get_logical_id(cast(CfnElement, self.api.node.default_child))}>/{config.stage}/{r.method}/"
                        f"{r.path.lstrip('/').replace('{id}', '*')}]",
                        "The wildcard is the route's {id} path parameter (any one customer, order, payment...): "
                        "the permission is this one method of this API, as the Cognito scope grants it.",
                    )
        CfnOutput(self, "ApiIamUrl", value=self.api.url)
