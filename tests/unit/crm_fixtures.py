"""A won opportunity as a connector returns it (test data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.crm.closed_won import DealState
from shared.crm.models import Account, Address, Contact, CrmOpportunity, LineItem
from shared.money import Money


def opportunity(
    crm: Any = "hubspot", opportunity_id: str = "9876543210", **account_overrides: Any
) -> CrmOpportunity:
    account = {
        "accountId": "1234567",
        "name": "Acme GmbH",
        "billingAddress": Address(
            street="Unter den Linden 1", city="Berlin", postalCode="10117", country="DE"
        ),
        "currency": "EUR",
        "taxId": "DE123456789",
        **account_overrides,
    }
    return CrmOpportunity(
        crmSystem=crm,
        opportunityId=opportunity_id,
        name="Acme - platform",
        stage="closedwon",
        amount=Money.of(2400000, "EUR"),
        account=Account(**account),
        contacts=(Contact(contactId="501", email="ap@acme.example", firstName="Ada", lastName="Buyer"),),
        lines=(
            LineItem(
                lineItemId="701",
                name="Platform",
                quantity=12,
                unitPrice=Money.of(200000, "EUR"),
                amount=Money.of(2400000, "EUR"),
            ),
        ),
    )


WON_AT = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


class FakeCrm:
    """A CRM whose API answers ``result`` for the record and ``state`` for its stage (won by default)."""

    def __init__(
        self, result: CrmOpportunity | Exception, state: DealState | Exception | None = None
    ) -> None:
        self.result = result
        self.state = state
        self.calls: list[str] = []
        self.state_calls: list[str] = []

    def fetch_deal_state(self, opportunity_id: str) -> DealState:
        self.state_calls.append(opportunity_id)
        if isinstance(self.state, Exception):
            raise self.state
        if self.state is not None:
            return self.state
        if isinstance(self.result, Exception):
            raise self.result
        won = "closedwon" if self.result.crmSystem == "hubspot" else "Closed Won"
        return DealState(
            stage=won, is_won=None if self.result.crmSystem == "hubspot" else True, won_at=WON_AT
        )

    def fetch_opportunity(self, opportunity_id: str) -> CrmOpportunity:
        self.calls.append(opportunity_id)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result
