"""Issue 16 item 5: the ERP-bound capacity of the hub. A burst of N deals won in HubSpot runs through a
``LocalCloud`` whose NetSuite sandbox answers every request in a lognormal time (median ``--median-ms``,
``--sigma``) and admits at most ``--limit`` requests at once (a Standard account: 5; SuiteCloud Plus: 15);
every customer saves a card as soon as asked. Reported per limit:

- ``capacity.limit<L>.deals_per_hour``: N / (last execution paid - first win), against the floor
  ``limit x 3600 / (median latency x NetSuite calls per deal)``; budget ``>= 0.85 x`` the floor, no DLQ
  message;
- ``.won_to_paid.p50`` / ``.p95``: seconds from the win (the HubSpot webhook answered) to the execution's end
  at ``Paid``;
- ``.erp_utilisation``: slot-seconds NetSuite's admitted requests held (counted by the sandbox, latency
  included) / (limit x elapsed);
- ``.erp_429``: NetSuite's ``CONCURRENCY_LIMIT_EXCEEDED`` answers; ``.netsuite_calls_per_deal``;
- ``.lost`` / ``.doubled``: deals not paid exactly once — not ``Paid``, or not exactly one invoice and one
  customer payment in NetSuite and one captured PaymentIntent in Stripe (budget 0 each);
- ``.lambda_in_flight``: mean and peak invocations in flight per function (sampled every 0.25 s), from which
  ``bench/README.md`` sizes a deployment.

Alone: ``python -m bench.capacity --deals 200 --limit 5 --median-ms 800`` (``--limit 5,15`` for both). In
``make bench`` (``bench.run``, section ``capacity``) with ``DEFAULT_DEALS`` deals per limit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import Results, percentile, rounded
from shared.order_to_cash import erp_ids

#: Deals per limit inside ``make bench`` (the documented full run is 200).
DEFAULT_DEALS = 40
QUICK_DEALS = 4
#: NetSuite's median latency in a ``--quick`` run.
QUICK_MEDIAN_MS = 200.0
LIMITS = (5, 15)
MEDIAN_MS = 800.0
#: Spread of the lognormal latency (sigma of its log): mean = median x e^(sigma^2 / 2) = 1.046 x the median.
SIGMA = 0.3
#: Share of the floor the burst must reach.
BUDGET = 0.85
#: The fewest NetSuite requests a happy-path deal can take (bench/README.md, "Vendor calls: the floor").
NETSUITE_FLOOR_CALLS = 12
#: HubSpot delivers a deal's webhooks a few at a time.
WIN_SENDERS = 5


# --- the arithmetic (unit-tested in tests/bench/test_capacity_arithmetic.py) ---------------------------


def floor_deals_per_hour(limit: int, median_s: float, calls_per_deal: float) -> float:
    """The most deals an hour an ERP admitting ``limit`` requests at once, each taking ``median_s``, can
    serve when every deal needs ``calls_per_deal`` requests."""
    if limit <= 0 or median_s <= 0 or calls_per_deal <= 0:
        raise ValueError("limit, latency and calls per deal must be positive")
    return limit * 3600 / (median_s * calls_per_deal)


def utilisation(busy_slot_s: float, limit: int, elapsed_s: float) -> float:
    """Share of the ERP's capacity used: slot-seconds held / (slots x seconds)."""
    if limit <= 0 or elapsed_s <= 0:
        raise ValueError("limit and elapsed time must be positive")
    return busy_slot_s / (limit * elapsed_s)


def deals_per_hour(deals: int, elapsed_s: float) -> float:
    return deals * 3600 / elapsed_s if elapsed_s > 0 else 0.0


