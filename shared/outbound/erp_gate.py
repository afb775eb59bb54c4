"""The ERP's account-wide concurrency limit, respected across every function and execution: a counting
semaphore in DynamoDB.

NetSuite answers ``429 CONCURRENCY_LIMIT_EXCEEDED`` when more than a handful of requests of one account
are in flight at once — whichever Lambda sends them. Every request to the ERP therefore takes a slot:

```python
gate = ErpGate(aws.client("dynamodb"), os.environ["ERP_GATE_TABLE_NAME"], account_id="1234567", limit=5)
with gate.slot():
    ...  # one HTTP request
```

Table (``ErpGateTable``): partition key ``pk`` (S), TTL attribute ``expiration``, on-demand. One item per
ERP account::

    {"pk": "erp-gate#1234567", "leases": {"<lease id>": <expiry, epoch ms>, ...},
     "version": 17, "expiration": <epoch s: last lease expiry + 1 day>}

Acquire = a consistent read, then ``UpdateItem`` conditioned on ``version`` (or on the item not existing)
that writes the unexpired leases plus the new one — expired leases (a crashed holder's) are pruned in the
same write — only when fewer than ``limit`` unexpired leases remain. A lost race (the version moved) is
retried at once with a little jitter; a full semaphore is polled with jittered backoff until ``wait_s``
has passed — or, within an invocation's deadline (``deadline``), until only ``deadline.MIN_ATTEMPT_S`` is left
for the request the slot is for — then ``TransientError`` is raised (the caller's retry/backoff — the queue
or the state machine — takes over). Release removes the lease and bumps the version (so a writer that read the lease
cannot write it back). ``lease_s`` must exceed the longest request a slot covers (the HTTP timeout): a
holder that dies without releasing frees its slot after ``lease_s``. A request whose answer never came (read
timeout, dropped connection) keeps its slot until the lease expires (``keep_until_expiry``): the ERP still
counts it in flight, and handing its slot on would earn the next request a 429.

Cost: two DynamoDB writes and one strongly consistent read per ERP request, more under contention.

A slot may also cover several requests one after another (``NetSuiteHttp.session()``: a state-machine task or
a consumer record that sends its few requests in sequence): one acquire and one release for all of them, the
ERP still sees at most one request of the holder at a time. Before a request whose longest duration would
outlast the lease, the holder extends it (``renew``: one conditional write, refused once the lease has expired
or was pruned — the holder then takes a new slot).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from shared import deadline
from shared.errors import TransientError

log = logging.getLogger("o2c.connectors.erp_gate")

GATE_FULL = "ERP_GATE_FULL"
ITEM_TTL_S = 86_400  # an idle account's item disappears a day after its last lease expired
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
_UNREACHABLE = frozenset({"ConnectTimeoutError", "ReadTimeoutError", "EndpointConnectionError"})


class ErpGate:
    """``dynamodb_client`` is a boto3 DynamoDB client (low level). ``sleep`` and ``clock`` (epoch seconds,
    shared by every holder: leases expire in wall-clock time) are injectable for tests."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        account_id: str,
        limit: int,
        lease_s: float = 30,
        wait_s: float = 10,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        poll_s: float = 0.05,
        max_poll_s: float = 0.5,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self._ddb = dynamodb_client
        self.table_name = table_name
        self.account_id = account_id
        self.key = f"erp-gate#{account_id}"
        self.limit = limit
        self.lease_s = lease_s
        self.wait_s = wait_s
        self._sleep = sleep
        self._clock = clock
        self._poll_s = poll_s
        self._max_poll_s = max_poll_s

    @contextlib.contextmanager
    def slot(self) -> Iterator[str]:
        """Hold one of the account's ``limit`` slots for the ``with`` block; yields the lease id."""
        lease_id = self.acquire()
        try:
            yield lease_id
        finally:
            self.release(lease_id)

    def acquire(self) -> str:
        """Take a slot, waiting up to ``wait_s`` (less when the invocation's deadline is nearer: the request the
        slot is for must still fit); ``TransientError`` if none frees up in time."""
        lease_id = uuid.uuid4().hex
        wait_s = self.wait_s
        left = deadline.remaining_s()
        if left is not None:
            wait_s = max(0.0, min(wait_s, left - deadline.MIN_ATTEMPT_S))
        until = time.monotonic() + wait_s
        polls = 0
        while True:
            leases, version = self._read()
            now_ms = int(self._clock() * 1000)
            live = {k: v for k, v in leases.items() if v > now_ms}
            if len(live) < self.limit:
                expiry = now_ms + int(self.lease_s * 1000)
                if self._write(lease_id, expiry, live, version):
                    return lease_id
                # lost a race with another holder: read again soon
                self._sleep(random.uniform(0, 0.01))
                continue
            remaining = until - time.monotonic()
            if remaining <= 0:
                # no retry_after: holders usually release long before their leases expire
                raise TransientError(
                    f"ERP gate {self.account_id}: no free slot of {self.limit} within {wait_s:.1f}s",
                    code=GATE_FULL,
                )
            ceiling = min(self._max_poll_s, self._poll_s * 2**polls)
            polls += 1
            soonest = (min(live.values()) - now_ms) / 1000
            self._sleep(min(random.uniform(ceiling / 2, ceiling), max(soonest, 0.001), remaining))

    def release(self, lease_id: str) -> None:
        """Give the slot back. Never raises: a lease that cannot be removed expires after ``lease_s``."""
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="REMOVE leases.#lease SET version = version + :one",
                ConditionExpression="attribute_exists(leases.#lease)",
                ExpressionAttributeNames={"#lease": lease_id},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except Exception as exc:  # noqa: BLE001 - the lease expires on its own; never mask the caller's error
            if _error_code(exc) != "ConditionalCheckFailedException":  # already pruned as expired
                log.warning("ERP gate %s: lease not released (%s); it expires", self.account_id, exc)

    def now(self) -> float:
        """The gate's clock (epoch seconds): what leases expire by."""
        return self._clock()

    def renew(self, lease_id: str) -> float | None:
        """Extend a held, unexpired lease to ``lease_s`` from now; its new expiry (epoch seconds), or None when
        the lease has expired or was pruned (its slot may be someone else's now: take a new one). One write,
        conditioned on the lease still being live, bumping ``version`` (a writer that read the old expiry cannot
        write it back)."""
        now_ms = int(self._clock() * 1000)
        expiry_ms = now_ms + int(self.lease_s * 1000)
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                # the item's expiration (a day past the last lease's) stays ahead of a lease_s extension
                UpdateExpression="SET leases.#lease = :expiry, version = version + :one",
                ConditionExpression="leases.#lease > :now",
                ExpressionAttributeNames={"#lease": lease_id},
                ExpressionAttributeValues={
                    ":expiry": {"N": str(expiry_ms)},
                    ":now": {"N": str(now_ms)},
                    ":one": {"N": "1"},
                },
            )
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return None
            _raise_transient(exc, self.account_id)
            raise
        return expiry_ms / 1000

    def keep_until_expiry(self, lease_id: str) -> None:
        """Do not give the slot back: the request it covered may still be running at the ERP (its client gave
        up waiting, the ERP did not), so the slot stays taken until its lease expires (``lease_s`` after it was
        taken, longer than any request the slot covers)."""
        log.info("ERP gate %s: slot kept until its lease expires (request outcome unknown)", self.account_id)

    def holders(self) -> int:
        """The number of unexpired leases now (for metrics and tests)."""
        leases, _ = self._read()
        now_ms = int(self._clock() * 1000)
        return sum(1 for v in leases.values() if v > now_ms)

    # --- DynamoDB -----------------------------------------------------------------------------------

    def _read(self) -> tuple[dict[str, int], int | None]:
        try:
            item = self._ddb.get_item(
                TableName=self.table_name, Key={"pk": {"S": self.key}}, ConsistentRead=True
            ).get("Item")
        except Exception as exc:
            _raise_transient(exc, self.account_id)
            raise
        if not item:
            return {}, None
        leases = {k: int(Decimal(v["N"])) for k, v in item.get("leases", {}).get("M", {}).items()}
        return leases, int(item["version"]["N"]) if "version" in item else 0

    def _write(self, lease_id: str, expiry_ms: int, live: dict[str, int], version: int | None) -> bool:
        leases = {**live, lease_id: expiry_ms}
        values: dict[str, Any] = {
            ":leases": {"M": {k: {"N": str(v)} for k, v in leases.items()}},
            ":next": {"N": str((version or 0) + 1)},
            ":ttl": {"N": str(max(leases.values()) // 1000 + ITEM_TTL_S)},
        }
        if version is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :version"
            values[":version"] = {"N": str(version)}
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": self.key}},
                UpdateExpression="SET leases = :leases, version = :next, expiration = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            _raise_transient(exc, self.account_id)
            raise
        return True


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _raise_transient(exc: Exception, account_id: str) -> None:
    """DynamoDB throttling/unavailability → ``TransientError``; anything else (a missing table, no
    permission) is a deployment fault: the caller re-raises it as is."""
    code = _error_code(exc)
    if code in _THROTTLED or type(exc).__name__ in _UNREACHABLE:
        raise TransientError(
            f"ERP gate {account_id}: DynamoDB {code or type(exc).__name__}", code=code
        ) from exc
