"""``o2c local up``: run the local cloud in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from localcloud import latency, state
from localcloud.cloud import LocalCloud


def run(
    api_port: int = 3000, aws_port: int = 4566, state_dir: Path | str = Path(".o2c"), **cloud_kwargs: Any
) -> int:
    """Boot, print where everything is, serve until Ctrl-C / SIGTERM, stop cleanly; returns 0.

    ``cloud_kwargs`` go to ``LocalCloud`` (tests inject their own functions). The vendor sandboxes' latency
    comes from ``O2C_SANDBOX_LATENCY`` (``localcloud.latency``: ``realistic``, ``netsuite=0.3-1.5``...) unless
    ``sandbox_latency`` is given.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if "sandbox_latency" not in cloud_kwargs and os.environ.get(latency.ENV_VAR):
        try:
            cloud_kwargs["sandbox_latency"] = latency.parse(os.environ[latency.ENV_VAR])
        except ValueError as exc:
            print(f"{latency.ENV_VAR}: {exc}", file=sys.stderr, flush=True)
            return 2
    cloud = LocalCloud(api_port=api_port, aws_port=aws_port, state_dir=Path(state_dir), **cloud_kwargs)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cloud.start()
        except Exception as exc:  # noqa: BLE001 - a boot failure is reported in one line, not a traceback
            print(f"local cloud failed to start: {exc}", file=sys.stderr, flush=True)
            print(f"  function logs: {cloud.logs_dir}", file=sys.stderr, flush=True)
            return 1
        if not stop.is_set():
            print(f"O2C local cloud ready (stage {cloud.stage})", flush=True)
            print(f"  API:       {cloud.api_url}", flush=True)
            print(f"  AWS:       {cloud.aws_endpoint_url}", flush=True)
            print(f"  state:     {cloud.local_json_path}", flush=True)
            kept = "restored from the last run" if cloud.restored else "new"
            print(
                f"  kept:      {state.state_root(cloud.state_dir)} ({kept}; --fresh starts empty)", flush=True
            )
            print(f"  logs:      {cloud.logs_dir}/<FunctionId>.log", flush=True)
            print(
                "  IAM:       enforced (each function acts as its own role; "
                "`o2c ... --as operator|readonly` acts with an operator policy)",
                flush=True,
            )
            print(f"  latency:   {latency.describe(cloud.sandbox_latency)} (${latency.ENV_VAR})", flush=True)
            print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping...", flush=True)
    finally:
        cloud.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Stopped.", flush=True)
    return 0


def reset(state_dir: Path | str = Path(".o2c")) -> int:
    """``o2c local reset``: delete the state kept across restarts (logs stay). Refused while a local cloud
    runs on this state dir (it would write it again)."""
    state_dir = Path(state_dir)
    if _running(state_dir):
        print(f"a local cloud is running on {state_dir}: stop it first (Ctrl-C)", file=sys.stderr, flush=True)
        return 1
    if state.reset(state_dir):
        print(f"deleted the local state in {state.state_root(state_dir)}", flush=True)
    else:
        print(f"no local state in {state_dir}", flush=True)
    return 0


def _running(state_dir: Path) -> bool:
    """A live local cloud on ``state_dir``: its local.json names an API that accepts connections."""
    try:
        api_url = json.loads((state_dir / "local.json").read_text())["api_url"]
        host, port = urlsplit(api_url).hostname, urlsplit(api_url).port
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        with socket.create_connection((host or "127.0.0.1", port or 80), timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(run())
