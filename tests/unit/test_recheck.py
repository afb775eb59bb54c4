"""A held deal re-checked when its hold is released: the CRM must still have it won (the rule ingress applies
to a win), else the execution ends Cancelled with an OrderCancelled saying so, and nothing is booked."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.statemachine import definition
from shared.crm.closed_won import DealState
from shared.crm.models import CrmOpportunity
from shared.order_to_cash.steps import recheck_opportunity
from tests.unit.crm_fixtures import opportunity


class Crm:
    def __init__(self, state: DealState, snapshot: CrmOpportunity) -> None:
        self.state, self.snapshot = state, snapshot
        self.reads: list[str] = []

    def fetch_deal_state(self, opportunity_id: str) -> DealState:
        self.reads.append(f"state {opportunity_id}")
        return self.state

    def fetch_opportunity(self, opportunity_id: str) -> CrmOpportunity:
        self.reads.append(f"opportunity {opportunity_id}")
        return self.snapshot


WON_AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_deal_still_won_is_re_read_and_re_evaluated() -> None:
    held = opportunity(billingAddress=None)
    crm = Crm(DealState("closedwon", None, WON_AT), opportunity())

    fresh = recheck_opportunity(crm, held, ["closedwon"])

    assert fresh["wonInCrm"] is True and fresh["complete"] is True and fresh["missingFields"] == []
    assert fresh["opportunity"]["account"]["billingAddress"]["city"] == "Berlin"


def test_a_deal_moved_back_while_held_is_not_won_and_not_re_read() -> None:
    held = opportunity(billingAddress=None)
    crm = Crm(DealState("contractsent", None, None), opportunity())

    fresh = recheck_opportunity(crm, held, ["closedwon"])

    assert fresh == {"wonInCrm": False, "crmStage": "contractsent"}
    assert crm.reads == [f"state {held.opportunityId}"]


def test_salesforce_s_is_won_counts_whatever_the_stage_is_called() -> None:
    held = opportunity("salesforce", "006000000000001AAA", billingAddress=None)
    won = Crm(DealState("Signed", True, WON_AT), opportunity("salesforce", "006000000000001AAA"))
    lost = Crm(DealState("Closed Lost", False, None), opportunity("salesforce", "006000000000001AAA"))

    assert recheck_opportunity(won, held, ["Closed Won"])["wonInCrm"] is True
    assert recheck_opportunity(lost, held, ["Closed Won"])["wonInCrm"] is False


def test_the_state_machine_cancels_a_re_checked_deal_the_crm_no_longer_has_won() -> None:
    states = definition()["States"]
    assert states["RecheckOpportunity"]["Next"] == "StillWonInCrm"
    choice = states["StillWonInCrm"]
    assert choice["Choices"] == [
        {"Variable": "$.opportunity.wonInCrm", "BooleanEquals": True, "Next": "ValidateAccount"}
    ]
    cancel = states[choice["Default"]]
    [entry] = cancel["Parameters"]["Entries"]
    assert (
        entry["DetailType"] == "OrderCancelled" and entry["Detail"]["data"]["reason"] == "deal_no_longer_won"
    )
    assert cancel["Next"] == "Cancelled" and states["Cancelled"]["Error"] == "O2C.Cancelled"