@dataclass
class Exactness:
    """Per deal: the execution's end state and what the vendors hold for it."""

    ended: dict[str, str] = field(default_factory=dict)  # deal → the execution's last state ("Paid")
    invoices: Counter[str] = field(default_factory=Counter)
    payments: Counter[str] = field(default_factory=Counter)
    captured: Counter[str] = field(default_factory=Counter)

    def lost(self, deals: Sequence[str]) -> list[str]:
        """Deals never paid: not ``Paid``, or without an invoice, a payment or a captured PaymentIntent."""
        return [
            d
            for d in deals
            if self.ended.get(d) != "Paid" or not (self.invoices[d] and self.payments[d] and self.captured[d])
        ]

    def doubled(self, deals: Sequence[str]) -> list[str]:
        """Deals paid more than once: more than one invoice, payment or captured PaymentIntent."""
        return [d for d in deals if max(self.invoices[d], self.payments[d], self.captured[d]) > 1]


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Burst:
    limit: int
    median_s: float
    sigma: float
    deals: list[str]
    won_at: dict[str, float]  # deal → epoch s the win webhook was answered
    paid_at: dict[str, float]  # deal → epoch s the execution ended
    netsuite: dict[str, Any]  # the sandbox's concurrency counters over the burst
    netsuite_requests: int
    exact: Exactness
    dlq: dict[str, int]
    timeouts: dict[str, int]
    in_flight: dict[str, dict[str, float]]
    cpu: dict[str, float]
    probe_ms: list[float]
    memory_mb: dict[str, int]
    invocations: dict[str, int]
    win_replies: Counter[int]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def started(self) -> float:
        return min(self.won_at.values())

    @property
    def ended(self) -> float:
        return max(self.paid_at.values()) if self.paid_at else time.time()

    @property
    def elapsed_s(self) -> float:
        return self.ended - self.started


_TICK_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (``/proc/stat``; zeros elsewhere)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return (0.0, 0.0)
    total = sum(fields[:8])
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return ((total - idle) / _TICK_S, total / _TICK_S)


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used (``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (float(fields[11]) + float(fields[12])) / _TICK_S


class _Sampler:
    """Every ``every_s`` during the burst: per function, invocations asked for (running or queued for a worker)
    and running (a worker busy); the CPU each worker process has used; how long moto takes to answer a
    DynamoDB ``GetItem`` (the local cloud's AWS, which every step and the ERP gate go through)."""

    def __init__(self, cloud: Any, every_s: float = 0.25) -> None:
        self._pools: dict[str, Any] = cloud.pools
        self._every_s = every_s
        self._asked: dict[str, list[int]] = defaultdict(list)
        self._running: dict[str, list[int]] = defaultdict(list)
        self._worker_cpu: dict[str, dict[int, float]] = defaultdict(dict)
        self.probe_ms: list[float] = []
        self._dynamodb = cloud.client("dynamodb")
        self._table = cloud.resources["tables"]["ErpGateTable"]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name="capacity-sampler", daemon=True),
            threading.Thread(target=self._probe, name="capacity-moto-probe", daemon=True),
        ]

    def __enter__(self) -> _Sampler:
        self.cpu_before = (time.process_time(), _machine_cpu())
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.cpu_after = (time.process_time(), _machine_cpu())

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            for fid, pool in self._pools.items():
                self._asked[fid].append(int(pool.in_flight))
                busy = list(getattr(pool, "_busy", ()))
                self._running[fid].append(len(busy))
                for worker in (*busy, *getattr(pool, "_idle", ())):
                    used = _process_cpu(worker.pid)
                    if used is not None:
                        self._worker_cpu[fid][worker.pid] = used

    def _probe(self) -> None:
        while not self._stop.wait(1.0):
            started = time.perf_counter()
            self._dynamodb.get_item(TableName=self._table, Key={"pk": {"S": "capacity-probe"}})
            self.probe_ms.append((time.perf_counter() - started) * 1000)

    def baseline(self) -> None:
        """Count worker CPU from now on (what booting and warming took is not the burst's)."""
        for fid, pool in self._pools.items():
            for worker in (*getattr(pool, "_busy", ()), *getattr(pool, "_idle", ())):
                used = _process_cpu(worker.pid)
                if used is not None:
                    self._worker_cpu[fid][-worker.pid] = -used  # subtracted from the same pid's last reading

    def summary(self) -> dict[str, dict[str, float]]:
        summary: dict[str, dict[str, float]] = {}
        for fid, asked in sorted(self._asked.items()):
            peak = max(asked, default=0)
            if peak:
                summary[fid] = {
                    "asked_mean": rounded(statistics.fmean(asked), 2),
                    "running_mean": rounded(statistics.fmean(self._running[fid]), 2),
                    "peak": peak,
                    "worker_cpu_s": rounded(sum(self._worker_cpu[fid].values()), 1),
                }
        return summary

    def cpu(self) -> dict[str, float]:
        """CPU seconds the local cloud used (the harness process: moto, the API, the state machine, the pollers,
        the sandboxes; and the function workers) and the machine's busy share over the burst."""
        (own_0, (busy_0, total_0)), (own_1, (busy_1, total_1)) = self.cpu_before, self.cpu_after
        workers = sum(sum(by_pid.values()) for by_pid in self._worker_cpu.values())
        return {
            "harness_cpu_s": rounded(own_1 - own_0, 1),
            "workers_cpu_s": rounded(workers, 1),
            "machine_busy": rounded((busy_1 - busy_0) / (total_1 - total_0), 3) if total_1 > total_0 else 0.0,
        }


