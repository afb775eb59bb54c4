"""The governed /v1 API in the template: every /v1 method behind the Cognito authorizer with its route's
scope, a resource server with the topology's scopes, and a client-credentials app client."""

from __future__ import annotations

from typing import Any

import pytest

from infra.topology import API_RESOURCE_SERVER, API_ROUTES, API_SCOPES
from tests.infra.conftest import STAGE, Synthesized
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


def test_every_v1_method_requires_a_cognito_token_with_its_scope(synthesized: Synthesized) -> None:
    template = synthesized.templates[STAGE]
    paths = _paths(template)
    (authorizer_id,) = resources_of(template, "AWS::ApiGateway::Authorizer")
    methods = {}
    for method in resources_of(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path = paths.get(props["ResourceId"].get("Ref", ""), "/")
        if path.startswith("/v1"):
            methods[(props["HttpMethod"], path)] = props
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
