"""How long to wait before retrying a technical failure: the vendor's ``Retry-After`` when it gives one
(unless it asks for longer than the caller may wait here), else exponential backoff with full jitter."""

from __future__ import annotations

import random


def retry_delay(
    attempt: int, retry_after: float | None, *, base_backoff_s: float, max_wait_s: float
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``; None when the vendor asks for too long a wait (the
    caller then gives up and lets the queue or the state machine retry later)."""
    if retry_after is not None:
        return retry_after if retry_after <= max_wait_s else None
    return random.uniform(0, min(max_wait_s, base_backoff_s * 2 ** (attempt - 1)))
