"""A webhook's AWS side in moto for unit tests: the idempotency table (``idem``), the bus (``o2c-unit``) and
a queue catching what one event source publishes on it."""

from __future__ import annotations

import json
from typing import Any

import boto3

from infra.topology import IDEMPOTENCY_TABLE
from localcloud.provision import create_table


class Cloud:
    def __init__(self, source: str) -> None:
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        self.events = boto3.client("events", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        create_table(self.ddb, "idem", IDEMPOTENCY_TABLE)
        self.events.create_event_bus(Name="o2c-unit")
        self.queue_url = self.sqs.create_queue(QueueName="sink")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(
            Name="all", EventBusName="o2c-unit", EventPattern=json.dumps({"source": [source]})
        )
        self.events.put_targets(Rule="all", EventBusName="o2c-unit", Targets=[{"Id": "q", "Arn": arn}])

    def published(self) -> list[dict[str, Any]]:
        """What reached the bus since the last call (the canonical events, as EventBridge delivers them)."""
        out = []
        while msgs := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def idempotency_records(self) -> list[dict[str, Any]]:
        return list(self.ddb.scan(TableName="idem")["Items"])
