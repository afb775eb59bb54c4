"""Dead letters: what is parked, and moving it back to the queue it came from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from o2c_cli.targets import Target, TargetError

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "dlq list": (
        ("list_dead_letters",),
        frozenset({"sqs:GetQueueAttributes", "sqs:ReceiveMessage"}),
    ),
    "dlq redrive": (
        ("redrive",),
        frozenset(
            {
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
                "sqs:StartMessageMoveTask",
            }
        ),
    ),
}


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    detail_type: str
    event_id: str
    receive_count: int
    sent_at: str


@dataclass(frozen=True)
class DlqStatus:
    consumer: str
    dlq_url: str
    depth: int
    sample: list[DeadLetter]


def _summary(message: dict[str, Any]) -> DeadLetter:
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    metadata = detail.get("metadata", {}) if isinstance(detail, dict) else {}
    attrs = message.get("Attributes", {})
    return DeadLetter(
        message_id=message["MessageId"],
        detail_type=str(body.get("detail-type", "?")) if isinstance(body, dict) else "?",
        event_id=str(metadata.get("eventId", "?")) if isinstance(metadata, dict) else "?",
        receive_count=int(attrs.get("ApproximateReceiveCount", 0)),
        sent_at=str(attrs.get("SentTimestamp", "")),
    )


def list_dead_letters(target: Target, peek: int = 5) -> list[DlqStatus]:
    sqs = target.client("sqs")
    out = []
    for consumer, queues in sorted(target.consumers.items()):
        attrs = sqs.get_queue_attributes(
            QueueUrl=queues.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        depth = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        sample: list[DeadLetter] = []
        if depth and peek:
            # VisibilityTimeout=0: peeking must not hide the messages from a redrive that follows.
            messages = sqs.receive_message(
                QueueUrl=queues.dlq_url,
                MaxNumberOfMessages=min(peek, 10),
                VisibilityTimeout=0,
                AttributeNames=["All"],
            ).get("Messages", [])
            sample = [_summary(m) for m in messages]
        out.append(DlqStatus(consumer=consumer, dlq_url=queues.dlq_url, depth=depth, sample=sample))
    return out


def _find(target: Target, queue: str) -> tuple[str, str]:
    for consumer, queues in target.consumers.items():
        if queue in {consumer, queues.dlq_url, queues.queue_url} or queues.dlq_url.endswith("/" + queue):
            return queues.dlq_url, queues.queue_url
    raise TargetError(f"unknown queue {queue!r}; known: {', '.join(sorted(target.consumers))}")


def redrive(target: Target, queue: str) -> int:
    """Move every dead letter of ``queue`` (a consumer id or its DLQ name/URL) back to its source queue.

    On AWS this starts an SQS message move task (the console's "start DLQ redrive"); the embedded cloud
    does not implement that API, so locally the messages are moved one batch at a time, each one sent
    to the source queue before it is deleted from the DLQ (nothing is lost if the move is interrupted).
    Returns the number of messages moved (AWS: the number the task was started for).
    """
    dlq_url, queue_url = _find(target, queue)
    sqs = target.client("sqs")
    if not target.is_local:
        arn = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for url in (dlq_url, queue_url)
        }
        depth = int(
            sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        sqs.start_message_move_task(SourceArn=arn[dlq_url], DestinationArn=arn[queue_url])
        return depth
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=30,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                kwargs["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**kwargs)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
