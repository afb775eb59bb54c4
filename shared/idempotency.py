"""Once-only processing of provider deliveries, with Powertools idempotency on DynamoDB.

The key is the provider's own event id (Stripe ``event.id``, HubSpot ``eventId``, ...), prefixed with the
provider so two providers never collide and so a Stripe event that arrives both by webhook and by
EventBridge event destination is the same record. While the first delivery is in flight a second one
gets ``IdempotencyAlreadyInProgressError`` (→ 409, the provider retries). On an exception the record is
deleted, so a failed publish never claims success. Records outlive the providers' retry windows
(Stripe retries for up to 3 days).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

__all__ = [
    "IdempotencyAlreadyInProgressError",
    "IdempotencyValidationError",
    "OnceOnly",
]

RECORD_TTL_SECONDS = 7 * 24 * 3600


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """Called by Powertools only when it answers from a stored record: this is a redelivery."""
    if isinstance(response, dict) and response.get("status") == "accepted":
        return {**response, "status": "duplicate"}
    return response


class OnceOnly:
    """Runs ``work(delivery=..., **kwargs)`` at most once per ``delivery["id"]``."""

    def __init__(self, provider: str, table_name: str | None = None, *, client: Any = None) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            # The same event id with a different event type is not a redelivery: refuse it.
            payload_validation_jmespath="type",
            expires_after_seconds=RECORD_TTL_SECONDS,
            response_hook=_mark_duplicate,
            use_local_cache=False,
        )
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table_name or os.environ["IDEMPOTENCY_TABLE_NAME"], boto3_client=client
        )
        self.provider = provider

    def wrap(self, work: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        wrapped: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="delivery",
            config=self.config,
            persistence_store=self.persistence,
            key_prefix=self.provider,
        )(work)
        return wrapped

    def register_lambda_context(self, context: Any) -> None:
        self.config.register_lambda_context(context)
