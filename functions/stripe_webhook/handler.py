"""POST /webhooks/stripe: verify the Stripe-Signature, de-duplicate on event.id, publish canonical events."""

from __future__ import annotations

import os

from shared.config import secret_values
from shared.inbound.stripe import DEFAULT_TOLERANCE_S, StripeProvider
from shared.ingress.lambda_adapter import webhook_handler


def _provider() -> StripeProvider:
    return StripeProvider(
        secrets=lambda: secret_values("STRIPE_WEBHOOK_SECRET_ARN"),
        tolerance_s=int(os.environ.get("STRIPE_TOLERANCE_SECONDS", DEFAULT_TOLERANCE_S)),
    )


lambda_handler = webhook_handler(_provider)
