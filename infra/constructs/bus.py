"""The stage's EventBridge custom bus (name ``o2c-<stage>`` is part of the contract) and its archive."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra.topology import bus_name


class EventBusWithArchive(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, archive_retention: Duration
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name(stage))
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            description=f"Every event on {bus_name(stage)}, for replay",
            # An archive needs a pattern; every event on the bus carries this account.
            event_pattern=events.EventPattern(account=[Stack.of(self).account]),
            retention=archive_retention,
        )
