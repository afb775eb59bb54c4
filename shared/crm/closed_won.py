"""A CRM deal as the CRM's own API says it is now (``DealState``), whether it is won, and the correlation id of
its flow (shared by HubSpot and Salesforce). The ``OpportunityClosedWon`` event is made in
``shared.inbound.closed_won``: the CRM model knows no events."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.crm.models import CrmOpportunity


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
