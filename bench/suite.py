"""Wall time of the whole test suite (what ``make test`` runs after its setup: ``pytest -q``).

Too slow to run on every ``make bench``: ``python -m bench.run --with-test-suite`` runs and times it; a
run without the flag repeats the last measured line from ``bench/results.jsonl``, marked ``carried``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cloud import repo_root
from bench.results import Results, rounded

NAME = "test_suite.wall"
BUDGET_S = 8 * 60  # issue 16 item 6: `make test` within 8 minutes on this 2-core machine


def measure(results: Results, log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q"], cwd=repo_root(), stdout=log, stderr=log
        )
    elapsed = time.perf_counter() - started
    summary = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    results.budget(
        NAME,
        rounded(elapsed, 1),
        "s",
        budget=f"value <= {BUDGET_S} s and every test passes",
        ok=code == 0 and elapsed <= BUDGET_S,
        floor=BUDGET_S,
        ratio=rounded(elapsed / BUDGET_S, 2),
        command="pytest -q",
        exit_code=code,
        summary=summary[0],
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def carry_over(results: Results, previous: list[dict[str, Any]]) -> None:
    for line in reversed(previous):
        if line.get("name") == NAME and line.get("value") is not None:
            results.emit(
                NAME,
                line["value"],
                line.get("unit", "s"),
                **{
                    **{k: v for k, v in line.items() if k not in ("name", "value", "unit")},
                    "carried": True,
                },
            )
            return
    results.emit(NAME, None, "s", note="not measured yet: python -m bench.run --with-test-suite")
