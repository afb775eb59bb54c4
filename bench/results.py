"""The output of ``make bench``: one JSON object per line, on stdout and in ``bench/results.jsonl``.

Every line has ``name``, ``value`` and ``unit``. A line with a budget also has ``budget`` (a readable
rule such as ``"ratio <= 1.25"``) and ``ok`` (a boolean, reported honestly: a missed budget is a line
with ``"ok": false``, not an error).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)


class Results:
    """Collects lines, prints each as it is produced, and writes them all to ``path`` at the end."""

    def __init__(self, path: Path | None, stream: IO[str] = sys.stdout) -> None:
        self.path = path
        self.stream = stream
        self.lines: list[dict[str, Any]] = []

    def emit(self, name: str, value: float | int | None, unit: str, **extra: Any) -> dict[str, Any]:
        line: dict[str, Any] = {"name": name, "value": value, "unit": unit, **extra}
        self.lines.append(line)
        self.stream.write(json.dumps(line) + "\n")
        self.stream.flush()
        return line

    def budget(
        self,
        name: str,
        value: float | int,
        unit: str,
        *,
        budget: str,
        ok: bool,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.emit(name, value, unit, budget=budget, ok=bool(ok), **extra)

    def write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(line) + "\n" for line in self.lines), encoding="utf-8")
        tmp.replace(self.path)


def previous_lines(path: Path) -> list[dict[str, Any]]:
    """The lines of an earlier run (empty if there is none or it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines
