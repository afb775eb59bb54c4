"""Salesforce sender proofs as stage settings: API Gateway mutual TLS on a custom domain (the truststore
holds the CA of Salesforce's client certificate) and the SessionId check, wired into the function."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import StageConfig
from infra.topology import SALESFORCE_WEBHOOK

pytestmark = pytest.mark.infra

MTLS = {
    "salesforceMtlsTruststoreUri": "s3://o2c-truststores/salesforce/ca.pem",
    "salesforceMtlsDomainName": "sfdc-hooks.example.com",
    "salesforceMtlsCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    "salesforceVerifySessionId": "true",
    "salesforceMyDomainUrl": "https://o2c-demo.my.salesforce.com",  # where sessions are checked
}


def _template(context: dict[str, str]) -> Any:
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template

    from infra.constructs.ingress import WebhookApi
    from infra.topology import WEBHOOK_FUNCTIONS

    app = App()
    stack = Stack(app, "IngressOnly")
    functions = {
        spec.id: lambda_.Function(
            stack,
            spec.id,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )
        for spec in WEBHOOK_FUNCTIONS
    }
    WebhookApi(stack, "Ingress", config=StageConfig.from_context("mtls", context), functions=functions)
    return Template.from_stack(stack)


def test_mutual_tls_custom_domain_with_the_truststore_is_mapped_to_the_api() -> None:
    template = _template(MTLS)
    template.has_resource_properties(
        "AWS::ApiGateway::DomainName",
        {
            "DomainName": "sfdc-hooks.example.com",
            "MutualTlsAuthentication": {"TruststoreUri": "s3://o2c-truststores/salesforce/ca.pem"},
            "SecurityPolicy": "TLS_1_2",
            "RegionalCertificateArn": MTLS["salesforceMtlsCertificateArn"],
        },
    )
    template.resource_count_is("AWS::ApiGateway::BasePathMapping", 1)


def test_without_the_settings_there_is_no_custom_domain() -> None:
    _template({}).resource_count_is("AWS::ApiGateway::DomainName", 0)


def test_the_function_is_told_to_require_a_client_certificate_and_check_sessions() -> None:
    settings = StageConfig.from_context("mtls", MTLS).stage_settings()
    assert settings["SALESFORCE_REQUIRE_CLIENT_CERT"] == "true"
    assert settings["SALESFORCE_VERIFY_SESSION_ID"] == "true"
    assert {"SALESFORCE_REQUIRE_CLIENT_CERT", "SALESFORCE_VERIFY_SESSION_ID"} <= set(
        SALESFORCE_WEBHOOK.stage_settings
    )
    off = StageConfig.from_context("plain", {}).stage_settings()
    assert off["SALESFORCE_REQUIRE_CLIENT_CERT"] == off["SALESFORCE_VERIFY_SESSION_ID"] == "false"


@pytest.mark.parametrize(
    "context",
    [
        {"salesforceMtlsTruststoreUri": MTLS["salesforceMtlsTruststoreUri"]},
        {**MTLS, "salesforceMtlsTruststoreUri": "https://bucket/ca.pem"},
        {"salesforceVerifySessionId": "yes"},
    ],
)
def test_incomplete_or_malformed_settings_are_refused(context: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="salesforce"):
        StageConfig.from_context("bad", context)
