"""An event too large for PutEvents travels through the local cloud as a claim check: its data is stored in the
claim-check bucket, and a consumer (the lineage recorder) gets the original data back, nothing in its DLQ."""

from __future__ import annotations

import time

from shared.claimcheck import ClaimChecks
from shared.events.after_sale import ReconciliationException
from shared.events.envelope import new_event
from shared.publisher import EventPublisher
from tests.flow.conftest import Hub


def test_an_oversized_event_is_claim_checked_and_consumed_with_its_data(hub: Hub) -> None:
    from o2c_cli.trace import trace

    assert hub.cloud.res is not None
    # the flow tests share one cloud: other tests park their own dead letters there
    dead_before = hub.dlq_depth("LineageRecorder")
    long_detail = "payout po_claim does not tie: " + "line not matched; " * 16_000  # ~290 KB
    event = new_event(
        ReconciliationException(kind="payout_not_tied", detail=long_detail, payoutId="po_claim_check_1"),
        source_system="o2c",
        correlation_id="payout:po_claim_check_1",
    )
    bucket = hub.cloud.res.claim_check_bucket
    s3 = hub.cloud.client("s3")
    publisher = EventPublisher(
        hub.cloud.client("events"),
        hub.cloud.res.event_bus_name,
        claim_checks=ClaimChecks(s3, bucket),
    )
    publisher.publish([event])

    stored = s3.list_objects_v2(Bucket=bucket, Prefix=f"events/{event.metadata.eventId}/")["KeyCount"]
    assert stored == 1
    deadline = time.monotonic() + 60
    while not (
        found := [
            e for e in trace(hub.target, "po_claim_check_1") if e.detail_type == "ReconciliationException"
        ]
    ):
        assert time.monotonic() < deadline, "the claim-checked event was not recorded"
        time.sleep(0.3)
    assert found[0].data["detail"] == long_detail
    hub.settle()
    assert hub.dlq_depth("LineageRecorder") == dead_before
