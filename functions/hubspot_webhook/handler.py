"""POST /webhooks/hubspot: v3 signature, each event de-duplicated on its eventId, won deals published."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from shared.config import csv_setting, secret_json
from shared.ingress.lambda_adapter import webhook_handler
from shared.providers.hubspot import HubSpotProvider


def _credentials() -> dict[str, Any]:
    return secret_json("HUBSPOT_CREDENTIALS_ARN")


@cache
def _crm() -> Any:
    from shared.connectors.hubspot import HubSpotCrm

    return HubSpotCrm(
        base_url=os.environ["HUBSPOT_API_BASE_URL"],
        access_token=lambda: str(_credentials()["access_token"]),
    )


def _provider() -> HubSpotProvider:
    return HubSpotProvider(
        client_secrets=lambda: [str(s) for s in _credentials()["secrets"]],
        deals=_crm,
        public_base_url=os.environ["PUBLIC_BASE_URL"],
        closed_won_stages=csv_setting("HUBSPOT_CLOSED_WON_STAGES", "closedwon"),
    )


lambda_handler = webhook_handler(_provider)
