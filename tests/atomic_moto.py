"""A moto DynamoDB client whose calls are atomic, as DynamoDB's are, for tests with several threads."""

from __future__ import annotations

import threading
from typing import Any


class AtomicClient:
    """moto's in-process DynamoDB checks a condition and applies the write in separate steps, so threads can
    interleave between them; DynamoDB itself applies a conditional write atomically. One lock around each
    call restores that guarantee (and only that: reads and writes still interleave between calls)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call
