"""The warehouse feed on the embedded cloud: the same files, in the same layout, as Firehose writes on AWS.

moto's EventBridge delivers to SQS targets only, so locally the warehouse rule (topology.WAREHOUSE's pattern,
with a DLQ and the hub's retry policy) targets a queue, and ``WarehouseWriter`` stands in for the delivery
stream: it drains the queue, runs each event through the projection the stream's transformation Lambda runs
(``shared.warehouse.project``), partitions the rows by ``type`` and delivery day (the stream's prefix) and
writes each partition as one Snappy-compressed Parquet file (DuckDB) to the warehouse bucket. What it cannot
read goes under ``errors/`` as Firehose does. The one local difference: it writes every
``local_flush_interval_s`` instead of buffering 64 MB or 5 minutes, so the files are there while you watch.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.topology import WAREHOUSE
from shared.warehouse import COLUMNS, partition, project

log = logging.getLogger("localcloud.warehouse")

_DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "bigint": "BIGINT"}
TARGET_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


@dataclass
class WarehouseResources:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    rule_name: str
    rule_arn: str

    def as_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "queue": {"url": self.queue_url, "arn": self.queue_arn},
            "dlq": {"url": self.dlq_url, "arn": self.dlq_arn},
            "rule": {"name": self.rule_name, "arn": self.rule_arn},
        }


def _ensure_bucket(s3: Any, name: str) -> None:
    """Private, encrypted, with the stack's lifecycle rules (infra/constructs/warehouse.py)."""
    from localcloud.provision import ensure_private_bucket

    ensure_private_bucket(
        s3,
        name,
        [
            {
                "ID": "EventFiles",
                "Status": "Enabled",
                "Filter": {"Prefix": "events/"},
                "Transitions": [
                    {"Days": WAREHOUSE.infrequent_access_after_days, "StorageClass": "STANDARD_IA"}
                ],
                "Expiration": {"Days": WAREHOUSE.expiry_days},
            },
            {
                "ID": "DeliveryErrors",
                "Status": "Enabled",
                "Filter": {"Prefix": "errors/"},
                "Expiration": {"Days": WAREHOUSE.error_expiry_days},
            },
        ],
    )


def provision_warehouse(
    *, s3: Any, sqs: Any, events: Any, stage: str, event_bus_name: str, physical_name: Any
) -> WarehouseResources:
    bucket = physical_name(stage, WAREHOUSE.bucket_id).lower()
    _ensure_bucket(s3, bucket)
    dlq_url = sqs.create_queue(
        QueueName=physical_name(stage, f"{WAREHOUSE.local_queue_id}Dlq"),
        Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600), "SqsManagedSseEnabled": "true"},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=physical_name(stage, f"{WAREHOUSE.local_queue_id}Queue"),
        Attributes={
            "VisibilityTimeout": "60",
            "SqsManagedSseEnabled": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule_name = physical_name(stage, "WarehouseRule")
    rule_arn = events.put_rule(
        Name=rule_name,
        EventBusName=event_bus_name,
        EventPattern=json.dumps(WAREHOUSE.pattern),
        State="ENABLED",
        Description="Canonical events for the warehouse",
    )["RuleArn"]
    for url, arn in ((queue_url, queue_arn), (dlq_url, dlq_arn)):
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(
        Rule=rule_name,
        EventBusName=event_bus_name,
        Targets=[
            {
                "Id": "WarehouseDeliveryStream",
                "Arn": queue_arn,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": TARGET_RETRY_POLICY,
            }
        ],
    )
    return WarehouseResources(bucket, queue_url, queue_arn, dlq_url, dlq_arn, rule_name, rule_arn)


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """``rows`` as one Snappy Parquet file with the Glue table's columns (the partition keys are in the key)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE rows (" + ", ".join(f"{n} {_DUCKDB_TYPES[t]}" for n, t in COLUMNS) + ")")
        con.executemany(
            f"INSERT INTO rows VALUES ({', '.join('?' for _ in COLUMNS)})",  # noqa: S608 - placeholders
            [[row[n] for n, _ in COLUMNS] for row in rows],
        )
        con.execute(f"COPY rows TO '{path.as_posix()}' (FORMAT parquet, COMPRESSION snappy)")
    finally:
        con.close()


def object_name(stage: str, at: datetime) -> str:
    """Firehose's object name: ``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<random>`` + the file extension."""
    return f"o2c-{stage}-warehouse-1-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.parquet"


def deliver(
    s3: Any, bucket: str, stage: str, bodies: list[str], *, personal_data: bool, at: datetime | None = None
) -> list[str]:
    """Project, partition and write one buffer of events; returns the keys written."""
    at = at or datetime.now(UTC)
    partitions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    failed: list[str] = []
    for body in bodies:
        try:
            event = json.loads(body)
            if not isinstance(event, dict) or "detail-type" not in event:
                raise ValueError("not an EventBridge event")
            row = project(event, personal_data=personal_data)
        except (ValueError, KeyError, TypeError):
            failed.append(body)
            continue
        partitions[partition(row, at)].append(row)
    keys: list[str] = []
    with tempfile.TemporaryDirectory(prefix="o2c-warehouse-") as tmp:
        for prefix, rows in partitions.items():
            path = Path(tmp) / f"{uuid.uuid4()}.parquet"
            write_parquet(rows, path)
            key = prefix + object_name(stage, at)
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
    if failed:
        key = f"errors/processing-failed/dt={at:%Y-%m-%d}/" + object_name(stage, at).replace(".parquet", "")
        s3.put_object(Bucket=bucket, Key=key, Body="\n".join(failed).encode())
        keys.append(key)
    return keys


class WarehouseWriter:
    """Drains the warehouse queue into the bucket (the local delivery stream)."""

    def __init__(
        self, resources: WarehouseResources, *, sqs: Any, s3: Any, stage: str, personal_data: bool = False
    ) -> None:
        self.resources = resources
        self._sqs, self._s3, self._stage, self._personal_data = sqs, s3, stage, personal_data
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warehouse-writer", daemon=True)

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.flush():
                    self._stop.wait(WAREHOUSE.local_flush_interval_s)
            except Exception:
                log.exception("warehouse delivery failed")
                self._stop.wait(1.0)

    def flush(self, limit: int = 500) -> bool:
        """Deliver what the queue holds (up to ``limit`` events) as one buffer; False when it was empty."""
        messages: list[dict[str, Any]] = []
        while len(messages) < limit:
            batch = self._sqs.receive_message(
                QueueUrl=self.resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            self._busy.set()
            messages.extend(batch)
        if not messages:
            return False
        try:
            deliver(
                self._s3,
                self.resources.bucket,
                self._stage,
                [m["Body"] for m in messages],
                personal_data=self._personal_data,
            )
            for start in range(0, len(messages), 10):
                self._sqs.delete_message_batch(
                    QueueUrl=self.resources.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages[start : start + 10])
                    ],
                )
        finally:
            self._busy.clear()
        return True
