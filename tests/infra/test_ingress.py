"""The webhook API: POST routes to the functions, problem+json for everything else, behind WAF."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.topology import WEBHOOK_FUNCTIONS
from tests.infra.conftest import OTHER_STAGE, STAGE, Synthesized
from tests.infra.helpers import function_by_description, live_alias_of, resources_of

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
    # through the function's live alias (the version CodeDeploy shifted traffic to), never $LATEST
    assert json.dumps({"Ref": live_alias_of(template_json, function_id)}) in json.dumps(integration["Uri"])


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


#: The AWS common rule set's body-inspecting rules and the labels they add (AWS WAF developer guide, CRS).
BODY_RULE_LABELS = {
    "SizeRestrictions_BODY": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body",
    "CrossSiteScripting_BODY": "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body",
    "GenericLFI_BODY": "awswaf:managed:aws:core-rule-set:GenericLFI_Body",
    "GenericRFI_BODY": "awswaf:managed:aws:core-rule-set:GenericRFI_Body",
    "EC2MetaDataSSRF_BODY": "awswaf:managed:aws:core-rule-set:EC2MetaDataSSRF_Body",
}


def _web_acl(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((acl_id, acl),) = resources_of(template_json, "AWS::WAFv2::WebACL").items()
    return acl_id, acl["Properties"]


def test_waf_rate_limits_and_guards_the_stage(template_json: dict[str, Any]) -> None:
    acl_id, acl = _web_acl(template_json)
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert acl["Scope"] == "REGIONAL"
    assert "RateBasedStatement" in rules["RateLimitPerIp"]["Statement"]

    (association,) = resources_of(template_json, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (stage_id,) = resources_of(template_json, "AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


def _matches(statement: dict[str, Any], *, path: str, labels: set[str]) -> bool:
    """Evaluates the WAF statement kinds this web ACL uses against a request's URI path and labels."""
    if "AndStatement" in statement:
        return all(_matches(s, path=path, labels=labels) for s in statement["AndStatement"]["Statements"])
    if "OrStatement" in statement:
        return any(_matches(s, path=path, labels=labels) for s in statement["OrStatement"]["Statements"])
    if "NotStatement" in statement:
        return not _matches(statement["NotStatement"]["Statement"], path=path, labels=labels)
    if "LabelMatchStatement" in statement:
        assert statement["LabelMatchStatement"]["Scope"] == "LABEL"
        return statement["LabelMatchStatement"]["Key"] in labels
    if "ByteMatchStatement" in statement:
        match = statement["ByteMatchStatement"]
        assert match["FieldToMatch"] == {"UriPath": {}}
        assert match["PositionalConstraint"] == "STARTS_WITH"
        return path.startswith(match["SearchString"])
    raise AssertionError(f"unexpected statement {sorted(statement)}")


def _blocked(acl: dict[str, Any], *, path: str, body_rule: str) -> bool:
    """Whether a request to ``path`` whose body trips ``body_rule`` of the common rule set is blocked."""
    labels: set[str] = set()
    for rule in sorted(acl["Rules"], key=lambda r: r["Priority"]):
        statement = rule["Statement"]
        group = statement.get("ManagedRuleGroupStatement")
        if group is not None:
            if group["Name"] != "AWSManagedRulesCommonRuleSet":
                continue
            assert "ScopeDownStatement" not in group  # the header/URI/query rules guard every path
            overrides = {o["Name"]: o["ActionToUse"] for o in group.get("RuleActionOverrides", [])}
            labels.add(BODY_RULE_LABELS[body_rule])  # a matching rule labels the request, even in COUNT
            if rule["OverrideAction"] == {"None": {}} and body_rule not in overrides:
                return True  # the rule's own action: Block
            assert overrides.get(body_rule, {"Count": {}}) == {"Count": {}}
        elif "RateBasedStatement" in statement:
            continue
        elif "Block" in rule.get("Action", {}) and _matches(statement, path=path, labels=labels):
            return True
    return False


@pytest.mark.parametrize("body_rule", sorted(BODY_RULE_LABELS))
def test_waf_body_rules_spare_webhooks_and_block_elsewhere(
    template_json: dict[str, Any], body_rule: str
) -> None:
    _, acl = _web_acl(template_json)
    # through execute-api (the path carries the stage) and through a custom domain
    for spec in WEBHOOK_FUNCTIONS:
        assert spec.route is not None
        for path in (f"/test{spec.route.path}", spec.route.path):
            assert not _blocked(acl, path=path, body_rule=body_rule), (path, body_rule)
    for path in ("/test/admin", "/admin", "/test/WEBHOOKS/stripe", "/other/webhooks/stripe", "/"):
        assert _blocked(acl, path=path, body_rule=body_rule), (path, body_rule)


def test_only_the_owning_stage_sets_the_api_gateway_account(synthesized: Synthesized) -> None:
    # The account's CloudWatch role setting is one per region: the test stage owns it, test2 relies on it.
    owner, other = (synthesized.templates[s] for s in (STAGE, OTHER_STAGE))
    (account,) = resources_of(owner, "AWS::ApiGateway::Account").values()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    assert owner["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    assert resources_of(other, "AWS::ApiGateway::Account") == {}
    assert not any("CloudWatchRole" in logical_id for logical_id in resources_of(other, "AWS::IAM::Role"))


def test_cli_outputs_exist(template_json: dict[str, Any]) -> None:
    outputs = set(template_json["Outputs"])
    assert {"ApiUrl", "EventBusName", "LineageTableName", "IdempotencyTableName"} <= outputs
    assert {"LineageRecorderQueueUrl", "LineageRecorderDlqUrl"} <= outputs
