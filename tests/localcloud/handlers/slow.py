"""Test task: the first invocation outlives its function timeout; later ones answer at once. Counts its
invocations in $CALLS_FILE."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    calls_file = Path(os.environ["CALLS_FILE"])
    calls = int(calls_file.read_text() or "0") if calls_file.exists() else 0
    calls_file.write_text(str(calls + 1))
    if calls == 0:
        time.sleep(30)  # far beyond the timeout: the runtime kills it
    return {"calls": calls + 1, "remaining_ms": context.get_remaining_time_in_millis()}
