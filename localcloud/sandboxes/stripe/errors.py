"""Stripe's error shape: ``ApiError`` and the ``invalid_request_error`` helpers; Stripe's ids."""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALNUM = string.ascii_letters + string.digits


_DOC = "https://stripe.com/docs/error-codes/"


class ApiError(Exception):
    """A Stripe error reply. ``executed``: the endpoint ran (its reply is stored under the Idempotency-Key,
    as Stripe stores card declines and state errors but not validation failures)."""

    def __init__(self, status: int, error: dict[str, Any], *, executed: bool = False) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.executed = executed


class _ConnectionDropped(BaseException):
    """Raised out of ``dispatch`` to close the connection without a reply. A ``BaseException`` so that the
    base handler's ``except Exception`` (→ 500) does not turn it into a reply."""


def _invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = _DOC + code.replace("_", "-")
    if param:
        error["param"] = param
    return ApiError(status, error)


def _missing(what: str, object_id: str, param: str | None = None) -> ApiError:
    return _invalid(
        f"No such {what}: '{object_id}'", param=param, code="resource_missing", status=400 if param else 404
    )


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALNUM) for _ in range(length))