def run_burst(
    *,
    deals: int,
    limit: int,
    median_s: float,
    sigma: float,
    state: Path | None = None,
    timeout_s: float = 1800,
) -> Burst:
    from localcloud import LocalCloud
    from localcloud.latency import Lognormal
    from o2c_cli.crm_scenarios import hubspot_deal
    from o2c_cli.crm_setup import setup_crm
    from o2c_cli.targets import local_target

    state = state or Path(tempfile.mkdtemp(prefix=f"o2c-bench-capacity-{limit}-"))
    with LocalCloud(
        api_port=0,
        aws_port=0,
        state_dir=state,
        sandbox_latency={"netsuite": Lognormal(median_s, sigma)},
        erp_concurrency_limit=limit,
        # more ERP task invocations at once than the account has slots: the gate, not the pool, is the limit
        function_max_workers={"ErpTasks": limit + 3},
        persist=False,
    ) as cloud:
        target = local_target(state)
        if not all(status.ok for status in setup_crm(target)):
            raise RuntimeError("the CRM sandbox could not be set up")
        cloud.wait_until_idle(timeout=60)
        netsuite, hubspot = cloud.sandboxes["netsuite"], cloud.sandboxes["hubspot"]
        ids = [hubspot_deal(hubspot, name=f"Capacity deal {n}") for n in range(deals)]
        before = netsuite.concurrency()
        requests_before = len(netsuite.requests)
        invocations_before = {k: p.invocations for k, p in cloud.pools.items()}
        load_before = os.getloadavg()
        won_at: dict[str, float] = {}
        replies: Counter[int] = Counter()

        def win(deal: str) -> None:
            for _ in range(10):  # HubSpot delivers again what was not answered 2xx in time
                try:
                    status, _body = hubspot.win(deal)
                except OSError:
                    status = 0
                replies[status] += 1
                if status == 200:
                    won_at[deal] = time.time()
                    return
                time.sleep(2)
            raise RuntimeError(f"deal {deal} was never accepted: replies {dict(replies)}")

        with _Sampler(cloud) as sampler:
            sampler.baseline()
            started = time.time()
            with ThreadPoolExecutor(max_workers=WIN_SENDERS) as pool:
                list(pool.map(win, ids))
            names = {f"hubspot-{d}": d for d in ids}
            _save_cards_as_asked(cloud, target, list(names), deadline=started + timeout_s)
            ended_at = _wait_until_ended(cloud, names, deadline=started + timeout_s)
        after = netsuite.concurrency()
        requests = len(netsuite.requests) - requests_before
        cloud.wait_until_idle(timeout=120)
        exact = _exactness(cloud, target, names)
        paid_at = {d: t for d, t in ended_at.items() if exact.ended.get(d) == "Paid"}
        dlq = {cid: _dlq_depth(cloud, q.dlq_url) for cid, q in target.consumers.items()}
        return Burst(
            limit=limit,
            median_s=median_s,
            sigma=sigma,
            deals=ids,
            won_at=won_at,
            paid_at=paid_at,
            netsuite={
                "busy_s": after["busy_s"] - before["busy_s"],
                "admitted": after["admitted"] - before["admitted"],
                "rejected": after["rejected"] - before["rejected"],
                "peak": after["peak"],
            },
            netsuite_requests=requests,
            exact=exact,
            dlq={k: v for k, v in dlq.items() if v},
            timeouts={fid: p.timeouts for fid, p in cloud.pools.items() if p.timeouts},
            in_flight=sampler.summary(),
            cpu=sampler.cpu(),
            probe_ms=sampler.probe_ms,
            memory_mb={k: p.fn.memory_mb for k, p in cloud.pools.items()},
            invocations={
                k: p.invocations - invocations_before.get(k, 0)
                for k, p in cloud.pools.items()
                if p.invocations - invocations_before.get(k, 0)
            },
            win_replies=replies,
            load_before=load_before,
            load_after=os.getloadavg(),
        )


