"""From a fetched CRM opportunity to the ``OpportunityClosedWon`` event (shared by HubSpot and Salesforce)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES, missing_fields
from shared.crm.models import CrmOpportunity
from shared.events.crm import OpportunityClosedWon
from shared.events.envelope import CanonicalEvent, SourceSystem, new_event


@dataclass(frozen=True)
class DealState:
    """What the CRM's own API says about a deal now (re-read, never taken from a webhook or a message).

    ``is_won``: Salesforce's ``IsWon`` (derived by Salesforce from the stage); None for HubSpot, which
    has no such flag on the deal. ``won_at``: the CRM's own time of the win (HubSpot: the ``dealstage``
    history entry of the current stage, else ``closedate``, else ``hs_lastmodifieddate``; Salesforce:
    ``LastModifiedDate``, else ``SystemModstamp``, else ``CloseDate``)."""

    stage: str
    is_won: bool | None
    won_at: datetime | None


def is_closed_won(state: DealState, closed_won_stages: Collection[str]) -> bool:
    """Won as the CRM says it: ``IsWon`` true or the stage one of the configured closed-won stages."""
    return state.is_won is True or state.stage in closed_won_stages


def read_state_and_opportunity(crm: Any, deal_id: str) -> tuple[DealState, Callable[[], CrmOpportunity]]:
    """The deal's state now, and a function that reads its snapshot: from one read of the deal where the
    CRM connector can (HubSpot: ``fetch_state_and_opportunity``), else a state read and, when called, a
    snapshot read (Salesforce's state and snapshot are two queries)."""
    both = getattr(crm, "fetch_state_and_opportunity", None)
    if callable(both):
        state, opportunity = both(deal_id)
        return state, opportunity
    return crm.fetch_deal_state(deal_id), lambda: crm.fetch_opportunity(deal_id)


def deal_correlation_id(crm: str, opportunity_id: str) -> str:
    """Every event of one deal's order-to-cash flow carries this correlation id."""
    return f"{crm}:{opportunity_id}"


def closed_won_event(
    opportunity: CrmOpportunity,
    *,
    source_event_id: str,
    occurred_at: datetime | None,
    tax_id_countries: Iterable[str] = DEFAULT_TAX_ID_COUNTRIES,
) -> CanonicalEvent:
    missing = missing_fields(opportunity, tax_id_countries)
    system: SourceSystem = "o2c" if opportunity.crmSystem == "api" else opportunity.crmSystem
    return new_event(
        OpportunityClosedWon(
            crmSystem=opportunity.crmSystem,
            opportunityId=opportunity.opportunityId,
            accountId=opportunity.account.accountId,
            opportunity=opportunity,
            complete=not missing,
            missingFields=missing,
        ),
        source_system=system,
        correlation_id=deal_correlation_id(opportunity.crmSystem, opportunity.opportunityId),
        occurred_at=occurred_at,
        source_event_id=source_event_id,
    )
