"""Secrets from Secrets Manager, cached by Powertools parameters. A function's settings (which secret, which
table ...) are read once from its environment by ``shared.settings``."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


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
    return secret_list(os.environ[env_var], key=key, max_age_s=max_age_s, label=env_var)


def secret_list(ref: str, *, key: str = "secrets", max_age_s: int = 300, label: str = "") -> list[str]:
    """``secret_values`` of the secret ``ref`` (its ARN, or its name locally) a function's settings hold;
    ``label`` names it in errors (its environment variable)."""
    label = label or ref
    value = _read_secret(ref, label, max_age_s)
    values = value.get(key) if isinstance(value, dict) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise RuntimeError(f"secret in {label} must hold a non-empty list under '{key}'")
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


def _read_secret(ref: str, label: str, max_age_s: int) -> Any:
    """The secret, with a read that failed for a passing reason (timeout, throttling) raised as the connectors'
    ``TransientError``, so the queue or the state machine retries it instead of failing the step for good."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        return _secrets().get(ref, transform="json", max_age=max_age_s)
    except GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__
        response = getattr(cause, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        if code in _TRANSIENT_AWS or type(cause).__name__ in _TRANSIENT_AWS:
            from shared.errors import TransientError

            raise TransientError(f"secret in {label}: {code or type(cause).__name__}", code=code) from exc
        raise


def secret_json(env_var: str, *, max_age_s: int = 300) -> dict[str, object]:
    """A JSON secret (e.g. API credentials) from Secrets Manager, cached by Powertools parameters. A read that
    timed out or was throttled is a ``TransientError``."""
    return secret_object(os.environ[env_var], max_age_s=max_age_s, label=env_var)


def secret_object(ref: str, *, max_age_s: int = 300, label: str = "") -> dict[str, object]:
    """``secret_json`` of the secret ``ref`` a function's settings hold."""
    value = _read_secret(ref, label or ref, max_age_s)
    if not isinstance(value, dict):
        raise RuntimeError(f"secret in {label or ref} must be a JSON object")
    return value
