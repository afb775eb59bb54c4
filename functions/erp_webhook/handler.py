"""POST /webhooks/erp: Standard Webhooks v1 from the ERP, mapped to canonical ERP facts."""

from __future__ import annotations

from shared.config import secret_values
from shared.inbound.erp import ErpProvider
from shared.ingress.lambda_adapter import webhook_handler


def _provider() -> ErpProvider:
    return ErpProvider(secrets=lambda: secret_values("ERP_WEBHOOK_SECRET_ARN"))


lambda_handler = webhook_handler(_provider)
