"""Throughput and loss through the whole hub on the local cloud.

``n`` signed Stripe deliveries go over HTTP, ``concurrency`` at a time, to a ``LocalCloud`` running the
webhook function(s) and the LineageRecorder: ``n - n // 10`` unique events plus ``n // 10`` redeliveries
of some of them (some while the first is still in flight), sent out of order (each event's ``created``
increases with its index; the send order is shuffled in windows of 20). The sender behaves like Stripe:
a 409 or a 5xx is retried after a short backoff until the hub answers 200.

Figures: unique events accepted per second end to end (from the first send until the local cloud is idle,
i.e. every event recorded by the LineageRecorder), and the two that must be zero: events lost (accepted
by nobody, or missing from the lineage table) and events double-booked (accepted twice at the webhook, or
recorded twice by the consumer, counted from its ``event recorded`` log lines — the lineage table itself
cannot show it, since recording is idempotent).
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.cloud import signing_secrets
from bench.results import Results, percentile, rounded
from bench.webhooks import CASES, WebhookCase
from infra import topology
from localcloud import LocalCloud
from shared.lineage import FLOW_PREFIX

RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 30


@dataclass
class Delivery:
    event_id: str
    body: bytes
    redelivery: bool = False
    attempts: int = 0
    replies: list[tuple[int, str | None]] = field(default_factory=list)
    latency_ms: float = 0.0

    @property
    def final(self) -> tuple[int, str | None]:
        return self.replies[-1] if self.replies else (0, None)


def plan(case: WebhookCase, n: int, tag: str, seed: int) -> tuple[list[Delivery], list[str]]:
    """The deliveries in send order, and the unique event ids."""
    rng = random.Random(seed)
    redeliveries = n // 10
    unique = n - redeliveries
    bodies = []
    for i, raw in enumerate(case.accepted_bodies(unique, tag)):
        event = json.loads(raw)
        event["created"] = 1_764_000_000 + i
        bodies.append((event["id"], json.dumps(event).encode()))
    order = [Delivery(event_id, body) for event_id, body in bodies]
    for start in range(0, len(order), 20):  # out of order within windows of 20
        window = order[start : start + 20]
        rng.shuffle(window)
        order[start : start + 20] = window
    for original in rng.sample(order[:], redeliveries):
        position = order.index(original) + rng.randint(1, 40)  # soon after: sometimes while in flight
        order.insert(min(position, len(order)), Delivery(original.event_id, original.body, redelivery=True))
    return order, [event_id for event_id, _ in bodies]


class Sender:
    """One keep-alive HTTP connection per thread, Stripe-like retries."""

    def __init__(self, case: WebhookCase, api_url: str, path: str, secrets: list[str]) -> None:
        self.case = case
        split = urlsplit(api_url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        self.path = path
        self.secrets = secrets
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.local.conn = conn
        return conn

    def _post(self, body: bytes) -> tuple[int, str | None, float]:
        headers = self.case.signed_headers(body, self.secrets, int(time.time()))
        for _ in range(2):  # one reconnect if the server closed a kept-alive connection
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read().decode()
                retry_after = float(response.getheader("Retry-After") or 0)
                try:
                    status = json.loads(text).get("status") if text.startswith("{") else None
                except ValueError:
                    status = None
                return response.status, status if isinstance(status, str) else None, retry_after
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
        return 0, None, 0.0

    def deliver(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        while delivery.attempts < MAX_ATTEMPTS:
            delivery.attempts += 1
            status, reply, retry_after = self._post(delivery.body)
            delivery.replies.append((status, reply))
            if status == 200:
                break
            if status and status not in RETRY_STATUSES:
                break
            time.sleep(min(0.2, retry_after or 0.05) * random.uniform(0.5, 1.5))
        delivery.latency_ms = (time.perf_counter() - started) * 1000


def _recorded_source_ids(cloud: LocalCloud, prefix: str) -> set[str]:
    table = cloud.resources["tables"]["LineageTable"]
    ddb = cloud.client("dynamodb")
    found: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "pk"}
    while True:
        page = ddb.scan(**kwargs)
        # an id's index item (pk = the id), or the events of the flow it correlates (pk = flow#<id>)
        keys = (item["pk"]["S"].removeprefix(FLOW_PREFIX) for item in page.get("Items", []))
        found.update(key for key in keys if key.startswith(prefix))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _recordings(log_path: Path) -> Counter[str]:
    """How many times the LineageRecorder recorded each canonical event (its ``event recorded`` lines)."""
    counts: Counter[str] = Counter()
    for line in _lines(log_path):
        if line.get("message") == "event recorded" and line.get("event_id"):
            counts[str(line["event_id"])] += 1
    return counts


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for raw in text.splitlines():
        if raw.startswith("{"):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                yield line


def run(results: Results, *, n: int, concurrency: int, work_dir: Path, seed: int = 6) -> None:
    state_dir = work_dir / "throughput"
    shutil.rmtree(state_dir, ignore_errors=True)
    tag = uuid.uuid4().hex[:8]
    case = CASES["stripe"]
    deliveries, unique_ids = plan(case, n, tag, seed)
    consumers = tuple(c for c in topology.CONSUMERS if c.function.id == topology.LINEAGE_RECORDER.id)
    fn = case.function
    assert fn.route is not None
    with LocalCloud(
        api_port=0, aws_port=0, state_dir=state_dir, functions=(fn,), consumers=consumers
    ) as cloud:
        sender = Sender(case, cloud.api_url, fn.route.path, signing_secrets(cloud, case))
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(sender.deliver, deliveries))
        sent = time.perf_counter()
        cloud.wait_until_idle(timeout=600)
        idle = time.perf_counter()
        recorded = _recorded_source_ids(cloud, f"evt_bench{tag}")
        recordings = _recordings(cloud.logs_dir / f"{topology.LINEAGE_RECORDER.id}.log")

    accepted_by_event: Counter[str] = Counter()
    finals: Counter[str] = Counter()
    for d in deliveries:
        finals[f"{d.final[0]} {d.final[1]}"] += 1
        accepted_by_event[d.event_id] += sum(
            1 for status, reply in d.replies if (status, reply) == (200, "accepted")
        )
    unique = set(unique_ids)
    never_accepted = {e for e in unique if accepted_by_event[e] == 0}
    not_recorded = unique - recorded
    lost = never_accepted | not_recorded
    accepted_twice = {e for e in unique if accepted_by_event[e] > 1}
    recorded_twice = {e for e, c in recordings.items() if c > 1}
    elapsed = idle - started
    accepted = len(unique) - len(never_accepted)
    latencies = [d.latency_ms for d in deliveries]
    common = {"deliveries": len(deliveries), "unique_events": len(unique), "concurrency": concurrency}
    results.emit(
        "throughput.accepted_per_s",
        rounded(accepted / elapsed, 1),
        "events/s",
        **common,
        end_to_end_s=rounded(elapsed, 2),
        http_phase_s=rounded(sent - started, 2),
        deliveries_per_s=rounded(len(deliveries) / (sent - started), 1),
        latency_p50_ms=rounded(percentile(latencies, 50), 1),
        latency_p99_ms=rounded(percentile(latencies, 99), 1),
        retries=sum(d.attempts - 1 for d in deliveries),
        final_replies=dict(finals),
        replies_409=sum(1 for d in deliveries for status, _ in d.replies if status == 409),
    )
    results.budget(
        "throughput.lost",
        len(lost),
        "events",
        budget="== 0",
        ok=not lost,
        never_accepted=len(never_accepted),
        not_in_lineage=len(not_recorded),
        **common,
    )
    results.budget(
        "throughput.double_booked",
        len(accepted_twice) + len(recorded_twice),
        "events",
        budget="== 0",
        ok=not accepted_twice and not recorded_twice,
        accepted_twice=len(accepted_twice),
        recorded_twice=len(recorded_twice),
        recordings=sum(recordings.values()),
        **common,
    )
