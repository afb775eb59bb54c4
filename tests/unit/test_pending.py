"""A fact that comes before what it depends on waits, is released when that arrives, and is never lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.topology import PENDING_TABLE
from localcloud.provision import create_table
from shared.events.orchestration import InvoicePaid
from shared.money import Money
from shared.order_to_cash.bookings import NotYetKnown
from shared.order_to_cash.pending import PendingFacts, parking, released_keys

BUS = "o2c-test"


@pytest.fixture
def aws(aws_env: None) -> Iterator[dict[str, Any]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "pending", PENDING_TABLE)
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queue = sqs.create_queue(QueueName="replayed")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["o2c.payments"]}))
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
        yield {
            "store": PendingFacts(ddb, "pending", events=events, bus_name=BUS),
            "sqs": sqs,
            "queue": queue,
        }


def payout_event(payout_id: str = "po_1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": "PayoutPaid",
        "source": "o2c.payments",
        "detail": {
            "metadata": {"eventId": f"evt-{payout_id}", "correlationId": f"payout:{payout_id}"},
            "data": {"payoutId": payout_id, "amount": {"amount": 100, "currency": "USD"}},
        },
    }


def record(event: dict[str, Any]) -> Any:
    return SimpleNamespace(body=json.dumps(event))


def replayed(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_fact_missing_its_payment_waits_and_is_put_back_on_the_bus_as_delivered(
    aws: dict[str, Any],
) -> None:
    store: PendingFacts = aws["store"]
    calls: list[str] = []

    def deposit(rec: Any) -> str:
        calls.append("run")
        raise NotYetKnown("pi_9 is not applied yet", awaiting="payment:pi_9")

    handle = parking("PayoutDepositor", lambda: store)(deposit)
    assert handle(record(payout_event())) is None  # acknowledged: not retried into the DLQ
    assert calls == ["run", "run"]  # checked again once the park was written
    [waiting] = store.waiting_for("payment:pi_9")
    assert (waiting.consumer, waiting.event_id, waiting.detail_type) == (
        "PayoutDepositor",
        "evt-po_1",
        "PayoutPaid",
    )

    paid = InvoicePaid(
        opportunityId="1",
        erpInvoiceId="3009",
        erpPaymentId="77",
        paymentIntentId="pi_9",
        amount=Money.of(100, "USD"),
    )
    assert released_keys(paid) == ["payment:pi_9"]
    assert store.release(store.waiting_for("payment:pi_9")) == 1
    [again] = replayed(aws)
    assert again["detail-type"] == "PayoutPaid" and again["detail"] == payout_event()["detail"]
    assert store.waiting_for("payment:pi_9") == []  # released: in flight, not waiting


def test_the_release_that_finds_the_fact_still_missing_waits_again_and_keeps_its_age(
    aws: dict[str, Any],
) -> None:
    store: PendingFacts = aws["store"]
    first = store.park("payment:pi_9", "PayoutDepositor", payout_event(), "not applied")
    store.release([first])
    again = store.park("payment:pi_9", "PayoutDepositor", payout_event(), "still not applied")
    assert again.waiting and again.first_parked_at == first.first_parked_at and again.releases == 1
    assert store.settle(settled_after_s=0) == 0  # waiting again: never removed
    assert [p.reason for p in store.waiting_for("payment:pi_9")] == ["still not applied"]


def test_a_released_fact_that_did_not_come_back_is_settled(aws: dict[str, Any]) -> None:
    store: PendingFacts = aws["store"]
    store.release([store.park("dispute:dp_1", "DisputeSync", payout_event(), "not recorded")])
    assert store.settle(settled_after_s=3600) == 0
    assert store.settle(settled_after_s=0) == 1
    assert list(store.all()) == []


def test_a_fact_that_arrived_while_parking_is_booked_and_not_left_waiting(aws: dict[str, Any]) -> None:
    store: PendingFacts = aws["store"]
    outcomes = iter([NotYetKnown("no invoice", awaiting="payment:pi_1"), "booked"])

    def book(rec: Any) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert parking("RefundBooker", lambda: store)(book)(record(payout_event())) == "booked"
    assert list(store.all()) == []


def test_a_fact_awaiting_something_else_on_the_second_look_moves_to_that_key(aws: dict[str, Any]) -> None:
    store: PendingFacts = aws["store"]
    outcomes = iter(["payment:pi_1", "payment:pi_2"])

    def deposit(rec: Any) -> None:
        raise NotYetKnown("not applied", awaiting=next(outcomes))

    parking("PayoutDepositor", lambda: store)(deposit)(record(payout_event()))
    assert store.waiting_for("payment:pi_1") == []
    assert len(store.waiting_for("payment:pi_2")) == 1


def test_a_missing_fact_nobody_will_announce_is_retried_by_the_queue_not_parked(aws: dict[str, Any]) -> None:
    store: PendingFacts = aws["store"]

    def book(rec: Any) -> None:
        raise NotYetKnown("payment customer is not linked yet")

    with pytest.raises(NotYetKnown):
        parking("RenewalSync", lambda: store)(book)(record(payout_event()))
    assert list(store.all()) == []


def test_the_hourly_sweep_replays_what_waited_long_enough_and_settles_what_was_released(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.fact_releaser.handler import sweep

    monkeypatch.setenv("PENDING_TABLE_NAME", "pending")
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    store: PendingFacts = aws["store"]
    parked_at = time.time()
    store.park("payment:pi_1", "PayoutDepositor", payout_event("po_1"), "not applied")
    store.release([store.park("dispute:dp_1", "DisputeSync", payout_event("po_2"), "not recorded")])
    assert [e["detail"]["data"]["payoutId"] for e in replayed(aws)] == ["po_2"]

    # too young to replay; the release a moment ago is not settled yet
    report = sweep(min_age_s=3600)
    assert (report["waiting"], report["released"], report["settled"]) == (1, 0, 0)
    assert 0 <= report["oldestAgeSeconds"] <= time.time() - parked_at + 1  # parked just now, however slow
    assert len(list(store.all())) == 2 and replayed(aws) == []

    monkeypatch.setattr("shared.order_to_cash.pending.RELEASE_SETTLED_S", 0)
    report = sweep(min_age_s=0)
    assert (report["waiting"], report["released"], report["settled"]) == (1, 1, 1)
    assert [e["detail"]["data"]["payoutId"] for e in replayed(aws)] == ["po_1"]
    assert [p.awaiting for p in store.all()] == ["payment:pi_1"]  # released, not yet settled


def test_a_claim_checked_fact_waits_and_is_put_back_with_its_claim_check_not_its_data(
    aws: dict[str, Any],
) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from shared.claimcheck import ClaimChecks, resolve_record

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="claims")
    data = {"payoutId": "po_big", "amount": {"amount": 100, "currency": "USD"}, "note": "x" * 300_000}
    event = payout_event("po_big")
    event["detail"]["data"] = ClaimChecks(s3, "claims").store("evt-po_big", json.dumps(data))
    store: PendingFacts = aws["store"]
    seen: list[Any] = []

    def deposit(rec: Any) -> str:
        seen.append(json.loads(rec.body)["detail"]["data"])
        raise NotYetKnown("pi_9 is not applied yet", awaiting="payment:pi_9")

    delivered = SQSRecord({"messageId": "m-1", "body": json.dumps(event)})
    parking("PayoutDepositor", lambda: store)(deposit)(resolve_record(delivered, s3))
    assert seen[0] == data  # the consumer saw the data ...
    [waiting] = store.waiting_for("payment:pi_9")
    assert waiting.event["detail"] == event["detail"]  # ... the park keeps the claim check (DynamoDB: 400 KB)
    store.release([waiting])
    [again] = replayed(aws)
    assert again["detail"] == event["detail"]
