"""One boto3 client per service per process, created on first use (not at import: cold starts pay
only for the clients a function actually touches)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(  # type: ignore[call-overload]
        service,
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5),
    )