def _save_cards_as_asked(cloud: Any, target: Any, names: list[str], *, deadline: float) -> None:
    """Every customer saves a card on the SetupIntent its execution waits on, as soon as it waits (one pass
    over the pending executions every 0.5 s)."""
    from o2c_cli.executions import correlator
    from shared.outbound.stripe_payments import StripePayments

    sandbox = cloud.sandboxes["stripe"]
    stripe = StripePayments(lambda: str(sandbox.api_key), base_url=sandbox.url)
    waits = correlator(target)
    sfn = cloud.client("stepfunctions")
    pending = set(names)
    while pending and time.time() < deadline:
        # an execution that ended without waiting (failed) is not waited for: the report counts it as lost
        pending -= {
            name for name, status in _statuses(sfn, cloud.state_machine_arn).items() if status != "RUNNING"
        }
        for name in sorted(pending):
            wait = waits.waiting_on(name)
            if wait is None or not wait.key.startswith("setup:"):
                continue
            setup_intent = wait.key.removeprefix("setup:")
            saved = stripe.confirm_setup_intent(
                setup_intent_id=setup_intent,
                payment_method_id="pm_card_visa",
                idempotency_key=f"confirm:{setup_intent}",
            )
            if not saved.succeeded:
                raise RuntimeError(f"{name}: the card was not saved ({saved.status})")
            pending.discard(name)
        time.sleep(0.5)
    if pending:
        raise TimeoutError(f"{len(pending)} executions never waited for a payment method")


def _statuses(sfn: Any, state_machine_arn: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        found.update({e["name"]: e["status"] for e in page["executions"]})
    return found


def _wait_until_ended(cloud: Any, names: dict[str, str], *, deadline: float) -> dict[str, float]:
    """deal → epoch s its execution ended (Step Functions' ``stopDate``), once none is running."""
    sfn = cloud.client("stepfunctions")
    while True:
        ended: dict[str, float] = {}
        running = 0
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=cloud.state_machine_arn):
            for e in page["executions"]:
                if e["name"] not in names:
                    continue
                if e["status"] == "RUNNING":
                    running += 1
                elif e.get("stopDate") is not None:
                    ended[names[e["name"]]] = e["stopDate"].timestamp()
        if not running and len(ended) == len(names):
            return ended
        if time.time() > deadline:
            return ended
        time.sleep(1)


