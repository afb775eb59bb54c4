"""``o2c doctor``'s vendor checks against the sandboxes: NetSuite's metadata catalog (the hub's custom fields),
subsidiaries and currencies as the stage maps them, and AvaTax's ping; each wrong mapping or credential fails
with its fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from localcloud.sandboxes.netsuite import NetSuiteSandbox
from o2c_cli.doctor import Finding, Stage, check_avatax, check_netsuite
from shared.connectors import PermanentError
from shared.connectors.netsuite import NetSuiteErp
from tests.connectors.test_netsuite_connector import (
    ACCOUNT,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN_ID,
    TOKEN_SECRET,
    new_sandbox,
    tba,
)

CREDS = {
    "account_id": ACCOUNT,
    "consumer_key": CONSUMER_KEY,
    "consumer_secret": CONSUMER_SECRET,
    "token_id": TOKEN_ID,
    "token_secret": TOKEN_SECRET,
}
SUBSIDIARIES = {
    "NA": {"subsidiaryId": "1", "currency": "USD"},
    "EMEA": {"subsidiaryId": "2", "currency": "EUR"},
}
CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4", "JPY": "5", "KWD": "6"}


@pytest.fixture
def netsuite() -> Iterator[NetSuiteSandbox]:
    with new_sandbox() as sandbox:
        yield sandbox  # type: ignore[misc]


def ns_stage(
    sandbox: NetSuiteSandbox, *, subsidiaries: Any = None, currency_ids: Any = None, **creds: str
) -> Stage:
    settings = {
        "NETSUITE_BASE_URL": sandbox.url,
        "ERP_SUBSIDIARIES": json.dumps(SUBSIDIARIES if subsidiaries is None else subsidiaries),
        "NETSUITE_ACCOUNT_SETTINGS": json.dumps(
            {"currencyIds": CURRENCY_IDS if currency_ids is None else currency_ids}
        ),
    }
    return Stage("test", settings, {"NetSuiteCredentials": {**CREDS, **creds}}, "https://hub.example.com")


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_the_metadata_catalog_lists_the_records_fields_and_the_accounts_custom_fields(
    netsuite: NetSuiteSandbox,
) -> None:
    erp = NetSuiteErp(netsuite.url, account_id=ACCOUNT, auth=tba())
    sales_order = erp.record_fields("salesOrder")
    assert {"entity", "currency", "subsidiary", "item", "custbody_o2c_released"} <= sales_order
    assert "custentity_o2c_dunning" in erp.record_fields("customer")
    assert "custbody_o2c_released" not in erp.record_fields("invoice")


def test_the_metadata_catalog_answers_json_schema_only_when_asked(netsuite: NetSuiteSandbox) -> None:
    erp = NetSuiteErp(netsuite.url, account_id=ACCOUNT, auth=tba())
    response = erp._http.request(
        "GET",
        "/services/rest/record/v1/metadata-catalog/customer",
        headers={"Accept": "application/schema+json"},
    )
    schema = response.body
    assert schema["type"] == "object"
    assert schema["properties"]["custentity_o2c_dunning"]["x-ns-custom-field"] is True
    assert schema["properties"]["companyName"] == {"type": "string"}
    with pytest.raises(PermanentError):
        erp._http.request("GET", "/services/rest/record/v1/metadata-catalog/customer")


def test_the_local_mapping_passes(netsuite: NetSuiteSandbox) -> None:
    findings = check_netsuite(ns_stage(netsuite))
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    found = by_check(findings)
    assert "base currency EUR" in found["netsuite subsidiary 2"].detail
    assert found["netsuite field salesOrder.custbody_o2c_released"].ok
    assert found["netsuite field customer.custentity_o2c_dunning"].ok
    assert set(found) >= {f"netsuite currency {code}" for code in CURRENCY_IDS}


def test_a_subsidiary_mapped_to_another_currency_fails(netsuite: NetSuiteSandbox) -> None:
    wrong = {**SUBSIDIARIES, "EMEA": {"subsidiaryId": "2", "currency": "GBP"}}
    finding = by_check(check_netsuite(ns_stage(netsuite, subsidiaries=wrong)))["netsuite subsidiary 2"]
    assert not finding.ok
    assert "base currency EUR" in finding.detail and "GBP" in finding.detail
    assert "ERP_SUBSIDIARIES" in finding.fix


def test_a_subsidiary_the_account_lacks_fails(netsuite: NetSuiteSandbox) -> None:
    wrong = {**SUBSIDIARIES, "APAC": {"subsidiaryId": "9", "currency": "JPY"}}
    finding = by_check(check_netsuite(ns_stage(netsuite, subsidiaries=wrong)))["netsuite subsidiary 9"]
    assert not finding.ok and "does not have" in finding.detail


def test_a_currency_id_of_another_currency_fails(netsuite: NetSuiteSandbox) -> None:
    finding = by_check(check_netsuite(ns_stage(netsuite, currency_ids={"EUR": "2"})))["netsuite currency EUR"]
    assert not finding.ok
    assert "internal id 2 is GBP" in finding.detail and "currencyIds" in finding.fix


def test_refused_credentials_fail(netsuite: NetSuiteSandbox) -> None:
    findings = check_netsuite(ns_stage(netsuite, token_secret="ts-wrong"))
    assert [(f.check, f.ok) for f in findings] == [("netsuite credentials", False)]


@pytest.fixture
def avatax() -> Iterator[AvaTaxSandbox]:
    with AvaTaxSandbox(account_id="2000123456", license_key="LICENSE") as sandbox:
        yield sandbox  # type: ignore[misc]


def ava_stage(sandbox: AvaTaxSandbox, key: str) -> Stage:
    creds = {"account_id": "2000123456", "license_key": key, "company_code": "O2C"}
    return Stage("test", {"AVATAX_BASE_URL": sandbox.url}, {"AvaTaxCredentials": creds}, "")


def test_avatax_ping_says_whether_the_credentials_are_accepted(avatax: AvaTaxSandbox) -> None:
    [good] = check_avatax(ava_stage(avatax, "LICENSE"))
    assert good.ok and good.detail == "authenticated"
    [bad] = check_avatax(ava_stage(avatax, "WRONG"))
    assert not bad.ok and "AvaTaxCredentials" in bad.fix
