"""Publishing the hub's own facts from consumers (the same envelope and publisher as the webhooks)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from shared.events.envelope import EventData, SourceSystem, new_event


@cache
def publisher() -> Any:
    from shared.aws import client
    from shared.claimcheck import ClaimChecks
    from shared.publisher import EventPublisher

    return EventPublisher(client("events"), os.environ["EVENT_BUS_NAME"], claim_checks=ClaimChecks.from_env())


def publish(
    data: EventData,
    *,
    correlation_id: str,
    causation_id: str | None,
    source_system: SourceSystem = "o2c",
    source_event_id: str | None = None,
) -> None:
    publisher().publish(
        [
            new_event(
                data,
                source_system=source_system,
                correlation_id=correlation_id,
                causation_id=causation_id,
                source_event_id=source_event_id,
            )
        ]
    )
