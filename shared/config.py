"""Typed configuration, read from the function's environment and validated at cold start."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class WebhookSettings(BaseModel):
    """What every webhook function needs; each provider adds its own settings next to these."""

    model_config = ConfigDict(frozen=True)

    stage: str
    idempotency_table_name: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    max_body_bytes: int = Field(default=262_144, gt=0)

    @classmethod
    def from_environment(cls) -> WebhookSettings:
        env = os.environ
        return cls(
            stage=env.get("STAGE", "local"),
            idempotency_table_name=env.get("IDEMPOTENCY_TABLE_NAME", ""),
            event_bus_name=env.get("EVENT_BUS_NAME", ""),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", "262144")),
        )


@cache
def _secrets() -> Any:
    """Powertools' Secrets Manager provider (``parameters.get_secret``'s), on the process's one client.

    ``get_secret`` would build its provider with a boto3 session and client of its own on the first
    call: a second botocore session loading its endpoint and service data again, on every cold start."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from shared.aws import client

    return SecretsProvider(boto3_client=client("secretsmanager"))


def secret_values(env_var: str, *, key: str = "secrets", max_age_s: int = 300) -> list[str]:
    """The active values of a rotating secret stored as ``{"secrets": [...]}`` in Secrets Manager.

    Cached for ``max_age_s`` by Powertools parameters, so a rotation is picked up within minutes without
    a Secrets Manager call per request.
    """
    value = _read_secret(env_var, max_age_s)
    values = value.get(key) if isinstance(value, dict) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise RuntimeError(f"secret in {env_var} must hold a non-empty list under '{key}'")
    return values


#: Why Secrets Manager may fail a read that succeeds a moment later: throttled, unavailable, too slow to answer.
_TRANSIENT_AWS = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "RequestTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
    }
)


def _read_secret(env_var: str, max_age_s: int) -> Any:
    """The secret, with a read that failed for a passing reason (timeout, throttling) raised as the connectors'
    ``TransientError``, so the queue or the state machine retries it instead of failing the step for good."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        return _secrets().get(os.environ[env_var], transform="json", max_age=max_age_s)
    except GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__
        response = getattr(cause, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        if code in _TRANSIENT_AWS or type(cause).__name__ in _TRANSIENT_AWS:
            from shared.errors import TransientError

            raise TransientError(f"secret in {env_var}: {code or type(cause).__name__}", code=code) from exc
        raise


def secret_json(env_var: str, *, max_age_s: int = 300) -> dict[str, object]:
    """A JSON secret (e.g. API credentials) from Secrets Manager, cached by Powertools parameters. A read that
    timed out or was throttled is a ``TransientError``."""
    value = _read_secret(env_var, max_age_s)
    if not isinstance(value, dict):
        raise RuntimeError(f"secret in {env_var} must be a JSON object")
    return value


def csv_setting(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]
