"""How a quote-to-cash step fails, by the name Step Functions sees (the Lambda error type):

- ``TransientError``: throttling, 5xx, timeouts — retried by the state machine with backoff and jitter; if
  it persists the execution fails at that step and can be redriven from it.
- ``BusinessRejection``: the vendor refused the request (validation, a closed period, an unknown record) —
  not retried; the state machine compensates and puts the order on hold for a person.
- ``ConfigurationError``: credentials refused — nothing a retry fixes; the execution fails at that step
  and is redriven once the configuration is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from shared.deadline import DeadlineExceeded
from shared.errors import AuthError, PermanentError, TransientError

__all__ = ["BusinessRejection", "ConfigurationError", "TransientError", "classified"]


#: Transient errors the state machine's technical retry names itself (``infra.statemachine.TECHNICAL_RETRY``).
#: Step Functions matches an error by its exact name, not its class: any other subclass (NetSuite's
#: ``RequestOutcomeUnknown``) is re-raised as a plain ``TransientError``, else it would fail the execution.
_RETRIED_BY_NAME = (TransientError, DeadlineExceeded)


class BusinessRejection(Exception):
    pass


class ConfigurationError(Exception):
    pass


P = ParamSpec("P")
T = TypeVar("T")


def classified(step: Callable[P, T]) -> Callable[P, T]:
    """Re-raise connector errors under the names the state machine's Retry/Catch rules use."""

    @wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return step(*args, **kwargs)
        except TransientError as exc:
            if type(exc) in _RETRIED_BY_NAME:
                raise
            raise TransientError(
                f"{type(exc).__name__}: {exc}",
                status=exc.status,
                retry_after=exc.retry_after,
                code=exc.code,
                detail=exc.detail,
            ) from exc
        except AuthError as exc:
            raise ConfigurationError(f"{type(exc).__name__}: {exc}") from exc
        except PermanentError as exc:
            raise BusinessRejection(f"{type(exc).__name__}: {exc}") from exc

    return run
