"""``o2c local up``: run the local cloud in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud.cloud import LocalCloud


def run(
    api_port: int = 3000, aws_port: int = 4566, state_dir: Path | str = Path(".o2c"), **cloud_kwargs: Any
) -> int:
    """Boot, print where everything is, serve until Ctrl-C / SIGTERM, stop cleanly; returns 0.

    ``cloud_kwargs`` go to ``LocalCloud`` (tests inject their own functions).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    cloud = LocalCloud(api_port=api_port, aws_port=aws_port, state_dir=Path(state_dir), **cloud_kwargs)
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
            print(f"  logs:      {cloud.logs_dir}/<FunctionId>.log", flush=True)
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


if __name__ == "__main__":
    sys.exit(run())
