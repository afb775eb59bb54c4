"""EventBridge publishing: batches of at most 10, failed entries re-sent, persistent failure raised."""

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from shared.events.envelope import new_event
from shared.events.payments import PayoutPaid
from shared.money import Money
from shared.publisher import EventPublisher, PublishError


def events(n: int) -> list[Any]:
    from datetime import UTC, datetime

    return [
        new_event(
            PayoutPaid(payoutId=f"po_{i}", amount=Money.of(100 + i, "USD"), arrivalDate=datetime.now(UTC)),
            source_system="stripe",
            correlation_id="c",
            source_event_id=f"evt_{i}",
        )
        for i in range(n)
    ]


@pytest.fixture
def client(aws_env: None) -> Any:
    return boto3.client("events", region_name="us-east-1")


def ok(n: int) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"e{i}"} for i in range(n)]}


def test_23_events_take_three_calls_of_at_most_ten(client: Any) -> None:
    with Stubber(client) as stub:
        for size in (10, 10, 3):
            stub.add_response("put_events", ok(size), {"Entries": ANY})
        calls = EventPublisher(client, "o2c-test").publish(events(23))
        stub.assert_no_pending_responses()
    assert calls == 3


def test_only_the_failed_entries_are_re_sent(client: Any) -> None:
    batch = events(3)
    publisher = EventPublisher(client, "o2c-test", sleep=lambda _s: None)
    entries = [publisher.entry(e) for e in batch]
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure"}, {"EventId": "c"}],
            },
            {"Entries": entries},
        )
        stub.add_response("put_events", ok(1), {"Entries": [entries[1]]})
        assert publisher.publish(batch) == 2
        stub.assert_no_pending_responses()


def test_entries_that_keep_failing_raise(client: Any) -> None:
    failing = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_response("put_events", failing, {"Entries": ANY})
        with pytest.raises(PublishError):
            EventPublisher(client, "o2c-test", sleep=lambda _s: None).publish(events(1))


def test_an_api_error_raises_publish_error(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(PublishError):
            EventPublisher(client, "o2c-test").publish(events(1))
