"""POST /webhooks/salesforce: Outbound Messages (SOAP 1.1) from allow-listed orgs; opportunities Salesforce
itself has won (re-read over REST) published. Optional sender proofs (stage settings): the message's
SessionId checked against the org (``SALESFORCE_VERIFY_SESSION_ID``) and mutual TLS
(``SALESFORCE_REQUIRE_CLIENT_CERT``)."""

from __future__ import annotations

import os

from shared.config import csv_setting
from shared.inbound.salesforce import SalesforceProvider, userinfo_organization
from shared.ingress.lambda_adapter import webhook_handler
from shared.outbound.factories import salesforce_crm


def _provider() -> SalesforceProvider:
    verify_session = os.environ.get("SALESFORCE_VERIFY_SESSION_ID", "false") == "true"
    return SalesforceProvider(
        allowed_org_ids=csv_setting("SALESFORCE_ORG_IDS"),
        opportunities=salesforce_crm,
        closed_won_stages=csv_setting("SALESFORCE_CLOSED_WON_STAGES", "Closed Won"),
        sessions=userinfo_organization(os.environ["SALESFORCE_MY_DOMAIN_URL"]) if verify_session else None,
        require_client_cert=os.environ.get("SALESFORCE_REQUIRE_CLIENT_CERT", "false") == "true",
    )


lambda_handler = webhook_handler(_provider)
