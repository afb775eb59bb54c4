"""The consumer kernel (``shared.consumers``): a consumer is a declaration, and the kernel decodes each record
into its typed canonical event, puts its correlation id on the logs, runs the handler once per business key,
publishes what the handler returns with correlation and causation carried from the incoming envelope, parks
what waits for a missing fact, skips what is not ours, and reports only the failed records of a batch."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.topology import CONSUMERS, IDEMPOTENCY_TABLE, PENDING_TABLE
from localcloud.provision import create_table
from shared.consumers import Acknowledged, Consumer, Delivered, Emit, OncePer, consumer
from shared.events.after_sale import DisputeRecorded, RefundBooked
from shared.events.envelope import EventData, new_event
from shared.events.payments import DisputeOpened, RefundSucceeded
from shared.money import Money
from shared.order_to_cash.bookings import NotOurs, NotYetKnown
from shared.order_to_cash.pending import PendingFacts

BUS = "o2c-unit"


def context() -> Any:
    deadline_at = time.monotonic() + 60
    return SimpleNamespace(
        function_name="o2c-test-Kernel",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:o2c-test-Kernel",
        aws_request_id="req-1",
        get_remaining_time_in_millis=lambda: int((deadline_at - time.monotonic()) * 1000),
    )


def _clear_caches() -> None:
    from shared.aws import client
    from shared.consumers import _once_only
    from shared.publisher import stage_publisher

    for cached in (client, _once_only, stage_publisher):
        cached.cache_clear()


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    from shared.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "O2CHubTest")
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "idempotency")
    monkeypatch.setenv("PENDING_TABLE_NAME", "pending")
    monkeypatch.delenv("CLAIM_CHECK_BUCKET_NAME", raising=False)
    _clear_caches()
    with mock_aws():
        ddb = boto3.client("dynamodb")
        create_table(ddb, "idempotency", IDEMPOTENCY_TABLE)
        create_table(ddb, "pending", PENDING_TABLE)
        events, sqs = boto3.client("events"), boto3.client("sqs")
        events.create_event_bus(Name=BUS)
        queue = sqs.create_queue(QueueName="published")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": "o2c."}]})
        )
        events.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
        yield SimpleNamespace(sqs=sqs, queue=queue, pending=PendingFacts(ddb, "pending"))
    _clear_caches()


def failed(handler: Any, batch: dict[str, Any]) -> list[str]:
    """The message ids the queue gets back (Powertools fails the whole invocation when every record failed)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    try:
        result = handler(batch, context())
    except BatchProcessingError:
        return [r["messageId"] for r in batch["Records"]]
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def published(aws: SimpleNamespace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while batch := aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10).get("Messages", []):
        out.extend(json.loads(m["Body"]) for m in batch)
        for m in batch:
            aws.sqs.delete_message(QueueUrl=aws.queue, ReceiptHandle=m["ReceiptHandle"])
    return out


