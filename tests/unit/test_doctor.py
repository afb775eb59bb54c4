"""``o2c doctor``'s judgement, without a cloud: the secrets (deploy-time placeholder, missing key, wrong
prefix), the Stripe webhook endpoint (wrong URL, missing event type, wrong API version: each fails with its
fix), and the JSON a script reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.secrets import PLACEHOLDER_VALUE
from infra.topology import SECRETS
from o2c_cli import doctor
from o2c_cli.doctor import Finding, Stage, check_secrets, stripe_endpoint_findings
from shared.inbound.stripe import MAPPINGS

GOOD: dict[str, Any] = {
    "StripeWebhookSecret": {"secrets": ["whsec_abc", "whsec_def"]},
    "HubSpotCredentials": {"secrets": ["0f1e2d"], "access_token": "pat-na1-1234"},
    "SalesforceCredentials": {"client_id": "3MVG9abc", "client_secret": "s3cr3t"},
    "ErpWebhookSecret": {"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]},
    "NetSuiteCredentials": {
        "account_id": "1234567",
        "consumer_key": "ck",
        "consumer_secret": "cs",
        "token_id": "tk",
        "token_secret": "ts",
    },
    "AvaTaxCredentials": {"account_id": "2000123456", "license_key": "ABCDEF", "company_code": "O2C"},
    "StripeApiKey": {"api_key": "rk_live_abc"},
    "ZendeskCredentials": {"email": "o2c@example.com", "api_token": "tok", "signing_secrets": ["c2VjcmV0"]},
}
URL = "https://hub.example.com/webhooks/stripe"
PINNED = "2026-10-28.endive"
NEEDED = sorted(MAPPINGS)


def stage(**secrets: Any) -> Stage:
    return Stage(name="prod", settings={}, secrets={**GOOD, **secrets}, public_url="https://hub.example.com")


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_every_secret_the_stack_deploys_is_checked() -> None:
    assert set(doctor.SECRET_SHAPES) == {spec.id for spec in SECRETS}


def test_well_formed_secrets_pass() -> None:
    assert all(f.ok for f in check_secrets(stage()))


def test_the_deploy_time_placeholder_fails_with_the_command_that_sets_it() -> None:
    found = by_check(check_secrets(stage(StripeWebhookSecret=json.loads(PLACEHOLDER_VALUE))))
    finding = found["secret StripeWebhookSecret"]
    assert not finding.ok
    assert "placeholder" in finding.detail
    assert "put-secret-value" in finding.fix and "StripeWebhookSecret" in finding.fix
    assert all(f.ok for name, f in found.items() if name != "secret StripeWebhookSecret")


def test_a_missing_key_is_named() -> None:
    creds = dict(GOOD["NetSuiteCredentials"])
    del creds["token_secret"]
    finding = by_check(check_secrets(stage(NetSuiteCredentials=creds)))["secret NetSuiteCredentials"]
    assert not finding.ok
    assert "'token_secret'" in finding.detail


@pytest.mark.parametrize(
    ("secret_id", "value", "prefix"),
    [
        ("StripeApiKey", {"api_key": "pk_live_abc"}, "sk_ or rk_"),  # the publishable key pasted
        ("StripeWebhookSecret", {"secrets": ["whsec_ok", "we_123"]}, "whsec_"),  # the endpoint id pasted
        ("HubSpotCredentials", {"secrets": ["x"], "access_token": "abc"}, "pat-"),
    ],
)
def test_a_value_without_the_vendors_prefix_fails(secret_id: str, value: Any, prefix: str) -> None:
    finding = by_check(check_secrets(stage(**{secret_id: value})))[f"secret {secret_id}"]
    assert not finding.ok
    assert f"must start with {prefix}" in finding.detail


def test_an_unreadable_secret_fails() -> None:
    found = by_check(check_secrets(stage(AvaTaxCredentials=LookupError("the stage has no such secret"))))
    assert not found["secret AvaTaxCredentials"].ok
    assert "cannot be read" in found["secret AvaTaxCredentials"].detail


def endpoint(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "we_123",
        "object": "webhook_endpoint",
        "url": URL,
        "status": "enabled",
        "enabled_events": list(NEEDED),
        "api_version": PINNED,
        **overrides,
    }


def test_the_right_endpoint_passes() -> None:
    findings = stripe_endpoint_findings([endpoint()], URL, NEEDED, PINNED)
    assert findings and all(f.ok for f in findings)


def test_an_endpoint_for_another_url_fails_with_how_to_create_ours() -> None:
    [finding] = stripe_endpoint_findings(
        [endpoint(url="https://staging.example.com/webhooks/stripe")], URL, NEEDED, PINNED
    )
    assert not finding.ok
    assert "no webhook endpoint points at " + URL in finding.detail
    assert "staging.example.com" in finding.detail
    assert f"url={URL}" in finding.fix and f"api_version={PINNED}" in finding.fix
    assert all(f"enabled_events[]={t}" in finding.fix for t in NEEDED)


def test_a_missing_event_type_fails_with_the_full_list_to_set() -> None:
    events = [t for t in NEEDED if t != "payout.paid"]
    found = by_check(stripe_endpoint_findings([endpoint(enabled_events=events)], URL, NEEDED, PINNED))
    finding = found["stripe webhook events we_123"]
    assert not finding.ok
    assert finding.detail == "missing event types: payout.paid"
    assert "enabled_events[]=payout.paid" in finding.fix and "webhook_endpoints/we_123" in finding.fix
    assert found["stripe webhook api version we_123"].ok


def test_all_events_wildcard_passes() -> None:
    found = by_check(stripe_endpoint_findings([endpoint(enabled_events=["*"])], URL, NEEDED, PINNED))
    assert found["stripe webhook events we_123"].ok


@pytest.mark.parametrize("version", ["2024-06-20", None])
def test_another_api_version_fails_with_how_to_move(version: str | None) -> None:
    found = by_check(stripe_endpoint_findings([endpoint(api_version=version)], URL, NEEDED, PINNED))
    finding = found["stripe webhook api version we_123"]
    assert not finding.ok
    assert PINNED in finding.detail and (version or "account default") in finding.detail
    assert f"pinned to {PINNED}" in finding.fix and "delete we_123" in finding.fix
    assert found["stripe webhook events we_123"].ok


def test_a_disabled_endpoint_fails() -> None:
    found = by_check(stripe_endpoint_findings([endpoint(status="disabled")], URL, NEEDED, PINNED))
    assert not found["stripe webhook endpoint we_123"].ok
    assert "disabled=false" in found["stripe webhook endpoint we_123"].fix


def test_json_output_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    the_stage = stage(StripeApiKey={"api_key": "pk_live_abc"})
    monkeypatch.setattr(doctor, "stage_for", lambda stack, region: the_stage)
    monkeypatch.setattr(doctor, "CHECKS", (("secrets", doctor.check_secrets),))
    assert doctor.run("O2CHub-prod", None, as_json_output=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["stage"] == "prod" and report["publicUrl"] == "https://hub.example.com"
    assert report["ok"] is False
    failing = [f for f in report["findings"] if not f["ok"]]
    assert [f["check"] for f in failing] == ["secret StripeApiKey"]
    assert set(failing[0]) == {"check", "ok", "detail", "fix", "note"}

    monkeypatch.setattr(doctor, "stage_for", lambda stack, region: stage())
    assert doctor.run("O2CHub-prod", None, as_json_output=True) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_a_check_that_blows_up_is_a_failing_finding_not_a_traceback() -> None:
    def broken(_: Stage) -> list[Finding]:
        raise ConnectionError("connection refused")

    [finding] = doctor.diagnose(stage(), (("netsuite", broken),))
    assert not finding.ok and "connection refused" in finding.detail


def test_without_a_developer_key_hubspot_subscriptions_are_a_note_not_a_failure() -> None:
    [finding] = doctor.check_hubspot_subscriptions(stage())
    assert finding.ok and finding.note
    assert "developer API key" in finding.detail and "/webhooks/hubspot" in finding.detail


class _Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class _Aws:
    """The three AWS APIs a stack's doctor reads, answering for one stack with two functions."""

    def __init__(self) -> None:
        self.secret_values = {
            "arn:stripe-key": json.dumps(GOOD["StripeApiKey"]),
            "arn:stripe-webhook": PLACEHOLDER_VALUE,
        }

    def client(self, service: str) -> Any:
        return self

    def get_paginator(self, name: str) -> _Pages:
        assert name == "list_stack_resources"
        return _Pages(
            [
                {
                    "StackResourceSummaries": [
                        {"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": "fn-webhook"},
                        {"ResourceType": "AWS::SQS::Queue", "PhysicalResourceId": "q"},
                        {"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": "fn-payments"},
                    ]
                }
            ]
        )

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        env = {
            "fn-webhook": {
                "STRIPE_WEBHOOK_SECRET_ARN": "arn:stripe-webhook",
                "PUBLIC_BASE_URL": "https://x.io/",
            },
            "fn-payments": {
                "STRIPE_API_KEY_ARN": "arn:stripe-key",
                "STRIPE_API_BASE_URL": "https://api.stripe.com",
            },
        }[FunctionName]
        return {"Environment": {"Variables": env}}

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"Outputs": []}]}

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        return {"SecretString": self.secret_values[SecretId]}


def test_a_stacks_stage_is_its_functions_environment_and_the_secrets_they_point_at() -> None:
    the_stage = doctor.stack_stage(_Aws(), "O2CHub-prod")  # type: ignore[arg-type]
    assert the_stage.public_url == "https://x.io"
    assert the_stage.settings["STRIPE_API_BASE_URL"] == "https://api.stripe.com"
    assert the_stage.secrets["StripeApiKey"] == GOOD["StripeApiKey"]
    found = by_check(check_secrets(the_stage))
    assert found["secret StripeApiKey"].ok
    assert not found["secret StripeWebhookSecret"].ok  # still the deploy-time placeholder
    assert "no such secret" in found["secret NetSuiteCredentials"].detail  # no function points at it
