"""A batch consumer that runs out of its invocation's time reports the records it did not process as batch item
failures (only they come back, each with one more receive) instead of running into the function timeout, which
returns the whole batch and burns a receive of every message, done or not."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from shared import deadline


def context(remaining_s: float) -> Any:
    deadline_at = time.monotonic() + remaining_s
    return SimpleNamespace(
        function_name="o2c-test-RefundBooker",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:o2c-test-RefundBooker",
        aws_request_id="req-1",
        get_remaining_time_in_millis=lambda: max(0, int((deadline_at - time.monotonic()) * 1000)),
    )


def sqs_record(n: int) -> dict[str, Any]:
    return {
        "messageId": f"m{n}",
        "receiptHandle": f"rh{n}",
        "body": json.dumps({"n": n}),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:refunds",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def metrics_namespace(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.observability import metrics

    monkeypatch.setattr(metrics.provider, "namespace", "O2CHubTest")


def test_records_that_do_not_fit_in_the_time_left_are_reported_not_timed_out(metrics_namespace: None) -> None:
    from shared.consumers import sqs_consumer

    done: list[int] = []

    def book(record: Any) -> None:
        time.sleep(0.3)  # one ERP call
        done.append(json.loads(record.body)["n"])

    handler = sqs_consumer(book)
    # Given 3.2 s left of the invocation: 1.2 s once the safety margin is kept, room for one record
    started = time.monotonic()
    result = handler(
        {"Records": [sqs_record(n) for n in (1, 2, 3)]}, context(2 + deadline.MIN_ATTEMPT_S + 0.2)
    )
    # Then the first record is booked and the two others come back, well within the invocation's time
    assert done == [1]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert time.monotonic() - started < 1.5


def test_a_record_is_not_started_when_the_slowest_one_so_far_would_not_fit(metrics_namespace: None) -> None:
    """Records whose calls are not cut to the deadline (AWS SDK calls: DynamoDB retrying) turning slow: the next
    one is started only if the time the slowest took is still left, so the batch ends before the timeout."""
    from shared.consumers import sqs_consumer

    done: list[int] = []

    def record(record: Any) -> None:
        time.sleep(1.5)  # two DynamoDB calls, slow today
        done.append(json.loads(record.body)["n"])

    handler = sqs_consumer(record)
    # Given 2.8 s left once the safety margin is kept: after the first record (1.5 s) 1.3 s is left, enough for
    # one call's minimum but not for another record as slow
    started = time.monotonic()
    result = handler({"Records": [sqs_record(n) for n in (1, 2, 3)]}, context(deadline.SAFETY_MARGIN_S + 2.8))
    # Then only the first is processed, the others come back, and the invocation ends within its time
    assert done == [1]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert time.monotonic() - started < 2.7
    # and the next invocation starts without the last one's estimate
    result = handler({"Records": [sqs_record(4)]}, context(deadline.SAFETY_MARGIN_S + 1.2))
    assert done == [1, 4] and result == {"batchItemFailures": []}


def test_with_time_enough_the_whole_batch_is_processed(metrics_namespace: None) -> None:
    from shared.consumers import sqs_consumer

    seen: list[float | None] = []
    handler = sqs_consumer(lambda record: seen.append(deadline.remaining_s()))
    result = handler({"Records": [sqs_record(n) for n in (1, 2)]}, context(60))
    assert result == {"batchItemFailures": []}
    # each record's calls see the invocation's deadline, less the safety margin
    assert all(left is not None and 55 < left <= 60 - deadline.SAFETY_MARGIN_S for left in seen)
    assert deadline.remaining_s() is None  # and it ends with the invocation


def test_a_state_machine_step_sees_the_deadline_of_its_invocation(metrics_namespace: None) -> None:
    from shared.order_to_cash.tasks import task_handler

    seen: list[float | None] = []

    def step(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(deadline.remaining_s())
        return {}

    handler = task_handler({"step": step})
    handler({"action": "step", "correlationId": "c-1", "execution": "e-1"}, context(30))
    [left] = seen
    assert left is not None and 25 < left <= 30 - deadline.SAFETY_MARGIN_S


def test_a_secret_read_that_timed_out_is_transient_so_the_step_is_retried(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets Manager answering too slowly (a read timeout) fails the step as ``TransientError``, which the
    state machine retries; any other failure (no such secret, no permission) stays what it is."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import ClientError, ReadTimeoutError

    from shared import config
    from shared.outbound import TransientError

    class Provider:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def get(self, *args: Any, **kwargs: Any) -> Any:
            try:
                raise self.error
            except Exception as exc:  # noqa: BLE001 - as Powertools does: the cause only as the context
                raise GetParameterError(str(exc))  # noqa: B904

    monkeypatch.setenv("NETSUITE_CREDENTIALS_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:ns")
    monkeypatch.setattr(config, "_secrets", lambda: Provider(ReadTimeoutError(endpoint_url="http://sm")))
    with pytest.raises(TransientError, match="ReadTimeoutError"):
        config.secret_json("NETSUITE_CREDENTIALS_ARN")
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "GetSecretValue")
    monkeypatch.setattr(config, "_secrets", lambda: Provider(missing))
    with pytest.raises(GetParameterError):
        config.secret_json("NETSUITE_CREDENTIALS_ARN")
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetSecretValue"
    )
    monkeypatch.setattr(config, "_secrets", lambda: Provider(throttled))
    with pytest.raises(TransientError):
        config.secret_json("NETSUITE_CREDENTIALS_ARN")
