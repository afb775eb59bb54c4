"""Defect 11: a CRM write-back the CRM refuses (the hub's fields were never created there) must end the
execution NeedsAttention with an OrderOnHold naming the missing fields and a CrmWriteBackRefused metric —
never a silent Paid."""

from __future__ import annotations

from typing import Any

import pytest

from infra.statemachine import definition
from shared.errors import AuthError, UnknownFields
from shared.observability import metrics
from tests.unit.crm_fixtures import opportunity


class RefusingCrm:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def update_deal(self, deal_id: str, properties: dict[str, Any]) -> None:
        raise self.error

    update_opportunity = update_deal


def event(crm: str = "hubspot") -> dict[str, Any]:
    won = opportunity(crm, "9876543210" if crm == "hubspot" else "0065g00000C5URpAAN")
    return {
        "action": "write_back",
        "opportunity": {"opportunity": won.dump()},
        "order": {"erpOrderId": "1001", "documentNumber": "SO-1001"},
        "invoice": {"erpInvoiceId": "2001", "documentNumber": "INV-2001"},
        "paymentStatus": "paid",
    }


@pytest.fixture
def refusing(aws_env: None) -> Any:
    from functions.q2c_crm_tasks import handler

    def install(error: Exception) -> Any:
        return lambda event: handler.write_back(
            event, deps=handler.Deps(crm_for=lambda system: RefusingCrm(error))
        )

    return install


def test_a_refused_write_back_answers_not_updated_with_the_missing_fields_and_counts_it(
    refusing: Any,
) -> None:
    write_back = refusing(
        UnknownFields("no properties", fields=("o2c_erp_order_number", "o2c_payment_status"))
    )
    metrics.clear_metrics()

    result = write_back(event())

    assert result["crmUpdated"] is False
    assert result["missingFields"] == ["o2c_erp_order_number", "o2c_payment_status"]
    assert result["reason"].startswith("crm_write_back_refused: hubspot has no o2c_erp_order_number")
    assert "CrmWriteBackRefused" in metrics.metric_set
    metrics.clear_metrics()


def test_refused_credentials_still_fail_the_step_for_a_redrive(refusing: Any) -> None:
    write_back = refusing(AuthError("401", status=401))
    with pytest.raises(AuthError):
        write_back(event("salesforce"))


def test_the_state_machine_holds_a_refused_write_back_instead_of_ending_paid() -> None:
    states = definition()["States"]
    write_back = states["CrmWriteBack"]
    # the step's answer decides; a business rejection is caught to a hold too — neither goes to Paid
    assert write_back["Next"] == "CrmWriteBackOutcome"
    assert [c["Next"] for c in write_back["Catch"]] == ["HoldCrmWriteBackFailed"]
    outcome = states["CrmWriteBackOutcome"]
    assert outcome["Choices"] == [{"Variable": "$.crm.crmUpdated", "BooleanEquals": True, "Next": "Paid"}]
    hold = states[outcome["Default"]]
    entry = hold["Parameters"]["Entries"][0]
    assert entry["DetailType"] == "OrderOnHold"
    assert entry["Detail"]["data"]["reason.$"] == "$.crm.reason"
    assert entry["Detail"]["data"]["missingFields.$"] == "$.crm.missingFields"
    assert hold["Next"] == "NeedsAttention" == states["HoldCrmWriteBackFailed"]["Next"]
    assert states["NeedsAttention"]["Type"] == "Fail"
