"""From a fetched CRM opportunity to the ``OpportunityClosedWon`` event (shared by the HubSpot and Salesforce
webhook sources)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.crm.closed_won import deal_correlation_id
from shared.crm.completeness import DEFAULT_TAX_ID_COUNTRIES, missing_fields
from shared.crm.models import CrmOpportunity
from shared.events.crm import OpportunityClosedWon
from shared.events.envelope import CanonicalEvent, SourceSystem, new_event


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