def _exactness(cloud: Any, target: Any, names: dict[str, str]) -> Exactness:
    from o2c_cli.executions import state_of

    exact = Exactness()
    for name, deal in names.items():
        state = state_of(target, name)
        exact.ended[deal] = (
            (state.current_state or "") if state and state.status == "SUCCEEDED" else "not ended"
        )
    netsuite, stripe = cloud.sandboxes["netsuite"], cloud.sandboxes["stripe"]
    deals = set(names.values())
    invoice_of = {erp_ids.invoice("hubspot", d): d for d in deals}
    for invoice in netsuite.records("invoice"):
        invoiced = invoice_of.get(str(invoice.get("externalId", "")))
        if invoiced is not None:
            exact.invoices[invoiced] += 1
    intents: dict[str, str] = {}
    for intent in stripe.payment_intents():
        deal = intent.get("metadata", {}).get("o2c_opportunity_id")
        if deal in deals:
            intents[intent["id"]] = deal
            if intent.get("status") == "succeeded" and intent.get("amount_received"):
                exact.captured[deal] += 1
    paid_by = {erp_ids.payment(intent_id): deal for intent_id, deal in intents.items()}
    for payment in netsuite.records("customerPayment"):
        paid = paid_by.get(str(payment.get("externalId", "")))
        if paid is not None:
            exact.payments[paid] += 1
    return exact


def _dlq_depth(cloud: Any, url: str) -> int:
    attrs = cloud.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


# --- the report --------------------------------------------------------------------------------------------


def report(results: Results, burst: Burst) -> None:
    n = len(burst.deals)
    prefix = f"capacity.limit{burst.limit}"
    calls = burst.netsuite["admitted"] / n
    elapsed = burst.elapsed_s
    floor = floor_deals_per_hour(burst.limit, burst.median_s, calls)
    rate = deals_per_hour(len(burst.paid_at), elapsed)
    used = utilisation(burst.netsuite["busy_s"], burst.limit, elapsed)
    lost, doubled = burst.exact.lost(burst.deals), burst.exact.doubled(burst.deals)
    latencies = [burst.paid_at[d] - burst.won_at[d] for d in burst.deals if d in burst.paid_at]
    # the middle of the burst, without the pipeline filling and draining: completions 10 % .. 90 %
    run = {
        "deals": n,
        "erp_limit": burst.limit,
        "netsuite_latency": {"lognormal_median_ms": burst.median_s * 1000, "sigma": burst.sigma},
        "elapsed_s": rounded(elapsed, 1),
        "load_average": [rounded(x, 2) for x in (*burst.load_before, *burst.load_after[:1])],
    }
    results.budget(
        f"{prefix}.deals_per_hour",
        rounded(rate, 1),
        "deals per hour",
        budget=f">= {BUDGET} x the floor, no DLQ message",
        ok=rate >= BUDGET * floor and not burst.dlq,
        floor=rounded(floor, 1),
        ratio=rounded(rate / floor, 3),
        # the floor takes the median latency; a lognormal's mean is e^(sigma^2/2) x its median, so an ERP busy
        # 100 % of the time reaches this share of the floor at most
        ideal_ratio=rounded(burst.median_s / _mean(burst.median_s, burst.sigma), 3),
        dlq=burst.dlq,
        **run,
    )
    for pct in (50, 95):
        results.emit(
            f"{prefix}.won_to_paid.p{pct}",
            rounded(percentile(latencies, pct), 1) if latencies else None,
            "s",
            deals=n,
            floor=rounded(calls * burst.median_s, 1),
            note="floor: one deal's NetSuite calls one after the other at the median latency",
        )
    results.emit(
        f"{prefix}.erp_utilisation",
        rounded(used, 3),
        "ratio",
        busy_slot_s=rounded(burst.netsuite["busy_s"], 1),
        limit=burst.limit,
        elapsed_s=rounded(elapsed, 1),
        peak_in_flight=burst.netsuite["peak"],
    )
    results.budget(
        f"{prefix}.erp_429",
        burst.netsuite["rejected"],
        "responses",
        budget="== 0",
        ok=burst.netsuite["rejected"] == 0,
    )
    results.emit(
        f"{prefix}.netsuite_calls_per_deal",
        rounded(calls, 2),
        "requests",
        floor=NETSUITE_FLOOR_CALLS,
        ratio=rounded(calls / NETSUITE_FLOOR_CALLS, 3),
        served=burst.netsuite_requests,
    )
    results.budget(f"{prefix}.lost", len(lost), "deals", budget="== 0", ok=not lost, deals=lost[:10])
    results.budget(
        f"{prefix}.doubled", len(doubled), "deals", budget="== 0", ok=not doubled, deals=doubled[:10]
    )
    results.emit(
        f"{prefix}.lambda_in_flight",
        rounded(sum(v["running_mean"] for v in burst.in_flight.values()), 2),
        "invocations running (mean, all functions)",
        by_function=burst.in_flight,
        invocations_per_deal={k: rounded(v / n, 2) for k, v in sorted(burst.invocations.items())},
        memory_mb={k: burst.memory_mb[k] for k in burst.in_flight},
        timeouts=burst.timeouts,
        win_replies={str(k): v for k, v in burst.win_replies.items()},
    )
    # where the time goes when the ERP is not the bottleneck
    erp = burst.in_flight.get("ErpTasks", {})
    erp_running_s = erp.get("running_mean", 0.0) * elapsed
    cpu_s = burst.cpu["harness_cpu_s"] + burst.cpu["workers_cpu_s"]
    results.emit(
        f"{prefix}.local_cloud",
        rounded(cpu_s / n, 2),
        "CPU seconds per deal",
        cores=os.cpu_count(),
        local_cloud_ceiling_deals_per_hour=rounded((os.cpu_count() or 1) * 3600 * n / cpu_s, 1)
        if cpu_s
        else None,
        **burst.cpu,
        erp_tasks_running_slot_s=rounded(erp_running_s, 1),
        erp_tasks_share_inside_netsuite=rounded(burst.netsuite["busy_s"] / erp_running_s, 3)
        if erp_running_s
        else None,
        erp_tasks_waiting_for_a_worker_mean=rounded(
            erp.get("asked_mean", 0.0) - erp.get("running_mean", 0.0), 2
        ),
        moto_get_item_ms={
            "p50": rounded(percentile(burst.probe_ms, 50), 1) if burst.probe_ms else None,
            "p95": rounded(percentile(burst.probe_ms, 95), 1) if burst.probe_ms else None,
        },
        note="ceiling: the deals an hour this machine's cores could carry at this CPU cost per deal, alone",
    )


