"""The embedded local cloud: moto, the stage's resources from ``infra.topology``, the functions in warm
worker processes, an API Gateway front and SQS event source mappings, in one foreground process.

``LocalCloud`` is imported lazily: ``python -m localcloud.worker`` (each function's execution
environment) must not pay for boto3/moto imports the function itself does not make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

__all__ = ["LocalCloud"]


def __getattr__(name: str) -> Any:
    if name == "LocalCloud":
        from localcloud.cloud import LocalCloud

        return LocalCloud
    raise AttributeError(name)
