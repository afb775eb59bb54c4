"""The events the state machine publishes are built by ``shared.events.envelope.state_machine_entry`` (the
one envelope): once Step Functions resolves their paths, each is a canonical event of the catalogue."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import MISSING
from typing import Any

import pytest

from infra.statemachine import definition
from shared.events.catalog import EVENT_TYPES
from shared.events.envelope import EventMetadata

#: What Step Functions puts in place of the envelope's context paths.
CONTEXT = {
    "States.UUID()": str(uuid.uuid4()),
    "$.correlationId": "hubspot-deal-1",
    "$$.Execution.Id": "arn:aws:states:eu-west-1:123456789012:execution:o2c-q2c:hubspot-1",
    "$$.State.EnteredTime": "2026-12-01T10:00:00.000Z",
}


def _publishing_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::events:putEvents":
            for entry in state["Parameters"]["Entries"]:
                yield name, entry
        for branch in state.get("Branches", []):
            yield from _publishing_states(branch["States"])


ENTRIES = list(_publishing_states(definition()["States"]))


def test_the_state_machine_publishes_events() -> None:
    assert len(ENTRIES) >= 3, [name for name, _ in ENTRIES]


@pytest.mark.parametrize(("state", "entry"), ENTRIES, ids=[name for name, _ in ENTRIES])
def test_each_published_event_is_a_canonical_event_of_the_catalogue(
    state: str, entry: dict[str, Any]
) -> None:
    model = EVENT_TYPES[entry["DetailType"]]
    assert entry["Source"] == model.source
    metadata = {
        key.removesuffix(".$"): CONTEXT[value] if key.endswith(".$") else value
        for key, value in entry["Detail"]["metadata"].items()
    }
    EventMetadata.parse(metadata)  # every envelope field, each resolvable
    fields = {key.removesuffix(".$") for key in entry["Detail"]["data"]}
    declared = {f.name: f for f in dataclasses.fields(model)}
    required = {name for name, f in declared.items() if f.default is MISSING and f.default_factory is MISSING}
    assert required <= fields <= set(declared), (state, fields ^ set(declared))
