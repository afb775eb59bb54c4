"""Bus → queue → consumer, per topology.CONSUMERS: a rule, a queue with a DLQ, an event source mapping. Visibility
timeout, batch size, batching window and maximum concurrency come from the consumer's budget (topology)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.topology import CONSUMERS, ConsumerSpec

#: EventBridge pattern keys → EventPattern keyword arguments.
_PATTERN_KEYS = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
    "id": "id",
    "time": "time",
    "version": "version",
}

DLQ_RETENTION = Duration.days(14)


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    unknown = set(pattern) - set(_PATTERN_KEYS)
    if unknown:
        raise ValueError(f"unsupported event pattern keys {sorted(unknown)}")
    return events.EventPattern(**{_PATTERN_KEYS[key]: _matcher(value) for key, value in pattern.items()})


def _matcher(value: Any) -> Any:
    """Content filters in topology patterns ({"prefix": ...}) → CDK's typed Match helpers."""
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and set(value[0]) == {"prefix"}
    ):
        return events.Match.prefix(value[0]["prefix"])
    return value


class ConsumerRoute(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: ConsumerSpec,
        config: StageConfig,
        bus: events.IEventBus,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=spec.max_receive_count, queue=self.dlq),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=f"Canonical events for {spec.id}",
            event_pattern=event_pattern(spec.pattern),
        )
        self.rule.add_target(
            targets.SqsQueue(
                self.queue,
                dead_letter_queue=self.dlq,
                retry_attempts=config.event_retry_attempts,
                max_event_age=Duration.hours(config.event_max_age_hours),
            )
        )
        function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=spec.batch_size,
                max_batching_window=Duration.seconds(spec.max_batching_window_s),
                max_concurrency=spec.max_concurrency,
                report_batch_item_failures=True,
            )
        )


class Routing(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        buses: Mapping[str, events.IEventBus],
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        """``buses``: "hub" and the partner buses wired in this stage; a consumer of a partner bus that
        is not wired here is left out."""
        super().__init__(scope, construct_id)
        self.routes: dict[str, ConsumerRoute] = {
            spec.id: ConsumerRoute(
                self,
                spec.id,
                spec=spec,
                config=config,
                bus=buses[spec.bus],
                function=functions[spec.function.id],
            )
            for spec in CONSUMERS
            if spec.bus in buses
        }
