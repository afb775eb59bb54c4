"""Where AWS calls leave the process: botocore's ``Endpoint._send``, the one place every client of every
session (the hub's shared clients and the ones Powertools or a by-the-docs handler create for
themselves) sends its HTTP requests. Patched here to count them, or to answer them without I/O.

Everything before the socket still runs (parameter validation, serialisation, SigV4 signing, retries,
response parsing), so a stubbed call costs what it costs inside a Lambda, minus the network.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from botocore.endpoint import Endpoint

_ORIGINAL_SEND = Endpoint._send  # type: ignore[attr-defined]


def operation(request: AWSPreparedRequest) -> str:
    """``Service.Operation`` for JSON-protocol services (X-Amz-Target), else ``host METHOD``."""
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.decode() if isinstance(target, bytes) else str(target)
    return f"{urlsplit(request.url).hostname} {request.method}"


def count_calls() -> Counter[str]:
    """Count every HTTP request sent to AWS (retries included), by operation; requests still go out."""
    counts: Counter[str] = Counter()

    def counting_send(self: Endpoint, request: AWSPreparedRequest) -> Any:
        counts[operation(request)] += 1
        return _ORIGINAL_SEND(self, request)

    Endpoint._send = counting_send  # type: ignore[attr-defined]
    return counts


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def stub_calls(secret_value: dict[str, Any]) -> Counter[str]:
    """Answer every AWS call the webhook path makes with a canned success, without any I/O.

    ``secret_value`` is what Secrets Manager returns for any secret. An operation not listed here fails
    loudly: a benchmark must not silently measure an error path.
    """
    responses: dict[str, bytes] = {
        "DynamoDB_20120810.PutItem": b"{}",
        "DynamoDB_20120810.UpdateItem": b"{}",
        "DynamoDB_20120810.DeleteItem": b"{}",
        "DynamoDB_20120810.GetItem": b"{}",
        "DynamoDB_20120810.BatchWriteItem": b'{"UnprocessedItems":{}}',
        "AWSEvents.PutEvents": b'{"FailedEntryCount":0,"Entries":[{"EventId":"bench"}]}',
        "secretsmanager.GetSecretValue": json.dumps(
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
                "Name": "bench",
                "VersionId": "bench",
                "SecretString": json.dumps(secret_value),
                "VersionStages": ["AWSCURRENT"],
            }
        ).encode(),
    }
    headers = HTTPHeaders.from_dict(
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "bench"}
    )
    counts: Counter[str] = Counter()

    def stubbed_send(self: Endpoint, request: AWSPreparedRequest) -> AWSResponse:
        op = operation(request)
        counts[op] += 1
        if op not in responses:
            raise AssertionError(f"the benchmark stub does not answer {op}")
        return AWSResponse(request.url, 200, headers, _Body(responses[op]))

    Endpoint._send = stubbed_send  # type: ignore[attr-defined]
    return counts


def time_sdk() -> list[int]:
    """Accumulate the nanoseconds spent inside boto3 client calls (``BaseClient._make_api_call``) into
    the returned one-element list, so a caller can split a handler's time into SDK and the rest."""
    spent = [0]
    original = BaseClient._make_api_call  # type: ignore[attr-defined]
    clock = time.perf_counter_ns

    def timed(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        started = clock()
        try:
            return original(self, operation_name, api_params)
        finally:
            spent[0] += clock() - started

    BaseClient._make_api_call = timed  # type: ignore[attr-defined]
    return spent