def sqs_event(
    *events: EventData | tuple[EventData, str], correlation_id: str = "hubspot-42"
) -> dict[str, Any]:
    """An SQS batch as the consumer's queue delivers it: EventBridge events carrying canonical envelopes."""
    records = []
    for n, item in enumerate(events):
        data, source_event_id = item if isinstance(item, tuple) else (item, f"evt_{n}")
        canonical = new_event(
            data, source_system="stripe", correlation_id=correlation_id, source_event_id=source_event_id
        )
        body = {
            "version": "0",
            "id": f"eb-{n}",
            "detail-type": canonical.detail_type,
            "source": canonical.source,
            "detail": json.loads(canonical.detail_json()),
        }
        records.append(
            {
                "messageId": f"m{n}",
                "receiptHandle": f"rh{n}",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:kernel",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def refund(refund_id: str = "re_1") -> RefundSucceeded:
    return RefundSucceeded(refundId=refund_id, paymentIntentId="pi_1", amount=Money.of(500, "EUR"))


def dispute() -> DisputeOpened:
    return DisputeOpened(
        disputeId="dp_1",
        chargeId="ch_1",
        paymentIntentId="pi_1",
        amount=Money.of(500, "EUR"),
        reason="fraudulent",
        status="needs_response",
        evidenceDueBy=datetime(2026, 12, 20, tzinfo=UTC),
    )


def booked(event: Delivered[RefundSucceeded]) -> RefundBooked:
    return RefundBooked(
        refundId=event.data.refundId,
        paymentIntentId=event.data.paymentIntentId,
        erpInvoiceId="3009",
        erpCreditMemoId=f"cm-{event.data.refundId}",
        erpRefundId=f"cr-{event.data.refundId}",
        amount=event.data.amount,
    )


def test_a_handler_gets_the_typed_event_and_what_it_returns_is_published_caused_by_it(
    aws: SimpleNamespace,
) -> None:
    from shared.observability import logger

    seen: list[tuple[Any, str | None]] = []

    def record(event: Delivered[DisputeOpened]) -> Emit:
        seen.append((event.data, logger.get_correlation_id()))
        return Emit(
            DisputeRecorded(
                disputeId=event.data.disputeId,
                erpInvoiceId="3009",
                erpDisputeHoldId="rma-1",
                amount=event.data.amount,
            ),
            source_event_id=f"dispute-recorded:{event.data.disputeId}",
        )

    handler = consumer(Consumer("Disputes", handles={"DisputeOpened": record}))
    batch = sqs_event((dispute(), "evt_dp"))
    incoming = json.loads(batch["Records"][0]["body"])["detail"]["metadata"]

    assert handler(batch, context()) == {"batchItemFailures": []}

    # the handler had the catalogue's model (typed fields, Money, datetime) and the logs the correlation id
    [(data, correlation_id)] = seen
    assert isinstance(data, DisputeOpened) and data.amount == Money.of(500, "EUR")
    assert data.evidenceDueBy is not None and data.evidenceDueBy.year == 2026
    assert correlation_id == "hubspot-42"
    # and the fact it returned is on the bus, in the envelope, correlated and caused by the incoming event
    [out] = published(aws)
    assert (out["detail-type"], out["source"]) == ("DisputeRecorded", "o2c.erp")
    metadata = out["detail"]["metadata"]
    assert metadata["correlationId"] == "hubspot-42"
    assert metadata["causationId"] == incoming["eventId"]
    assert (metadata["sourceSystem"], metadata["sourceEventId"]) == ("o2c", "dispute-recorded:dp_1")
    assert out["detail"]["data"]["erpDisputeHoldId"] == "rma-1"


def test_a_business_key_is_handled_once_whatever_the_events_that_carry_it(aws: SimpleNamespace) -> None:
    runs: list[str] = []

    def book(event: Delivered[RefundSucceeded]) -> RefundBooked:
        runs.append(event.event_id)
        return booked(event)

    handler = consumer(
        Consumer(
            "Refunds",
            handles={"RefundSucceeded": book},
            once=OncePer("refund-booked", key=lambda event: event.data.refundId),
        )
    )
    # refund.created and refund.updated of one refund (two events), then a redelivery, then another refund
    assert handler(sqs_event((refund(), "evt_created"), (refund(), "evt_updated")), context()) == {
        "batchItemFailures": []
    }
    assert handler(sqs_event((refund(), "evt_created")), context()) == {"batchItemFailures": []}
    assert handler(sqs_event((refund("re_2"), "evt_other")), context()) == {"batchItemFailures": []}

    assert len(runs) == 2
    assert sorted(e["detail"]["data"]["refundId"] for e in published(aws)) == ["re_1", "re_2"]


def test_a_handler_that_fails_or_has_nothing_to_do_yet_leaves_its_key_free(aws: SimpleNamespace) -> None:
    attempts: list[str] = []

    def book(event: Delivered[RefundSucceeded]) -> RefundBooked:
        attempts.append(event.event_id)
        if len(attempts) == 1:
            raise RuntimeError("ERP unavailable")
        if len(attempts) == 2:
            raise Acknowledged("not reconciled yet")
        return booked(event)

    handler = consumer(
        Consumer(
            "Refunds",
            handles={"RefundSucceeded": book},
            once=OncePer("refund-booked", key=lambda event: event.data.refundId),
        )
    )
    batch = sqs_event(refund())
    assert failed(handler, batch) == ["m0"]  # retried
    assert handler(batch, context()) == {"batchItemFailures": []}  # acknowledged, nothing published
    assert published(aws) == []
    assert handler(batch, context()) == {"batchItemFailures": []}  # now booked
    assert handler(batch, context()) == {"batchItemFailures": []}  # and only once
    assert len(attempts) == 3 and len(published(aws)) == 1


def test_an_event_whose_fact_is_missing_is_parked_not_retried(aws: SimpleNamespace) -> None:
    def book(event: Delivered[RefundSucceeded]) -> RefundBooked:
        raise NotYetKnown("the invoice is not paid yet", awaiting=f"payment:{event.data.paymentIntentId}")

    handler = consumer(Consumer("RefundBooker", handles={"RefundSucceeded": book}, park_missing_facts=True))
    assert handler(sqs_event(refund()), context()) == {"batchItemFailures": []}

    [waiting] = aws.pending.waiting_for("payment:pi_1")
    assert (waiting.consumer, waiting.detail_type) == ("RefundBooker", "RefundSucceeded")
    assert waiting.event["detail"]["data"]["refundId"] == "re_1"  # as delivered, to be put back on the bus
    assert published(aws) == []

    # without the policy, the same wait is a failure the queue retries
    strict = consumer(Consumer("RefundBooker", handles={"RefundSucceeded": book}))
    assert failed(strict, sqs_event(refund())) == ["m0"]


def test_an_event_about_an_object_that_is_not_ours_is_skipped_only_by_policy(aws: SimpleNamespace) -> None:
    def book(event: Delivered[RefundSucceeded]) -> RefundBooked:
        raise NotOurs("the payment platform has no pi_1")

    skipping = consumer(Consumer("Refunds", handles={"RefundSucceeded": book}, skip_not_ours=True))
    strict = consumer(Consumer("Refunds", handles={"RefundSucceeded": book}))

    assert skipping(sqs_event(refund()), context()) == {"batchItemFailures": []}
    assert failed(strict, sqs_event(refund())) == ["m0"]
    assert published(aws) == []


def test_only_the_failed_records_of_a_batch_come_back(aws: SimpleNamespace) -> None:
    def book(event: Delivered[RefundSucceeded]) -> RefundBooked:
        if event.data.refundId == "re_bad":
            raise RuntimeError("ERP refused")
        return booked(event)

    handler = consumer(Consumer("Refunds", handles={"RefundSucceeded": book}))
    batch = sqs_event(refund("re_1"), refund("re_bad"), refund("re_3"), dispute())
    # a record that is not the event its detail type says (a field missing) is a failure too, never handled
    broken = json.loads(batch["Records"][2]["body"])
    del broken["detail"]["data"]["amount"]
    batch["Records"][2]["body"] = json.dumps(broken)

    result = handler(batch, context())

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    # re_1 booked; the dispute is not this consumer's (acknowledged, not handled)
    assert [e["detail"]["data"]["refundId"] for e in published(aws)] == ["re_1"]


@pytest.mark.parametrize("spec", [c for c in CONSUMERS if "detail-type" in c.pattern], ids=lambda c: c.id)
def test_a_declared_consumer_handles_exactly_what_its_queue_is_sent(spec: Any) -> None:
    """The declaration and the queue's rule (infra.topology) name the same detail types: none is sent that
    the consumer would drop, none is declared that never comes."""
    module = importlib.import_module(spec.function.code_dir.replace("/", ".") + ".handler")
    [declaration] = [v for v in vars(module).values() if isinstance(v, Consumer)] or [None]
    if declaration is None:  # a module-level lambda_handler built from an inline declaration
        pytest.fail(f"{spec.function.code_dir} declares no Consumer at module level")
    assert sorted(declaration.handles) == sorted(spec.pattern["detail-type"])
