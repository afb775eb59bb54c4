"""POST /webhooks/salesforce: Outbound Messages (SOAP 1.1) from allow-listed orgs; won opportunities published."""

from __future__ import annotations

from shared.config import csv_setting
from shared.connectors.factories import salesforce_crm
from shared.ingress.lambda_adapter import webhook_handler
from shared.providers.salesforce import SalesforceProvider


def _provider() -> SalesforceProvider:
    return SalesforceProvider(
        allowed_org_ids=csv_setting("SALESFORCE_ORG_IDS"),
        opportunities=salesforce_crm,
        closed_won_stages=csv_setting("SALESFORCE_CLOSED_WON_STAGES", "Closed Won"),
    )


lambda_handler = webhook_handler(_provider)
