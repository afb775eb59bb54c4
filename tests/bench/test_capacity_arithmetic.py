"""The arithmetic of ``bench.capacity`` (issue 16 item 5), without a cloud: the ERP floor, utilisation, the
percentiles of won → paid, exactly-once per deal, and the lines a burst is reported as."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from bench import capacity
from bench.results import Results, percentile


def test_the_floor_is_the_erp_slots_over_the_time_one_deal_holds_them() -> None:
    # 5 slots, 0.8 s a request, 12 requests a deal: 5 x 3600 / 9.6 = 1,875 deals an hour
    assert capacity.floor_deals_per_hour(5, 0.8, 12) == pytest.approx(1875)
    assert capacity.floor_deals_per_hour(15, 0.8, 12) == pytest.approx(5625)
    with pytest.raises(ValueError):
        capacity.floor_deals_per_hour(0, 0.8, 12)


def test_utilisation_is_slot_seconds_held_over_slots_times_seconds() -> None:
    assert capacity.utilisation(busy_slot_s=450, limit=5, elapsed_s=100) == pytest.approx(0.9)
    assert capacity.deals_per_hour(60, 120) == pytest.approx(1800)


def test_percentiles_are_nearest_rank() -> None:
    latencies = [float(x) for x in range(1, 101)]
    assert (percentile(latencies, 50), percentile(latencies, 95)) == (50.0, 95.0)
    assert percentile([3.0, 1.0, 2.0], 95) == 3.0


def test_a_deal_is_lost_without_its_invoice_payment_or_capture_and_doubled_with_two() -> None:
    exact = capacity.Exactness(
        ended={"a": "Paid", "b": "Paid", "c": "Invoiced", "d": "Paid"},
        invoices=Counter({"a": 1, "b": 1, "c": 1, "d": 2}),
        payments=Counter({"a": 1, "b": 1, "d": 1}),
        captured=Counter({"a": 1, "d": 1}),
    )
    deals = ["a", "b", "c", "d"]
    assert exact.lost(deals) == ["b", "c"]
    assert exact.doubled(deals) == ["d"]


def burst(**overrides: object) -> capacity.Burst:
    deals = [f"d{i}" for i in range(10)]
    values: dict[str, object] = {
        "limit": 5,
        "median_s": 0.8,
        "sigma": 0.3,
        "deals": deals,
        "won_at": {d: 1000.0 + i for i, d in enumerate(deals)},
        "paid_at": {d: 1000.0 + i + 30 + 3 * i for i, d in enumerate(deals)},  # 30 .. 57 s after each win
        "netsuite": {"busy_s": 180.0, "admitted": 120, "rejected": 0, "peak": 5},
        "netsuite_requests": 120,
        "exact": capacity.Exactness(
            ended=dict.fromkeys(deals, "Paid"),
            invoices=Counter(dict.fromkeys(deals, 1)),
            payments=Counter(dict.fromkeys(deals, 1)),
            captured=Counter(dict.fromkeys(deals, 1)),
        ),
        "dlq": {},
        "timeouts": {},
        "in_flight": {"ErpTasks": {"asked_mean": 6.0, "running_mean": 5.0, "peak": 8, "worker_cpu_s": 20.0}},
        "cpu": {"harness_cpu_s": 30.0, "workers_cpu_s": 60.0, "machine_busy": 1.0},
        "probe_ms": [10.0, 20.0, 30.0],
        "memory_mb": {"ErpTasks": 512},
        "invocations": {"ErpTasks": 50},
        "win_replies": Counter({200: 10}),
        "load_before": (8.0, 7.0, 6.0),
        "load_after": (9.0, 8.0, 7.0),
    }
    values.update(overrides)
    return capacity.Burst(**values)  # type: ignore[arg-type]


def lines(b: capacity.Burst) -> dict[str, dict[str, object]]:
    out = io.StringIO()
    capacity.report(Results(None, stream=out), b)
    return {line["name"]: line for line in map(json.loads, out.getvalue().splitlines())}


def test_a_burst_is_reported_with_its_floor_ratio_budget_and_ok() -> None:
    # 10 deals from the first win (t=1000) to the last paid (t=1066): 66 s
    reported = lines(burst())
    rate = reported["capacity.limit5.deals_per_hour"]
    assert rate["value"] == pytest.approx(10 * 3600 / 66, abs=0.1)
    assert rate["floor"] == pytest.approx(1875)  # 120 NetSuite requests / 10 deals = 12 a deal
    assert rate["ratio"] == pytest.approx(rate["value"] / 1875, abs=0.001)  # type: ignore[operator]
    assert rate["budget"] == ">= 0.85 x the floor, no DLQ message" and rate["ok"] is False
    assert reported["capacity.limit5.erp_utilisation"]["value"] == pytest.approx(180 / (5 * 66), abs=0.001)
    assert reported["capacity.limit5.won_to_paid.p50"]["value"] == 42.0  # the 5th of 30, 33, ... 57
    assert reported["capacity.limit5.won_to_paid.p95"]["value"] == 57.0
    assert reported["capacity.limit5.netsuite_calls_per_deal"]["value"] == 12.0
    assert reported["capacity.limit5.lost"]["ok"] and reported["capacity.limit5.doubled"]["ok"]
    assert reported["capacity.limit5.erp_429"] == {
        "name": "capacity.limit5.erp_429",
        "value": 0,
        "unit": "responses",
        "budget": "== 0",
        "ok": True,
    }
    assert reported["capacity.limit5.local_cloud"]["value"] == 9.0  # (30 + 60) CPU s / 10 deals


def test_a_fast_burst_meets_the_budget_unless_a_message_died() -> None:
    # the same 10 deals paid within 6.4 s of the first win: 5,625 an hour, 3x the floor
    won = {f"d{i}": 1000.0 for i in range(10)}
    fast = {f"d{i}": 1000.0 + 6.4 * (i + 1) / 10 for i in range(10)}
    assert lines(burst(won_at=won, paid_at=fast))["capacity.limit5.deals_per_hour"]["ok"] is True
    dead = lines(burst(won_at=won, paid_at=fast, dlq={"LineageRecorder": 1}))[
        "capacity.limit5.deals_per_hour"
    ]
    assert dead["ok"] is False and dead["dlq"] == {"LineageRecorder": 1}
