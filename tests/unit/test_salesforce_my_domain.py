"""Defect 10: Salesforce issues client-credentials tokens on the org's My Domain only. A stage that takes
Salesforce must name its My Domain URL; login.salesforce.com (the old default) is refused, not deployed."""

from __future__ import annotations

import pytest

from infra.config import StageConfig

ORG = {"salesforceOrgIds": "00D5g000004DemoEAA"}


def test_no_stage_defaults_to_a_login_host() -> None:
    assert "login.salesforce.com" not in StageConfig(stage="dev").stage_settings().values()


def test_a_stage_taking_salesforce_without_its_my_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="salesforceMyDomainUrl"):
        StageConfig.from_context("prod", ORG)


@pytest.mark.parametrize(
    "url",
    [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        "http://acme.my.salesforce.com",
        "https://acme.my.salesforce.com.evil.example",
        "https://acme.lightning.force.com",
    ],
)
def test_a_url_that_is_not_a_my_domain_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="My Domain"):
        StageConfig.from_context("prod", {**ORG, "salesforceMyDomainUrl": url})


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://acme-dev-ed.develop.my.salesforce.com/",
    ],
)
def test_my_domain_urls_are_taken_and_reach_the_functions(url: str) -> None:
    config = StageConfig.from_context("prod", {**ORG, "salesforceMyDomainUrl": url})
    assert config.stage_settings()["SALESFORCE_MY_DOMAIN_URL"] == url
