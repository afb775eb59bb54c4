"""Test webhook handler: reports what it received and where it ran."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if "x-sleep" in headers:
        time.sleep(float(headers["x-sleep"]))
    if headers.get("x-fail") == "raise":
        raise RuntimeError("boom")
    if headers.get("x-fail") == "exit":
        os._exit(3)
    if headers.get("x-fail") == "malformed":
        return {"hello": "no statusCode"}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    print(json.dumps({"level": "INFO", "message": "echo", "bytes": len(raw)}))
    payload = {
        "pid": os.getpid(),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "length": len(raw),
        "env": dict(os.environ),
        "event": {k: v for k, v in event.items() if k != "body"},
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {
        "statusCode": int(headers.get("x-status", "200")),
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(payload),
    }
