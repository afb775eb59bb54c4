"""``python -m bench.run`` (``make bench``): every benchmark, one JSON object per line on stdout and in
``bench/results.jsonl``. What each line means, and the last results: ``bench/README.md``.

Sizes: ``--quick`` (or ``BENCH_QUICK=1``) for a smoke run; ``--runs`` / ``BENCH_RUNS`` cold starts per
function, ``--events`` / ``BENCH_EVENTS`` warm deliveries per handler, ``--n`` / ``BENCH_N`` deliveries
through the local cloud, ``--concurrency`` / ``BENCH_CONCURRENCY`` HTTP senders, ``--capacity-deals`` /
``BENCH_CAPACITY_DEALS`` deals per ERP limit in the capacity burst (``--quick`` leaves the capacity section out
unless ``--only`` names it: its bursts take minutes at any size).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import calls, capacity, coldstart, cost, deployed, suite, throughput, vendor_calls, warm
from bench.cloud import BenchCloud, cpu_count, deal_cloud, repo_root
from bench.results import Results, previous_lines, rounded
from bench.webhooks import CASES

SECTIONS = ("cold", "calls", "warm", "throughput", "cost", "vendor", "capacity", "suite")
DEFAULTS = {"runs": 5, "events": 2000, "n": 2000, "concurrency": 4, "capacity_deals": capacity.DEFAULT_DEALS}
QUICK = {"runs": 1, "events": 200, "n": 60, "concurrency": 4, "capacity_deals": capacity.QUICK_DEALS}
#: Warm deliveries are served by this many processes per handler, alternating with the peer's.
WARM_ROUNDS = {"default": 4, "quick": 1}


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    parser.add_argument("--runs", type=int, default=_env_int("BENCH_RUNS"), help="cold starts per function")
    parser.add_argument("--events", type=int, default=_env_int("BENCH_EVENTS"), help="warm deliveries")
    parser.add_argument(
        "--n", type=int, default=_env_int("BENCH_N"), help="deliveries through the local cloud"
    )
    parser.add_argument("--concurrency", type=int, default=_env_int("BENCH_CONCURRENCY"))
    parser.add_argument(
        "--capacity-deals",
        type=int,
        default=_env_int("BENCH_CAPACITY_DEALS"),
        help="deals per ERP limit in the capacity burst (python -m bench.capacity for the full run)",
    )
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--with-test-suite", action="store_true", help="also run and time `pytest -q`")
    parser.add_argument(
        "--with-instructions",
        action="store_true",
        help="also count each cold start's instructions under valgrind (load-independent; ~3 min)",
    )
    parser.add_argument("--results", type=Path, default=repo_root() / "bench" / "results.jsonl")
    parser.add_argument("--work-dir", type=Path, default=repo_root() / "build" / "bench")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else DEFAULTS
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.only is None:
        args.only = ",".join(s for s in SECTIONS if not (args.quick and s == "capacity"))
    args.sections = [s for s in args.only.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if args.with_test_suite and "suite" not in args.sections:
        args.sections.append("suite")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    previous = previous_lines(args.results)
    results = Results(args.results)
    work_dir: Path = args.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    failed: list[str] = []

    def section(name: str, body: Callable[[], None]) -> None:
        if name not in args.sections:
            return
        try:
            body()
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' results
            failed.append(name)
            traceback.print_exc()

    if {"cold", "calls", "warm"} & set(args.sections):
        with BenchCloud(work_dir / "state") as cloud:
            section(
                "cold",
                lambda: coldstart.run(
                    cloud,
                    results,
                    runs=args.runs,
                    work_dir=work_dir,
                    fill_cache=not args.quick,
                    instructions=args.with_instructions,
                    deployed=None if args.quick else deployed.prepare(work_dir),  # ~40 s to prepare once
                    # a smoke run measures Stripe's cold start only; every webhook's in a full run
                    cases=[CASES["stripe"]] if args.quick else None,
                ),
            )
            section("calls", lambda: calls.run(cloud, results, work_dir=work_dir))
            section(
                "warm",
                lambda: warm.run(
                    cloud,
                    results,
                    n=args.events,
                    warmup=min(100, max(10, args.events // 10)),
                    rounds=WARM_ROUNDS["quick" if args.quick else "default"],
                    work_dir=work_dir,
                ),
            )
    section(
        "throughput",
        lambda: throughput.run(results, n=args.n, concurrency=args.concurrency, work_dir=work_dir),
    )
    if {"cost", "vendor"} & set(args.sections):
        # one boot for both, each counting its own deals' deltas; vendor first, as its payout pays out the
        # balance: after cost's deal it would deposit two payments instead of its own scenario's one
        with deal_cloud() as (hub, target):
            section("vendor", lambda: vendor_calls.run(results, hub, target))
            section("cost", lambda: cost.run(results, hub, target))
    section(
        "capacity",
        lambda: capacity.run(
            results,
            deals=args.capacity_deals,
            limits=(5,) if args.quick else capacity.LIMITS,
            median_ms=capacity.QUICK_MEDIAN_MS if args.quick else capacity.MEDIAN_MS,
        ),
    )
    if args.with_test_suite:
        section("suite", lambda: suite.measure(results, work_dir / "logs" / "test-suite.log"))
    elif "suite" in args.sections:
        section("suite", lambda: suite.carry_over(results, previous))

    budgets = [line for line in results.lines if "budget" in line]
    results.emit(
        "bench.wall",
        rounded(time.perf_counter() - started, 1),
        "s",
        mode="quick" if args.quick else "default",
        sizes={
            "runs": args.runs,
            "events": args.events,
            "n": args.n,
            "concurrency": args.concurrency,
            "capacity_deals": args.capacity_deals,
        },
        budgets=len(budgets),
        budgets_missed=[line["name"] for line in budgets if not line["ok"]],
        failed_sections=failed,
        cpus=cpu_count(),
        python=platform.python_version(),
    )
    results.write()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