def _mean(median_s: float, sigma: float) -> float:
    import math

    return median_s * math.exp(sigma**2 / 2)


def run(
    results: Results,
    *,
    deals: int = DEFAULT_DEALS,
    limits: Sequence[int] = LIMITS,
    median_ms: float = MEDIAN_MS,
    sigma: float = SIGMA,
    on_burst: Callable[[Burst], None] | None = None,
) -> None:
    for limit in limits:
        burst = run_burst(deals=deals, limit=limit, median_s=median_ms / 1000, sigma=sigma)
        if on_burst is not None:
            on_burst(burst)
        report(results, burst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=200, help="deals in the burst (default 200)")
    parser.add_argument("--limit", default="5,15", help="NetSuite concurrency limit(s), comma-separated")
    parser.add_argument("--median-ms", type=float, default=MEDIAN_MS, help="NetSuite's median latency")
    parser.add_argument("--sigma", type=float, default=SIGMA, help="sigma of the latency's log")
    parser.add_argument("--results", type=Path, default=None, help="also write the lines to this file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = Results(args.results)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    run(
        results,
        deals=args.deals,
        limits=[int(x) for x in args.limit.split(",") if x],
        median_ms=args.median_ms,
        sigma=args.sigma,
    )
    results.emit("capacity.run", None, "", started_at=started, cpus=os.cpu_count())
    results.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
