"""The invocation's deadline, as every connector call sees it: a Lambda function has ``timeout`` seconds, and a
call that is still retrying, backing off or waiting for an ERP slot when they run out is killed with the whole
invocation (an SQS batch comes back whole and burns a receive of every message; a state machine task fails
with ``Sandbox.Timedout``). So the handler plumbing sets the deadline from the Lambda context
(``context.get_remaining_time_in_millis()`` minus ``SAFETY_MARGIN_S``, what the handler still needs afterwards:
report the batch, flush logs and metrics), and the transport (``retry.with_retries``, ``http.JsonHttp``,
``netsuite.NetSuiteHttp``, ``erp_gate.ErpGate``) reads it:

- an attempt is not started with less than ``MIN_ATTEMPT_S`` left (``DeadlineExceeded``, transient: the
  queue or the state machine tries again later, in a fresh invocation with a whole budget);
- an attempt's connect and read timeouts, and its total, are cut to what is left;
- a backoff sleep or a wait for an ERP slot that would leave less than ``MIN_ATTEMPT_S`` for the next attempt
  is not started: the last error is raised instead.

```python
with deadline.from_context(context):
    ...  # every connector call in here stops in time
```

Without a deadline (tests, scripts, the CLI) nothing changes: each client keeps its own timeouts and retries.
The deadline lives in a ``ContextVar`` (one per thread, nested ``within`` blocks keep the earlier one).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from shared.errors import TransientError

#: What a handler needs after its last vendor call (the batch report, Powertools' log and metrics flush).
SAFETY_MARGIN_S = 2.0
#: An attempt is not started with less time than this left (a connect and a short answer).
MIN_ATTEMPT_S = 1.0
DEADLINE = "DEADLINE"

Clock = Callable[[], float]
_current: ContextVar[tuple[float, Clock] | None] = ContextVar("o2c_connector_deadline", default=None)


class DeadlineExceeded(TransientError):
    """Not enough of the invocation's time is left to make the call; retry it in a fresh invocation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=DEADLINE)


@contextlib.contextmanager
def within(seconds: float | None, *, clock: Clock = time.monotonic) -> Iterator[None]:
    """Calls inside the block finish within ``seconds`` from now (None: no deadline of its own). A deadline
    already set that comes sooner is kept."""
    if seconds is None:
        yield
        return
    at = clock() + max(0.0, seconds)
    outer = _current.get()
    if outer is not None and outer[1] is clock and outer[0] <= at:
        yield
        return
    token = _current.set((at, clock))
    try:
        yield
    finally:
        _current.reset(token)


def from_context(
    context: Any, *, margin_s: float = SAFETY_MARGIN_S
) -> contextlib.AbstractContextManager[None]:
    """The deadline of a Lambda invocation: its remaining time less ``margin_s``. A context without
    ``get_remaining_time_in_millis`` (a test's stand-in) sets none."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return contextlib.nullcontext()
    try:
        millis = float(remaining())
    except (TypeError, ValueError):
        return contextlib.nullcontext()
    return within(max(0.0, millis / 1000 - margin_s))


def remaining_s() -> float | None:
    """Seconds left before the deadline (never negative); None when there is none."""
    current = _current.get()
    if current is None:
        return None
    at, clock = current
    return max(0.0, at - clock())


def ensure(what: str, need_s: float = MIN_ATTEMPT_S) -> None:
    """Raise ``DeadlineExceeded`` unless ``need_s`` seconds are left."""
    left = remaining_s()
    if left is not None and left < need_s:
        raise DeadlineExceeded(f"{what}: {left:.1f}s left of the invocation, not starting a call")


def can_wait(wait_s: float, then_need_s: float = MIN_ATTEMPT_S) -> bool:
    """Whether a wait of ``wait_s`` still leaves ``then_need_s`` for what comes after it."""
    left = remaining_s()
    return left is None or wait_s + then_need_s <= left


def cap(seconds: float) -> float:
    """``seconds`` cut to what is left (at least a few milliseconds, so a timeout is never 0)."""
    left = remaining_s()
    return seconds if left is None else max(0.01, min(seconds, left))


def http_timeout(connect_s: float, read_s: float) -> Any:
    """The ``urllib3.Timeout`` of one attempt: the client's connect/read timeouts, cut to what is left, and a
    total no longer than what is left."""
    import urllib3

    left = remaining_s()
    if left is None:
        return urllib3.Timeout(connect=connect_s, read=read_s)
    return urllib3.Timeout(connect=cap(connect_s), read=cap(read_s), total=max(0.01, left))
