"""Move a deal to a stage in a CRM sandbox as a user would, through the vendor's REST API (no webhook):
the hub acts on a "won" message only when the CRM itself has the deal won."""

from __future__ import annotations

from typing import Any


def hubspot_stage(sandbox: Any, deal_id: str, stage: str = "closedwon") -> None:
    from shared.connectors.hubspot import HubSpotCrm

    HubSpotCrm(sandbox.url, access_token=lambda: str(sandbox.access_token)).update_deal(
        deal_id, {"dealstage": stage}
    )


def salesforce_stage(sandbox: Any, opportunity_id: str, stage: str = "Closed Won") -> None:
    from shared.connectors.salesforce import SalesforceCrm

    crm = SalesforceCrm(
        sandbox.url, client_id=sandbox.client_id, client_secret=lambda: str(sandbox.client_secret)
    )
    crm.update_opportunity(opportunity_id, {"StageName": stage})
