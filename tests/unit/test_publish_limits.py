"""PutEvents within EventBridge's limits, on in-process moto: a HubSpot delivery of 100 large won deals goes out
in calls of at most 10 entries and 256 KB, each deal once; a deal too large for any call is published as a claim
check (its data in S3) and a consumer gets the original data back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from shared.crm.models import LineItem
from shared.events.envelope import CanonicalEvent
from shared.inbound.closed_won import closed_won_event
from shared.money import Money
from shared.publisher import EventPublisher
from tests.unit.crm_fixtures import WON_AT, opportunity

BUS = "o2c-test"
BUCKET = "o2c-test-claim-checks"
#: AWS, "Amazon EventBridge quotas": a PutEvents request carries at most 10 entries and 256 KB.
LIMIT_BYTES = 256 * 1024


def aws_entry_size(entry: dict[str, Any]) -> int:
    """Written out from AWS's "Calculating PutEvents event entry size" (independently of the publisher)."""
    size = 14 if entry.get("Time") is not None else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode())
    size += len(entry["Detail"].encode()) + len(entry.get("EventBusName", "").encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def won_deal(i: int, lines: int) -> CanonicalEvent:
    items = tuple(
        LineItem(
            lineItemId=f"{i}-{n}",
            name=f"Platform seat {n} - année pleine, support inclus " * 2,
            quantity=1,
            unitPrice=Money.of(1000, "EUR"),
            amount=Money.of(1000, "EUR"),
        )
        for n in range(lines)
    )
    opp = opportunity(opportunity_id=str(9_000_000 + i)).replace(lines=items)
    return closed_won_event(opp, source_event_id=f"hs-{i}", occurred_at=WON_AT)


class Spy:
    """The events client, remembering each PutEvents request."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> Any:
        self.requests.append(Entries)
        return self.client.put_events(Entries=Entries)


@pytest.fixture
def aws(aws_env: None) -> Iterator[SimpleNamespace]:
    from moto import mock_aws

    from shared.aws import client

    client.cache_clear()
    with mock_aws():
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        s3 = boto3.client("s3")
        events.create_event_bus(Name=BUS)
        queue = sqs.create_queue(QueueName="won")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="won", EventBusName=BUS, EventPattern=json.dumps({"source": ["o2c.crm"]}))
        events.put_targets(Rule="won", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
        s3.create_bucket(Bucket=BUCKET)
        yield SimpleNamespace(events=Spy(events), sqs=sqs, s3=s3, queue=queue)
    client.cache_clear()


def delivered(aws: SimpleNamespace) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
        for m in batch:
            aws.sqs.delete_message(QueueUrl=aws.queue, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_100_large_won_deals_go_out_within_the_limits_each_once(aws: SimpleNamespace) -> None:
    deals = [won_deal(i, lines=150) for i in range(100)]
    assert 30_000 < len(deals[0].detail_json().encode()) < 100_000  # large, but each fits a call on its own

    EventPublisher(aws.events, BUS).publish(deals)

    for request in aws.events.requests:
        assert len(request) <= 10
        assert sum(aws_entry_size(e) for e in request) <= LIMIT_BYTES
    ids = [json.loads(m["Body"])["detail"]["metadata"]["eventId"] for m in delivered(aws)]
    assert sorted(ids) == sorted(d.metadata.eventId for d in deals)


def test_a_deal_too_large_for_any_call_is_claim_checked_and_a_consumer_gets_it_back(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.claimcheck import ClaimChecks
    from shared.consumers import sqs_consumer
    from shared.observability import metrics

    # the process-wide Metrics read its namespace when first imported, perhaps before aws_env set it
    monkeypatch.setattr(metrics.provider, "namespace", "O2CHubTest")
    huge = won_deal(1, lines=2500)
    original = huge.dump()["data"]
    assert len(json.dumps(original).encode()) > LIMIT_BYTES

    EventPublisher(aws.events, BUS, claim_checks=ClaimChecks(aws.s3, BUCKET)).publish([huge])

    [request] = aws.events.requests
    assert sum(aws_entry_size(e) for e in request) <= LIMIT_BYTES
    [message] = delivered(aws)
    check = json.loads(message["Body"])["detail"]["data"]["claimCheck"]
    stored = aws.s3.get_object(Bucket=check["bucket"], Key=check["key"])["Body"].read()
    assert check["bucket"] == BUCKET and huge.metadata.eventId in check["key"]
    assert (check["bytes"], check["sha256"]) == (len(stored), hashlib.sha256(stored).hexdigest())

    seen: list[dict[str, Any]] = []
    handler = sqs_consumer(lambda record: seen.append(json.loads(record.body)))
    context = SimpleNamespace(
        function_name="q2c-starter",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:q2c-starter",
        aws_request_id="req-1",
    )
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:won",
        "awsRegion": "us-east-1",
    }
    assert handler({"Records": [record]}, context) == {"batchItemFailures": []}
    assert seen[0]["detail"]["data"] == original
    assert seen[0]["detail"]["metadata"]["eventId"] == huge.metadata.eventId


def test_without_a_claim_check_bucket_an_oversized_deal_is_refused_before_any_call(
    aws: SimpleNamespace,
) -> None:
    from shared.publisher import PublishError

    with pytest.raises(PublishError, match="exceeds the PutEvents limit"):
        EventPublisher(aws.events, BUS).publish([won_deal(1, lines=2500)])
    assert aws.events.requests == []
