"""A consumer that keeps failing on a message parks it in the DLQ after maxReceiveCount, the rest of its
batch is processed once, and `o2c dlq list` / `o2c dlq redrive` show and move it back."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest

from infra.topology import CONSUMERS
from o2c_cli.main import main
from o2c_cli.trace import trace
from tests.flow.conftest import Hub


def canonical(event_id: str, payout_id: str) -> dict[str, Any]:
    detail = {
        "metadata": {
            "eventId": event_id,
            "correlationId": f"corr-{event_id}",
            "causationId": None,
            "occurredAt": "2026-11-27T10:00:00Z",
            "schemaVersion": "1",
            "sourceSystem": "stripe",
            "sourceEventId": None,
        },
        "data": {
            "payoutId": payout_id,
            "amount": {"amount": 100, "currency": "USD"},
            "arrivalDate": "2026-11-29T00:00:00Z",
        },
    }
    return {"Source": "o2c.payments", "DetailType": "PayoutPaid", "Detail": json.dumps(detail)}


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_poison_message_goes_to_the_dlq_and_can_be_redriven(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    tag = uuid.uuid4().hex[:10]
    poison = {
        "Source": "o2c.payments",
        "DetailType": "PayoutPaid",
        "Detail": json.dumps({"data": {"payoutId": f"po_bad{tag}"}}),
    }
    good = [canonical(f"ev-{tag}-{i}", f"po_good{tag}{i}") for i in range(3)]
    assert hub.dlq_depth() == 0

    hub.put_on_bus([good[0], poison, good[1], good[2]])

    max_receives = {c.id: c.max_receive_count for c in CONSUMERS}["LineageRecorder"]
    wait_for(lambda: hub.dlq_depth() == 1, timeout=30 + 5 * max_receives)
    hub.settle()
    for i in range(3):
        [entry] = trace(
            hub.target, f"po_good{tag}{i}"
        )  # recorded exactly once despite the poison in its batch
        assert entry.event_id == f"ev-{tag}-{i}"

    assert main(["dlq", "list"]) == 0
    listing = capsys.readouterr().out
    assert "LineageRecorder" in listing and "1 dead letter" in listing
    # the parked message is shown with its event type and how often the consumer received it
    assert re.search(r"PayoutPaid\s+event \?\s+received \d+x", listing), listing

    assert main(["dlq", "redrive", "LineageRecorder"]) == 0
    assert "redrove 1 message" in capsys.readouterr().out
    assert hub.dlq_depth() == 0
    # still poison: it comes back to the DLQ, never lost
    wait_for(lambda: hub.dlq_depth() == 1, timeout=30 + 5 * max_receives)


def test_trace_command_prints_json_by_any_id(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    tag = uuid.uuid4().hex[:10]
    hub.put_on_bus([canonical(f"ev-{tag}", f"po_{tag}")])
    hub.settle()

    assert main(["trace", f"corr-ev-{tag}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["detailType"] for e in out["events"]] == ["PayoutPaid"]
    assert f"po_{tag}" in out["ids"]
    assert main(["trace", "no-such-id"]) == 1
