"""Retrying technical failures, the same way for every connector: the vendor's ``Retry-After`` when it
gives one (unless it asks for longer than the caller may wait here), else exponential backoff with full
jitter; only ``TransientError`` is retried. Within the invocation's deadline (``deadline``): no attempt starts
with less than ``deadline.MIN_ATTEMPT_S`` left, and no wait starts that would leave less than that."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from shared import deadline
from shared.errors import TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_delay(
    attempt: int, retry_after: float | None, *, base_backoff_s: float, max_wait_s: float
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``; None when the vendor asks for too long a wait (the
    caller then gives up and lets the queue or the state machine retry later)."""
    if retry_after is not None:
        return retry_after if retry_after <= max_wait_s else None
    return random.uniform(0, min(max_wait_s, base_backoff_s * 2 ** (attempt - 1)))


def with_retries(
    attempt_once: Callable[[], T],
    *,
    what: str,
    max_attempts: int,
    base_backoff_s: float,
    max_wait_s: float,
    sleep: Callable[[float], None],
    give_up: Callable[[TransientError], bool] = lambda _exc: False,
) -> T:
    """``attempt_once()`` until it returns, retrying ``TransientError`` up to ``max_attempts`` times in all
    (``give_up(exc)`` true: raise at once). Any other exception propagates on the first attempt. Under a
    deadline, an attempt that could not finish is not started (``DeadlineExceeded``) and a wait that would leave
    no time for the next attempt is not made (the last error is raised)."""
    attempt = 0
    while True:
        attempt += 1
        deadline.ensure(what)
        try:
            return attempt_once()
        except TransientError as exc:
            if give_up(exc):
                raise
            if attempt >= max_attempts:
                if max_attempts > 1:
                    log.warning("%s failed after %d attempts: %s", what, attempt, exc)
                raise
            wait = retry_delay(attempt, exc.retry_after, base_backoff_s=base_backoff_s, max_wait_s=max_wait_s)
            if wait is None:
                log.warning(
                    "%s: the vendor asks to wait %.1fs, more than allowed here", what, exc.retry_after
                )
                raise
            if not deadline.can_wait(wait):
                log.warning(
                    "%s: %s; no retry, %.1fs left of the invocation", what, exc, deadline.remaining_s() or 0.0
                )
                raise
            log.info("%s: %s; retry %d in %.2fs", what, exc, attempt + 1, wait)
            sleep(wait)
