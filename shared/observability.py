"""The one place that owns Powertools Logger, Tracer and Metrics for every function.

Service name and metrics namespace come from the function's environment (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE), set per function by the stack. Nothing here logs request bodies,
headers or secrets: handlers log ids and outcomes only.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


def tracing_disabled() -> bool:
    """When Powertools' Tracer would disable itself: POWERTOOLS_TRACE_DISABLED, or not in Lambda (tests,
    SAM local, Chalice). The local cloud runs functions with tracing disabled; a deployed stack traces."""
    if strtobool(os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return True
    in_lambda = bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV))
    return not in_lambda or bool(os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV))


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...
    def add_subsegment(self, subsegment: Any) -> None: ...
    def remove_subsegment(self, subsegment: Any) -> None: ...
    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class NoTracing(BaseProvider):
    """The provider a disabled Tracer gets: it records nothing, as the X-Ray recorder does when disabled.

    Without it, ``Tracer()`` imports ``aws_xray_sdk.core`` even when tracing is disabled, and that import
    builds the X-Ray recorder (wrapt, asyncio, samplers): tens of milliseconds of every local cold start
    for nothing (``bench/README.md``)."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None: ...
    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...
    def patch(self, modules: Sequence[str]) -> None: ...
    def patch_all(self) -> None: ...


logger = Logger(utc=True)
tracer = Tracer(disabled=True, provider=NoTracing()) if tracing_disabled() else Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "count", "lambda_entry", "logger", "metrics", "tracer"]

Handler = Callable[[dict[str, Any], Any], Any]


H = TypeVar("H", bound=Handler)


def lambda_entry(handler: H) -> H:
    """Every function's Powertools stack, in its one order (outermost first): the logger adds the Lambda
    context's keys and clears the keys the last invocation appended; metrics are flushed as EMF after each
    invocation, even one that raised; the tracer's segment covers the handler, without its response (ids,
    amounts and customers stay out of X-Ray)."""
    traced = tracer.capture_lambda_handler(capture_response=False)(handler)
    return logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(traced))  # type: ignore[return-value]


def count(name: str, *, provider: str, reason: str | None = None, value: int = 1) -> None:
    """Add one count metric (EMF). ``reason`` adds a dimension, in its own metric set, so rejections
    can be graphed by why they happened."""
    if reason is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="provider", value=provider)
        metric.add_dimension(name="reason", value=reason)
