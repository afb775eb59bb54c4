"""``Idempotency-Key`` on every POST of /v1, with Powertools idempotency on the hub's idempotency table.

- the record's key is the caller (the OAuth client id, or the IAM principal) + the route + the key: two
  callers may use the same key without meeting;
- the payload hash is the request body's (parsed JSON, so whitespace and key order do not matter): the same
  key with another body → ``IdempotencyValidationError`` (422 ``idempotency-key-reused``);
- while the first request runs, another with the same key → ``IdempotencyAlreadyInProgressError`` (409);
- the same key and body again → the first response, marked ``replayed`` (header ``Idempotent-Replayed: true``).

A request that fails (an exception: a technical failure, a business rejection) leaves no record: asking again
with the same key tries again. Records are kept 24 hours (``expires_after_seconds``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

KEY_TTL_SECONDS = 24 * 3600
#: what an Idempotency-Key may be: 1-255 printable ASCII (a UUID is the usual choice)
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools calls this only when it answers from a stored record."""
    return {**response, "replayed": True} if isinstance(response, dict) else response


class IdempotentPosts:
    """Runs ``work(request=...)`` once per (caller, route, key); ``request`` is
    ``{"caller", "route", "key", "body"}`` and the work returns ``{"status", "body", "headers"}``."""

    def __init__(self, table_name: str | None = None, *, client: Any = None) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="[caller, route, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=KEY_TTL_SECONDS,
            response_hook=_replayed,
            use_local_cache=False,
        )
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table_name or os.environ["IDEMPOTENCY_TABLE_NAME"], boto3_client=client
        )

    def run(self, work: Callable[..., dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        wrapped = idempotent_function(
            data_keyword_argument="request",
            config=self.config,
            persistence_store=self.persistence,
            key_prefix="api",
        )(work)
        return dict(wrapped(request=request))

    def register_lambda_context(self, context: Any) -> None:
        self.config.register_lambda_context(context)
