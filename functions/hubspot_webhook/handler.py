"""POST /webhooks/hubspot: v3 signature, each event de-duplicated on its eventId, won deals published."""

from __future__ import annotations

import os
from typing import Any

from shared.config import csv_setting, secret_json
from shared.inbound.hubspot import HubSpotProvider
from shared.ingress.lambda_adapter import webhook_handler
from shared.outbound.factories import hubspot_crm


def _credentials() -> dict[str, Any]:
    return secret_json("HUBSPOT_CREDENTIALS_ARN")


def _provider() -> HubSpotProvider:
    return HubSpotProvider(
        client_secrets=lambda: [str(s) for s in _credentials()["secrets"]],
        deals=hubspot_crm,
        public_base_url=os.environ["PUBLIC_BASE_URL"],
        closed_won_stages=csv_setting("HUBSPOT_CLOSED_WON_STAGES", "closedwon"),
    )


lambda_handler = webhook_handler(_provider)
