"""POST /webhooks/zendesk: Zendesk's signature and timestamp, each event de-duplicated on its id; a ticket
tagged for a refund requests it through the same path as ``o2c refund``."""

from __future__ import annotations

import os

from shared.config import secret_values
from shared.inbound.zendesk import ZendeskProvider
from shared.ingress.lambda_adapter import webhook_handler
from shared.outbound.factories import zendesk_support


def _provider() -> ZendeskProvider:
    return ZendeskProvider(
        signing_secrets=lambda: secret_values("ZENDESK_CREDENTIALS_ARN", key="signing_secrets"),
        tickets=zendesk_support,
        refund_tag=os.environ.get("ZENDESK_REFUND_TAG") or "refund_requested",
        payment_intent_field_id=os.environ.get("ZENDESK_PAYMENT_INTENT_FIELD_ID", ""),
        tolerance_s=int(os.environ.get("ZENDESK_TOLERANCE_SECONDS", "300")),
    )


lambda_handler = webhook_handler(_provider)
