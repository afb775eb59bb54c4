"""``make bench`` in miniature: every benchmark runs at a tiny size and reports in the contract's format.

Timing is never asserted here (budgets are for ``make bench`` to report, with their ``ok``): this checks
that every line is a JSON object with ``name``, ``value`` and ``unit``, that every line with a budget
says whether it was met, and that the file holds what stdout showed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EXPECTED = {
    "cold_start.StripeWebhook",
    "cold_start.LineageRecorder",
    "cold_start.peer.stripe",
    "peer.cold_start.stripe",
    "memory.peak_rss.StripeWebhook",
    "memory.peak_rss.LineageRecorder",
    "aws_calls.stripe.accepted",
    "aws_calls.stripe.duplicate",
    "aws_calls.stripe.rejected_signature",
    "aws_calls.stripe.secret_fetch",
    "warm.stripe.p50",
    "warm.stripe.p99",
    "warm.stripe.outside_sdk.p50",
    "peer.warm.stripe.p50",
    "throughput.accepted_per_s",
    "throughput.lost",
    "throughput.double_booked",
    "quote_to_cash.cost",
    "quote_to_cash.dynamodb_writes",
    "vendor_calls.deal.stripe",
    "vendor_calls.deal.netsuite",
    "vendor_calls.deal.hubspot",
    "vendor_calls.deal.avatax",
    "vendor_calls.declined.stripe",
    "vendor_calls.refund.netsuite",
    "vendor_calls.payout.stripe",
    "test_suite.wall",
    "bench.wall",
}


def test_quick_bench_prints_one_json_object_per_line_with_a_boolean_ok_on_every_budget(
    tmp_path: Path,
) -> None:
    # Given a tiny run of every benchmark, in its own results file and work directory
    results = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "bench.run", "--quick", "--events", "40", "--n", "20"]
    command += ["--results", str(results), "--work-dir", str(tmp_path / "work")]

    # When it runs
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)

    # Then it succeeds and every stdout line is one JSON object in the contract's shape
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [json.loads(raw) for raw in done.stdout.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    for line in lines:
        assert isinstance(line["name"], str) and line["name"]
        assert "value" in line and isinstance(line["unit"], str)
        assert line["value"] is None or isinstance(line["value"], int | float)
    # every benchmark reported, and every budget line says whether it was met
    assert {line["name"] for line in lines} >= EXPECTED
    budgeted = [line for line in lines if "budget" in line]
    assert budgeted and all(isinstance(line["ok"], bool) for line in budgeted)
    # the file holds exactly what stdout showed
    assert [json.loads(raw) for raw in results.read_text().splitlines()] == lines
    assert lines[-1]["name"] == "bench.wall" and lines[-1]["failed_sections"] == []
