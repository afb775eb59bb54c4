"""Defect 11 end to end: a portal where the property the hub writes back was never created (or was deleted).
HubSpot refuses the write-back (400 PROPERTY_DOESNT_EXIST); the money is booked, but the execution does not end
Paid: it ends NeedsAttention with an OrderOnHold naming the missing property."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.crm_setup import missing_crm_fields
from o2c_cli.main import main
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import save_card, wait_until

MISSING = "o2c_erp_invoice_number"


def hubspot_api(hub: Hub, method: str, path: str) -> int:
    sandbox = hub.cloud.sandboxes["hubspot"]
    request = urllib.request.Request(
        sandbox.url + path, method=method, headers={"Authorization": f"Bearer {sandbox.access_token}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return int(response.status)


@pytest.fixture
def portal_without_the_invoice_property(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    # Given someone deleted the deal property the hub writes the ERP invoice number into
    assert hubspot_api(hub, "DELETE", f"/crm/v3/properties/deals/{MISSING}") == 204
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    assert main(["setup", "crm", "--check"]) == 1  # the check names it, and changes nothing
    assert f"missing   hubspot deals.{MISSING}" in capsys.readouterr().out
    try:
        yield
    finally:  # the other flow tests share this portal: set it up again, as a user would
        assert main(["setup", "crm"]) == 0
        assert f"created   hubspot deals.{MISSING}" in capsys.readouterr().out
        assert missing_crm_fields(hub.target) == []


@pytest.mark.usefixtures("portal_without_the_invoice_property")
def test_a_refused_write_back_holds_the_order_instead_of_ending_paid(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox, name="Umbrella - property deleted")
    assert sandbox.win(deal_id)[0] == 200
    name = f"hubspot-{deal_id}"

    # When the customer pays and the hub writes back
    save_card(hub, name)
    state = wait_until(hub, name, status="FAILED")

    # Then the execution needs attention, and the hold names the property HubSpot does not have
    assert state.error == "O2C.NeedsAttention"
    hub.settle()
    entries = trace(hub.target, deal_id)
    types = [e.detail_type for e in entries]
    assert "InvoicePaid" in types  # the money moved and was applied: only the CRM is behind
    holds: list[dict[str, Any]] = [e.data for e in entries if e.detail_type == "OrderOnHold"]
    assert len(holds) == 1
    assert MISSING in holds[0]["reason"] and holds[0]["missingFields"] == [MISSING]
    assert holds[0]["erpOrderId"]
    assert MISSING not in sandbox.deal(deal_id)["properties"]
