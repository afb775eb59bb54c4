"""``o2c doctor``'s vendor checks against the sandboxes: NetSuite's metadata catalog (the hub's custom fields),
subsidiaries and currencies as the stage maps them, AvaTax's ping, Stripe's webhook endpoints; each wrong
mapping or credential fails with its fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from localcloud.sandboxes.netsuite import NetSuiteSandbox
from localcloud.sandboxes.stripe import StripeSandbox
from o2c_cli.doctor import Finding, Stage, check_avatax, check_netsuite, check_stripe
from shared.inbound.stripe import MAPPINGS
from shared.outbound import PermanentError
from shared.outbound.netsuite import NetSuiteErp
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, StripeHub
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


# --- Stripe: the webhook endpoint, read and registered through Stripe's API ---------------------------------

STAGE_URL = "https://hub.example.com"


def stripe_stage(sandbox: StripeSandbox) -> Stage:
    return Stage(
        "test", {"STRIPE_API_BASE_URL": sandbox.url}, {"StripeApiKey": {"api_key": STRIPE_API_KEY}}, STAGE_URL
    )


def test_the_stripe_check_reads_the_accounts_endpoints(
    sandbox: StripeSandbox, stripe: StripePayments
) -> None:
    assert by_check(check_stripe(stripe_stage(sandbox)))["stripe webhook endpoint"].ok is False  # none yet
    events = [t for t in sorted(MAPPINGS) if t != "refund.failed"]
    created = stripe.create_webhook_endpoint(url=f"{STAGE_URL}/webhooks/stripe", enabled_events=events)
    assert created["api_version"] == stripe.api_version == sandbox.api_version
    found = by_check(check_stripe(stripe_stage(sandbox)))
    assert found["stripe api key"].ok and found[f"stripe webhook endpoint {created['id']}"].ok
    assert found[f"stripe webhook api version {created['id']}"].ok
    events_finding = found[f"stripe webhook events {created['id']}"]
    assert not events_finding.ok and events_finding.detail == "missing event types: refund.failed"


def test_a_refused_stripe_key_fails(sandbox: StripeSandbox) -> None:
    stage = stripe_stage(sandbox)
    stage.secrets["StripeApiKey"] = {"api_key": "sk_test_wrong"}
    [finding] = check_stripe(stage)
    assert (finding.check, finding.ok) == ("stripe api key", False)


def test_an_endpoint_for_the_sandboxs_own_webhook_url_is_that_destination(
    sandbox: StripeSandbox, stripe: StripePayments, hub: StripeHub
) -> None:
    created = stripe.create_webhook_endpoint(url=hub.url, enabled_events=["*"])
    assert created["secret"] == STRIPE_WEBHOOK_SECRET  # the secret the hub holds is the one Stripe shows
    customer = stripe.ensure_customer(
        erp_customer_id="1", crm_account_id="acct-1", name="Acme", email=None, idempotency_key="customer:1"
    )
    seti = stripe.create_setup_intent(customer_id=customer, metadata={}, idempotency_key="seti-1")
    sandbox.complete_setup(seti["id"])
    sandbox.wait_for_webhooks()
    assert hub.types() == ["setup_intent.succeeded"]  # once, not once more through the endpoint
    assert hub.rejected == 0


def test_a_restored_sandboxs_own_endpoint_follows_this_runs_webhook_url(
    sandbox: StripeSandbox, stripe: StripePayments, hub: StripeHub
) -> None:
    created = stripe.create_webhook_endpoint(url=hub.url, enabled_events=sorted(MAPPINGS))
    restored = StripeSandbox(
        webhook_url="http://127.0.0.1:9/webhooks/stripe",  # the next run's API
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        api_key=STRIPE_API_KEY,
    )
    restored.restore_snapshot(sandbox.state_snapshot())
    [endpoint] = restored.webhook_endpoints()
    assert (endpoint["id"], endpoint["url"]) == (created["id"], "http://127.0.0.1:9/webhooks/stripe")
    with restored._lock:
        assert restored._endpoints_for("payout.paid") == []  # the sandbox's own destination gets it once
