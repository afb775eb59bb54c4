"""Connectors built from a function's environment (one per process; vendor URL and credentials differ
between the sandbox and the vendor, the code does not)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from shared.config import secret_json


@cache
def salesforce_crm() -> Any:
    from shared.connectors.salesforce import SalesforceCrm

    def credentials() -> dict[str, Any]:
        return secret_json("SALESFORCE_CREDENTIALS_ARN")

    return SalesforceCrm(
        login_url=os.environ["SALESFORCE_LOGIN_URL"],
        client_id=str(credentials()["client_id"]),
        client_secret=lambda: str(credentials()["client_secret"]),
    )
