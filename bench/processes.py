"""Starting a measured child process (``bench.child``) and timing it from the outside."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cloud import repo_root


class ChildError(RuntimeError):
    pass


def run_child(
    spec: dict[str, Any],
    env: Mapping[str, str],
    log_path: Path,
    *,
    timeout_s: float = 300.0,
    prefix: Sequence[str] = (),
    python: str | None = None,
) -> tuple[float, dict[str, Any]]:
    """Run ``python -m bench.child`` with exactly ``env``; return (ms from spawn to its result, result).

    The wall time covers what a cold start covers: process start, interpreter start-up, imports and the
    work the spec asks for, up to the moment the result is written (not the process's exit). ``prefix``
    runs the child under another program (``valgrind``); ``python`` is the interpreter (default: this one).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    try:
        with log_path.open("ab") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [
                    *prefix,
                    python or sys.executable,
                    "-m",
                    "bench.child",
                    json.dumps({**spec, "fd": write_fd}),
                ],
                env=dict(env),
                cwd=str(repo_root()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
            )
            os.close(write_fd)
            write_fd = -1
            line, elapsed_ms = _read_line(read_fd, started, timeout_s)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    if not line:
        raise ChildError(f"{spec['mode']} child exited with {code} and no result; see {log_path}")
    return elapsed_ms, json.loads(line)


def _read_line(fd: int, started: float, timeout_s: float) -> tuple[bytes, float]:
    data = b""
    deadline = started + timeout_s
    while not data.endswith(b"\n"):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise ChildError(f"no result within {timeout_s:.0f} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        if not data:
            elapsed_ms = (time.perf_counter() - started) * 1000
        data += chunk
    if not data:
        return b"", 0.0
    return data, elapsed_ms
