"""The /v1 API's usage plan, played locally as API Gateway plays it on the stage
(``infra/constructs/governed_api.py``).

On the stage each OAuth app client is issued an API key with its client credentials; the key is in the
usage plan, every /v1 method requires it (``x-api-key``), and API Gateway throttles each key on its own with
a token bucket: ``burst`` requests at once, refilled at ``rate`` per second. A request over the limit never
reaches the function: the gateway answers 429 (its ``THROTTLED`` gateway response, customised into the API's
problem+json ``rate-limited`` with ``Retry-After``). Locally the same: one bucket per key, the same 429."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra.config import StageConfig


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class UsagePlan:
    """Per-key token buckets: ``take(key)`` is 0 when the request may go on, else the seconds to wait."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, config: StageConfig) -> UsagePlan:
        return cls(rate=config.api_client_rate_limit, burst=config.api_client_burst_limit)

    def take(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """``Retry-After`` in whole seconds (at least 1), never earlier than a token is back."""
        return str(max(1, math.ceil(wait_s)))
