"""The invocation's deadline now lives in ``shared.deadline`` (neutral: the vendor clients and the domain's
step plumbing both read it, and the domain imports nothing of ``shared.outbound``); this name is kept for the
clients and consumers that import it from here. Same objects, same ``ContextVar``."""

from __future__ import annotations

from shared.deadline import (
    DEADLINE,
    MIN_ATTEMPT_S,
    SAFETY_MARGIN_S,
    Clock,
    DeadlineExceeded,
    can_wait,
    cap,
    ensure,
    from_context,
    http_timeout,
    remaining_s,
    within,
)

__all__ = [
    "DEADLINE",
    "MIN_ATTEMPT_S",
    "SAFETY_MARGIN_S",
    "Clock",
    "DeadlineExceeded",
    "can_wait",
    "cap",
    "ensure",
    "from_context",
    "http_timeout",
    "remaining_s",
    "within",
]
