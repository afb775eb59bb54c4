"""Canonical facts from the CRM (source ``o2c.crm``)."""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from shared.crm.models import CrmOpportunity, CrmSystem
from shared.events.envelope import EventData, EventSource
from shared.record import record


@record
class OpportunityClosedWon(EventData):
    """A deal was won in the CRM; carries everything quote-to-cash needs to start. A deal whose account
    lacks what the ERP needs is still published, with ``complete`` false and the missing fields named."""

    detail_type: ClassVar[str] = "OpportunityClosedWon"
    source: ClassVar[EventSource] = "o2c.crm"

    crmSystem: CrmSystem
    opportunityId: str
    accountId: str
    opportunity: CrmOpportunity
    complete: bool
    missingFields: list[str] = field(default_factory=list)
