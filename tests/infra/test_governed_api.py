"""The governed /v1 API in the template: every /v1 method behind the Cognito authorizer with its route's
scope, a resource server with the topology's scopes, a client-credentials app client, and throttling per
client (a usage plan, one key per app client) with the API's problem+json on a 429."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import StageConfig
from infra.topology import API_RESOURCE_SERVER, API_ROUTES, API_SCOPES
from shared.api.problems import KINDS
from tests.infra.conftest import STAGE, TEST_STAGE_CONTEXT, Synthesized
from tests.infra.helpers import resources_of

pytestmark = pytest.mark.infra


def _paths(template_json: dict[str, Any]) -> dict[str, str]:
    """logical id of each API Gateway resource → its full path."""
    resources = resources_of(template_json, "AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


def _rest_api(template: dict[str, Any], name_suffix: str) -> str:
    (api_id,) = [
        k
        for k, v in resources_of(template, "AWS::ApiGateway::RestApi").items()
        if v["Properties"]["Name"].endswith(name_suffix)
    ]
    return api_id


def _v1_methods(template: dict[str, Any], api_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) → the properties of each /v1 method of one REST API."""
    paths = _paths(template)
    methods = {}
    for method in resources_of(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path = paths.get(props["ResourceId"].get("Ref", ""), "/")
        if path.startswith("/v1") and props["RestApiId"] == {"Ref": api_id}:
            methods[(props["HttpMethod"], path)] = props
    return methods


def test_every_v1_method_requires_a_cognito_token_with_its_scope(synthesized: Synthesized) -> None:
    template = synthesized.templates[STAGE]
    (authorizer_id,) = resources_of(template, "AWS::ApiGateway::Authorizer")
    methods = _v1_methods(template, _rest_api(template, "-webhooks"))
    expected = {(r.method, r.path): r.scope for r in API_ROUTES}
    assert set(methods) == set(expected), "a /v1 method the topology does not declare, or one missing"
    for key, props in methods.items():
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", key
        assert props["AuthorizerId"] == {"Ref": authorizer_id}, key
        assert props["AuthorizationScopes"] == [f"{API_RESOURCE_SERVER}/{expected[key]}"], key


def test_the_pool_issues_client_credential_tokens_with_the_topology_scopes(synthesized: Synthesized) -> None:
    template = synthesized.templates[STAGE]
    (server,) = resources_of(template, "AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == API_RESOURCE_SERVER
    assert {s["ScopeName"] for s in server["Properties"]["Scopes"]} == set(API_SCOPES)
    (client,) = resources_of(template, "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["Properties"]["GenerateSecret"] is True
    (pool,) = resources_of(template, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_callers_inside_aws_have_the_same_routes_with_sigv4_and_a_policy_per_scope(
    synthesized: Synthesized,
) -> None:
    """One authorization type per method: SigV4 callers get a second REST API (a nested stack: the stage's
    stack is near CloudFormation's 500 resources) with the same routes on the same function, every method
    AWS_IAM; a scope is a managed policy allowing execute-api:Invoke on exactly the methods needing it."""
    parent = synthesized.templates[STAGE]
    [(_nested_id, nested)] = [
        (k, v)
        for k, v in resources_of(parent, "AWS::CloudFormation::Stack").items()
        if k.startswith("IamApi")
    ]
    [path] = synthesized.outdir.glob(f"O2CHub{STAGE}IamApi*.nested.template.json")
    template = json.loads(path.read_text())
    api_id = _rest_api(template, "-api-iam")
    methods = _v1_methods(template, api_id)
    assert set(methods) == {(r.method, r.path) for r in API_ROUTES}
    cognito_api = _v1_methods(parent, _rest_api(parent, "-webhooks"))
    passed = nested["Properties"]["Parameters"]
    for key, props in methods.items():
        assert props["AuthorizationType"] == "AWS_IAM", key
        assert "AuthorizerId" not in props and "AuthorizationScopes" not in props, key
        # the same function (its live alias) as the Cognito API's method
        uri = props["Integration"]["Uri"]["Fn::Join"][1]
        [function_ref] = [passed[p["Ref"]] for p in uri if isinstance(p, dict) and p.get("Ref") in passed]
        assert function_ref in cognito_api[key]["Integration"]["Uri"]["Fn::Join"][1], key
    policies = {
        p["Properties"]["ManagedPolicyName"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(template, "AWS::IAM::ManagedPolicy").values()
    }
    assert set(policies) == {f"o2c-{STAGE}-api-{s.replace(':', '-')}" for s in API_SCOPES}
    for scope in API_SCOPES:
        (statement,) = policies[f"o2c-{STAGE}-api-{scope.replace(':', '-')}"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "execute-api:Invoke"
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        granted = set()
        for resource in resources:
            parts = resource["Fn::Join"][1]
            assert {"Ref": api_id} in parts, resource  # this API's methods, no other
            granted.add(parts[-1])
        expected = {
            f"/{STAGE}/{r.method}/{r.path.lstrip('/').replace('{id}', '*')}"
            for r in API_ROUTES
            if r.scope == scope
        }
        assert granted == expected, scope
    # SigV4 refusals answer problem+json, 403 as API Gateway answers them
    refusals = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "EXPIRED_TOKEN", "ACCESS_DENIED"} <= set(
        refusals
    )
    assert all(r["StatusCode"] == "403" for r in refusals.values())
    assert all("problems/forbidden" in r["ResponseTemplates"]["application/json"] for r in refusals.values())


def test_each_client_is_throttled_on_its_own_by_the_usage_plan_under_the_stage_limit(
    synthesized: Synthesized,
) -> None:
    """Every /v1 method requires the caller's usage-plan key; the plan's rate and burst apply to each key on
    its own (one per OAuth app client), below the stage's default limits for everyone together."""
    template = synthesized.templates[STAGE]
    config = StageConfig.from_context(STAGE, TEST_STAGE_CONTEXT)
    paths = _paths(template)
    for method in resources_of(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path = paths.get(props["ResourceId"].get("Ref", ""), "/")
        assert props.get("ApiKeyRequired", False) is path.startswith("/v1"), (props["HttpMethod"], path)
    (api_id,) = resources_of(template, "AWS::ApiGateway::RestApi")
    (stage_id, stage) = next(iter(resources_of(template, "AWS::ApiGateway::Stage").items()))
    [stage_settings] = stage["Properties"]["MethodSettings"]
    assert stage_settings["ThrottlingRateLimit"] == config.api_rate_limit
    assert stage_settings["ThrottlingBurstLimit"] == config.api_burst_limit
    (plan_id, plan) = next(iter(resources_of(template, "AWS::ApiGateway::UsagePlan").items()))
    assert plan["Properties"]["Throttle"] == {
        "RateLimit": config.api_client_rate_limit,
        "BurstLimit": config.api_client_burst_limit,
    }
    assert config.api_client_rate_limit < config.api_rate_limit
    stages = [(s["ApiId"], s["Stage"]) for s in plan["Properties"]["ApiStages"]]
    assert stages == [({"Ref": api_id}, {"Ref": stage_id})]
    (key_id, key) = next(iter(resources_of(template, "AWS::ApiGateway::ApiKey").items()))
    assert key["Properties"]["Enabled"] is True
    (plan_key,) = resources_of(template, "AWS::ApiGateway::UsagePlanKey").values()
    assert plan_key["Properties"] == {
        "KeyId": {"Ref": key_id},
        "KeyType": "API_KEY",
        "UsagePlanId": {"Ref": plan_id},
    }


def test_a_throttled_or_keyless_client_gets_the_apis_problem_json(synthesized: Synthesized) -> None:
    """API Gateway's own 429 is ``{"message":"Too Many Requests"}`` without Retry-After: customised into the
    taxonomy's ``rate-limited`` problem with Retry-After, as the local gateway answers."""
    template = synthesized.templates[STAGE]
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"] == {
        "gatewayresponse.header.Content-Type": "'application/problem+json'",
        "gatewayresponse.header.Retry-After": "'1'",
    }
    body = json.loads(throttled["ResponseTemplates"]["application/json"])
    assert body["type"] == KINDS["rate-limited"][0] and body["status"] == 429
    refused = responses["INVALID_API_KEY"]
    assert refused["StatusCode"] == "403"
    assert json.loads(refused["ResponseTemplates"]["application/json"])["type"] == KINDS["forbidden"][0]


def test_one_invoke_permission_serves_every_v1_method(synthesized: Synthesized) -> None:
    """API Gateway may invoke the API function for /v1 only, with one permission (a per-method permission for
    each route would cost resources the stack does not have under CloudFormation's 500)."""
    template = synthesized.templates[STAGE]
    v1 = [
        p["Properties"]
        for p in resources_of(template, "AWS::Lambda::Permission").values()
        if "/v1/" in json.dumps(p["Properties"].get("SourceArn"))
    ]
    assert len(v1) == 1 and v1[0]["Principal"] == "apigateway.amazonaws.com"
    assert json.dumps(v1[0]["SourceArn"]).endswith('"/*/v1/*"]]}')
    assert len(template["Resources"]) <= 500
