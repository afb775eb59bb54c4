"""The one place that owns Powertools Logger, Tracer and Metrics for every function.

Service name and metrics namespace come from the function's environment (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE), set per function by the stack. Nothing here logs request bodies,
headers or secrets: handlers log ids and outcomes only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(utc=True)
tracer = Tracer()
metrics = Metrics()

__all__ = ["MetricUnit", "count", "logger", "metrics", "tracer"]


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
