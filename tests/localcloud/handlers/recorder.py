"""Test SQS consumer: appends one line per record to $RECORD_FILE; fails records whose body says poison."""

from __future__ import annotations

import json
import os
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as out:
        for record in event["Records"]:
            out.write(
                json.dumps(
                    {
                        "messageId": record["messageId"],
                        "body": record["body"],
                        "receiveCount": record["attributes"].get("ApproximateReceiveCount"),
                        "eventSource": record["eventSource"],
                        "eventSourceARN": record["eventSourceARN"],
                        "batch": len(event["Records"]),
                        "pid": os.getpid(),
                    }
                )
                + "\n"
            )
            if "poison" in record["body"]:
                failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
