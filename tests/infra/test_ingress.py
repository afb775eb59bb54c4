"""The webhook API: POST routes to the functions, problem+json for everything else, behind WAF."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import WEBHOOK_FUNCTIONS
from tests.infra.helpers import function_by_description, resources_of

pytestmark = pytest.mark.infra


def _resource_id_for_path(template_json: dict[str, Any], path: str) -> str:
    resources = resources_of(template_json, "AWS::ApiGateway::Resource")
    (api_id,) = resources_of(template_json, "AWS::ApiGateway::RestApi")
    parent: dict[str, Any] = {"Fn::GetAtt": [api_id, "RootResourceId"]}
    logical_id = ""
    for part in path.strip("/").split("/"):
        (logical_id,) = [
            k
            for k, r in resources.items()
            if r["Properties"]["PathPart"] == part and r["Properties"]["ParentId"] == parent
        ]
        parent = {"Ref": logical_id}
    return logical_id


def _methods(template_json: dict[str, Any], resource_id: str) -> dict[str, dict[str, Any]]:
    return {
        m["Properties"]["HttpMethod"]: m["Properties"]
        for m in resources_of(template_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": resource_id}
    }


@pytest.mark.parametrize("spec", WEBHOOK_FUNCTIONS, ids=lambda s: s.id)
def test_webhook_route_proxies_to_its_function(template_json: dict[str, Any], spec: Any) -> None:
    assert spec.route is not None
    function_id, _ = function_by_description(template_json, spec.description)
    methods = _methods(template_json, _resource_id_for_path(template_json, spec.route.path))

    integration = methods[spec.route.method]["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert json.dumps({"Fn::GetAtt": [function_id, "Arn"]}) in json.dumps(integration["Uri"])


@pytest.mark.parametrize("spec", WEBHOOK_FUNCTIONS, ids=lambda s: s.id)
def test_other_methods_answer_405_problem(template_json: dict[str, Any], spec: Any) -> None:
    assert spec.route is not None
    methods = _methods(template_json, _resource_id_for_path(template_json, spec.route.path))

    integration = methods["ANY"]["Integration"]
    assert integration["Type"] == "MOCK"
    (response,) = integration["IntegrationResponses"]
    assert response["StatusCode"] == "405"
    assert response["ResponseParameters"]["method.response.header.Allow"] == f"'{spec.route.method}'"
    assert (
        response["ResponseParameters"]["method.response.header.Content-Type"] == "'application/problem+json'"
    )
    body = json.loads(next(iter(response["ResponseTemplates"].values())))
    assert body == {"type": "about:blank", "title": "Method Not Allowed", "status": 405}


def test_unknown_route_answers_404_problem(template_json: dict[str, Any]) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of(template_json, "AWS::ApiGateway::GatewayResponse").values()
    }
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert (
        missing["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    )
    assert json.loads(missing["ResponseTemplates"]["application/json"])["status"] == 404
    for default in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = responses[default]["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"


def test_stage_logs_access_but_never_bodies_and_is_throttled(template_json: dict[str, Any]) -> None:
    (stage,) = resources_of(template_json, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "test"
    assert "DestinationArn" in props["AccessLogSetting"]
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] == "INFO"
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0


def test_waf_rate_limits_and_lets_large_webhook_bodies_through(template_json: dict[str, Any]) -> None:
    (acl_id, acl), *_ = resources_of(template_json, "AWS::WAFv2::WebACL").items()
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert "RateBasedStatement" in rules["RateLimitPerIp"]["Statement"]

    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}} in common["RuleActionOverrides"]

    (association,) = resources_of(template_json, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (stage_id,) = resources_of(template_json, "AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


def test_cli_outputs_exist(template_json: dict[str, Any]) -> None:
    outputs = set(template_json["Outputs"])
    assert {"ApiUrl", "EventBusName", "LineageTableName", "IdempotencyTableName"} <= outputs
    assert {"LineageRecorderQueueUrl", "LineageRecorderDlqUrl"} <= outputs
