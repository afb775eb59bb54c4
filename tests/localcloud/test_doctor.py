"""``o2c doctor`` on a fresh local cloud, as an operator runs it: the CRM sandboxes start without the hub's
fields, so the doctor fails naming them and saying to run ``o2c setup crm``; after ``o2c setup crm`` it passes.
Every other check (secrets, the Stripe webhook endpoint the cloud registered through Stripe's API, NetSuite's
custom fields, subsidiaries and currencies, AvaTax) passes on the fresh cloud already."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import LocalCloud
from o2c_cli.main import main


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state = tmp_path_factory.mktemp("o2c-doctor")
    with LocalCloud(api_port=0, aws_port=0, state_dir=state, warm_workers=1) as c:
        yield c


def doctor(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict]:
    monkeypatch.setenv("O2C_STATE_DIR", str(cloud.state_dir))
    code = main(["doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_local_json_carries_the_stage_settings_the_functions_get(cloud: LocalCloud) -> None:
    info = json.loads(Path(cloud.local_json_path).read_text())
    assert info["settings"]["PUBLIC_BASE_URL"] == cloud.api_url
    assert info["settings"]["STRIPE_API_BASE_URL"] == cloud.sandboxes["stripe"].url
    assert "ERP_SUBSIDIARIES" in info["settings"]


def test_the_cloud_registered_its_stripe_endpoint_through_stripes_api(cloud: LocalCloud) -> None:
    from shared.inbound.stripe import MAPPINGS

    [endpoint] = cloud.sandboxes["stripe"].webhook_endpoints()
    assert endpoint["url"] == cloud.api_url + "/webhooks/stripe"
    assert sorted(endpoint["enabled_events"]) == sorted(MAPPINGS)
    assert endpoint["api_version"] == cloud.sandboxes["stripe"].api_version


def test_fresh_cloud_fails_on_the_crm_fields_then_passes_after_setup_crm(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = doctor(cloud, monkeypatch, capsys)
    failing = {f["check"]: f for f in report["findings"] if not f["ok"]}
    assert code == 1 and report["ok"] is False
    assert list(failing) == ["crm fields"], failing
    crm = failing["crm fields"]
    assert "hubspot deals.o2c_erp_order_number" in crm["detail"]
    assert "salesforce Opportunity." in crm["detail"]
    assert "o2c setup crm" in crm["fix"]
    checks = {f["check"] for f in report["findings"]}
    assert {"secret StripeApiKey", "stripe api key", "netsuite credentials", "avatax credentials"} <= checks
    assert any(c.startswith("stripe webhook api version we_") for c in checks)

    monkeypatch.setenv("O2C_STATE_DIR", str(cloud.state_dir))
    assert main(["setup", "crm"]) == 0
    capsys.readouterr()

    code, report = doctor(cloud, monkeypatch, capsys)
    assert [f for f in report["findings"] if not f["ok"]] == []
    assert code == 0 and report["ok"] is True
    assert {f["check"]: f["ok"] for f in report["findings"]}["crm fields"] is True


# --- o2c smoke: what the deploy pipeline runs after each deployment, beside the doctor ------------------------


def test_smoke_delivers_a_stripe_signed_event_the_stage_takes_and_a_forged_one_it_refuses(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(cloud.state_dir))

    code = main(["smoke"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"({cloud.api_url}/webhooks/stripe)" in out
    assert "ok    signed delivery: 200 ignored" in out
    assert "ok    forged delivery: 401 invalid-signature" in out


def test_smoke_fails_when_the_stage_does_not_hold_the_secret_it_signs_with(cloud: LocalCloud) -> None:
    from o2c_cli.smoke import smoke

    checks = smoke(f"{cloud.api_url}/webhooks/stripe", ["whsec_" + "0" * 32])

    assert [(c.name, c.ok) for c in checks] == [("signed delivery", False), ("forged delivery", True)]
    assert checks[0].detail.startswith("401 ")


def test_smoke_stops_before_sending_when_the_signing_secret_is_the_placeholder(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(cloud.state_dir))
    secret_id = json.loads(Path(cloud.local_json_path).read_text())["resources"]["secrets"][
        "StripeWebhookSecret"
    ]
    sm = cloud.client("secretsmanager")
    kept = sm.get_secret_value(SecretId=secret_id)["SecretString"]
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"secrets": []}))
    try:
        code = main(["smoke"])
    finally:
        sm.put_secret_value(SecretId=secret_id, SecretString=kept)

    out = capsys.readouterr().out
    assert code == 1
    assert "StripeWebhookSecret holds no signing secret" in out
    assert "whsec_" not in out
