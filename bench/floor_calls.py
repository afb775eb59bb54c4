"""The AWS requests any correct webhook handler makes for an accepted delivery, with bare boto3 clients: a
conditional lock on the event id (PutItem, ``attribute_not_exists``), the publish (PutEvents), the lock marked
completed (UpdateItem). The warm floor (``bench.webhooks.ServiceFloor``) and the cold-start floor
(``bench.child.floor``) both make them; stdlib only at import, so the cold-start child stays comparable."""

from __future__ import annotations

import time
from typing import Any


def lock_publish_complete(
    dynamodb: Any, events: Any, *, table: str, bus: str, key: str, source: str, detail: str
) -> None:
    item_key = {"id": {"S": key}}
    dynamodb.put_item(
        TableName=table,
        Item={**item_key, "status": {"S": "IN_PROGRESS"}, "expiration": {"N": str(int(time.time()) + 3600)}},
        ConditionExpression="attribute_not_exists(id)",
    )
    events.put_events(
        Entries=[{"Source": source, "DetailType": "WebhookReceived", "Detail": detail, "EventBusName": bus}]
    )
    dynamodb.update_item(
        TableName=table,
        Key=item_key,
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
    )
