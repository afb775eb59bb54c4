"""The lineage table: one item per event, its ids indexed once per flow, and ``trace`` answering by any id
as before (issue 16 item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.topology import LINEAGE_TABLE
from localcloud.provision import create_table
from shared.lineage import LineageEntry, LineageStore


class CountingClient:
    """A DynamoDB client that counts the items it asks DynamoDB to write."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.items_written = 0

    def batch_write_item(self, **kwargs: Any) -> Any:
        self.items_written += sum(len(v) for v in kwargs["RequestItems"].values())
        return self._client.batch_write_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def store(aws_env: None) -> Iterator[tuple[LineageStore, CountingClient]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "lineage", LINEAGE_TABLE)
        counting = CountingClient(ddb)
        yield LineageStore(counting, "lineage"), counting


def entry(event_id: str, at: str, correlation: str, detail_type: str, **data: Any) -> LineageEntry:
    ids = {correlation, f"src-{event_id}", *(v for k, v in data.items() if k.endswith("Id"))}
    return LineageEntry(
        event_id=event_id,
        detail_type=detail_type,
        source="o2c.test",
        occurred_at=f"2026-12-01T10:00:{at}+00:00",
        correlation_id=correlation,
        source_system="test",
        source_event_id=f"src-{event_id}",
        ids=tuple(sorted(ids)),
        data=data,
    )


#: Two deals of one customer; deal A's payment is refunded under a correlation of its own (the refund's).
DEAL_A = [
    entry("e1", "01", "corr-a", "OpportunityClosedWon", opportunityId="opp-a", customerId="cus-1"),
    entry("e2", "02", "corr-a", "OrderCreated", opportunityId="opp-a", orderId="so-a", customerId="cus-1"),
    entry(
        "e3", "03", "corr-a", "PaymentCaptured", orderId="so-a", paymentIntentId="pi-a", customerId="cus-1"
    ),
]
REFUND_A = [entry("e4", "04", "corr-r", "RefundBooked", paymentIntentId="pi-a", refundId="re-1")]
DEAL_B = [
    entry("e5", "05", "corr-b", "OpportunityClosedWon", opportunityId="opp-b", customerId="cus-1"),
]


def event_ids(entries: list[LineageEntry]) -> list[str]:
    return [e.event_id for e in entries]


def test_an_event_is_one_item_plus_the_ids_its_flow_had_not_carried_yet(
    store: tuple[LineageStore, CountingClient],
) -> None:
    lineage, client = store
    written = []
    for e in DEAL_A:
        before = client.items_written
        lineage.record(e)
        written.append(client.items_written - before)
    # e1: the event + opp-a, cus-1, src-e1; e2: the event + so-a, src-e2; e3: the event + pi-a, src-e3
    assert written == [4, 3, 3]
    # recording an event again writes its one item again, nothing else
    before = client.items_written
    lineage.record(DEAL_A[1])
    assert client.items_written - before == 1


def test_trace_finds_a_history_by_any_of_its_ids_and_hops_through_flow_ids_not_parties(
    store: tuple[LineageStore, CountingClient],
) -> None:
    lineage, _ = store
    for e in [*DEAL_A, *REFUND_A, *DEAL_B]:
        lineage.record(e)

    # the deal by its opportunity, order, payment or correlation id: the deal and its payment's refund
    for the_id in ("opp-a", "so-a", "pi-a", "corr-a", "src-e2", "re-1"):
        assert event_ids(lineage.trace(the_id)) == ["e1", "e2", "e3", "e4"], the_id
    # the customer: every event that names it, and their flows, so both deals
    assert event_ids(lineage.trace("cus-1")) == ["e1", "e2", "e3", "e4", "e5"]
    assert event_ids(lineage.trace("opp-b")) == ["e5"]
    # entries_for: only the events that carry the id itself
    assert event_ids(lineage.entries_for("pi-a")) == ["e3", "e4"]
    assert event_ids(lineage.entries_for("cus-1")) == ["e1", "e2", "e3", "e5"]
    assert lineage.trace("nothing-by-this-id") == []
    # the day's facts for the reconciliation: each event once, no index item mistaken for one
    assert event_ids(lineage.entries_on("2026-12-01", {"RefundBooked", "OrderCreated"})) == ["e2", "e4"]
