"""SQS → Lambda event source mappings (with ``ReportBatchItemFailures`` and ``MaximumConcurrency``), one poller
thread per consumer.

Behaves like Lambda's poller: receive up to ``batch_size`` messages (waiting up to the batching window
to fill the batch), invoke the consumer with the real SQS event, delete what succeeded. When the
invocation fails as a whole, nothing is deleted. Up to the consumer's ``max_concurrency`` (its budget in
``infra/topology.py``, the stack's ``MaximumConcurrency``) batches are invoked at once, each in its own
thread; the poller receives the next batch only when a slot is free, so no message waits received but
uninvoked.

The one deliberate local difference: a failed message would stay invisible for the queue's visibility
timeout (6 x the function timeout, minutes); locally the poller sets its visibility to
``retry_backoff_s`` (1 s) so retries happen while you watch. Moving a message to the DLQ after
``maxReceiveCount`` receives is the queue's own RedrivePolicy (moto's SQS implements it on receive).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

from infra.topology import ConsumerSpec
from localcloud.provision import ConsumerResources
from localcloud.workers import InvokeResult, WorkerPool

log = logging.getLogger("localcloud.pollers")


def _message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (attrs or {}).items():
        entry: dict[str, Any] = {
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode("ascii") if isinstance(raw, bytes) else raw
        out[name] = entry
    return out


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def failed_ids(result: InvokeResult, batch_ids: list[str]) -> set[str]:
    """Ids to retry. A failed invocation or a malformed response fails the whole batch, as on Lambda."""
    if not result.ok:
        return set(batch_ids)
    response = result.result
    if not isinstance(response, dict):
        return set()
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    ids: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            return set(batch_ids)
        ids.add(ident)
    return ids


class SqsPoller:
    def __init__(
        self,
        spec: ConsumerSpec,
        resources: ConsumerResources,
        pool: WorkerPool,
        sqs: Any,
        region: str,
        *,
        retry_backoff_s: int = 1,
        batching_window_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.res = resources
        self.pool = pool
        self.sqs = sqs
        self.region = region
        self.retry_backoff_s = retry_backoff_s
        self.batching_window_s = (
            spec.max_batching_window_s if batching_window_s is None else batching_window_s
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{spec.id}", daemon=True)
        #: The event source mapping's MaximumConcurrency: invocations from this queue at once.
        self.max_concurrency = max(1, spec.max_concurrency)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._count_lock = threading.Lock()
        self._running: set[threading.Thread] = set()
        self._receiving = False
        #: The most invocations from this queue that ran at once.
        self.peak_concurrency = 0
        self.batches = 0

    @property
    def busy(self) -> bool:
        """A batch is being filled (within its batching window) or invoked."""
        with self._count_lock:
            return self._receiving or bool(self._running)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        with self._count_lock:
            running = list(self._running)
        for thread in running:
            thread.join(timeout)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.res.queue.url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _run(self) -> None:
        while not self._stop.is_set():
            # a free invocation slot first: nothing is received that would wait for one
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                started = self.poll_once(wait=False)
            except Exception:
                self._slots.release()
                if self._stop.is_set():
                    return
                log.exception("poller %s failed; retrying", self.spec.id)
                self._stop.wait(1.0)
                continue
            if not started:
                self._slots.release()

    def poll_once(self, *, wait: bool = True) -> bool:
        """Receive a batch and invoke the consumer with it (in this thread when ``wait``, else in a thread of
        its own that frees its slot when done); False when the queue had nothing."""
        batch = self._receive(self.spec.batch_size, 1)
        if not batch:
            return False
        with self._count_lock:
            self._receiving = True
        try:
            window_end = time.monotonic() + self.batching_window_s
            while len(batch) < self.spec.batch_size and time.monotonic() < window_end:
                more = self._receive(self.spec.batch_size - len(batch), 0)
                if more:
                    batch.extend(more)
                else:
                    time.sleep(0.05)
            if wait:
                self._invoke(batch, release=False)
                return True
            thread = threading.Thread(
                target=self._invoke, args=(batch,), name=f"invoke-{self.spec.id}", daemon=True
            )
            with self._count_lock:
                self._running.add(thread)
                self.peak_concurrency = max(self.peak_concurrency, len(self._running))
            thread.start()
            return True
        finally:
            with self._count_lock:
                self._receiving = False

    def _invoke(self, batch: list[dict[str, Any]], *, release: bool = True) -> None:
        try:
            self._process(batch)
        except Exception:
            log.exception("poller %s: a batch failed to complete", self.spec.id)
        finally:
            with self._count_lock:
                self._running.discard(threading.current_thread())
            if release:
                self._slots.release()

    def _process(self, batch: list[dict[str, Any]]) -> None:
        with self._count_lock:
            self.batches += 1
        ids = [m["MessageId"] for m in batch]
        result = self.pool.invoke(sqs_event(batch, self.res.queue.arn, self.region))
        if not result.ok:
            log.warning("consumer %s invocation failed: %s", self.spec.id, result.error)
        retry = failed_ids(result, ids)
        done = [m for m in batch if m["MessageId"] not in retry]
        again = [m for m in batch if m["MessageId"] in retry]
        for i in range(0, len(done), 10):
            chunk = done[i : i + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.res.queue.url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
            )
        for i in range(0, len(again), 10):
            chunk = again[i : i + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.res.queue.url,
                Entries=[
                    {
                        "Id": str(n),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_backoff_s,
                    }
                    for n, m in enumerate(chunk)
                ],
            )
