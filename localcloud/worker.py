"""One warm Lambda execution environment: ``python -m localcloud.worker <module> <attr> [timeout_s]``.

The parent (``localcloud.workers``) starts this process with the function's environment only. The
worker keeps a private copy of its original stdout for the protocol and points fd 1 at fd 2 before the
handler is imported, so whatever the handler prints (Powertools Logger writes JSON to stdout) lands in
the function's log, never in the protocol.

Protocol, one JSON document per line:
  parent → stdin:   {"event": ..., "request_id": "...", "deadline_ms": <epoch ms>}
  worker → channel: {"ok": true, "result": ...} | {"ok": false, "error": {"type", "message", "trace"}}
The first line the worker writes is ``{"ready": true, "pid": ..., "init_ms": ...}`` (or an init error).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """The attributes of the Lambda Python runtime's context object that handlers and Powertools use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{self.function_name}")
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{os.getpid():032x}"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "trace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    }


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def main(argv: list[str]) -> int:
    module_name, attr = argv[0], argv[1]
    # The parent stops workers through stdin EOF / SIGTERM; Ctrl-C in the terminal is the parent's business.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    channel_fd = os.dup(1)
    os.dup2(2, 1)
    channel = os.fdopen(channel_fd, "w", encoding="utf-8", buffering=1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1, closefd=False)

    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attr)
    except BaseException as exc:  # noqa: BLE001 - reported, as Lambda's Runtime.ImportModuleError
        traceback.print_exc()
        _send(channel, {"ready": False, "error": _error(exc)})
        return 1
    init_ms = round((time.perf_counter() - started) * 1000, 1)
    _send(channel, {"ready": True, "pid": os.getpid(), "init_ms": init_ms})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        context = LambdaContext(request["request_id"], int(request["deadline_ms"]))
        try:
            result = handler(request["event"], context)
            payload = json.dumps({"ok": True, "result": result}, default=str)
        except Exception as exc:  # noqa: BLE001 - any handler error is the invocation's result
            traceback.print_exc()
            payload = json.dumps({"ok": False, "error": _error(exc)}, default=str)
        channel.write(payload + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
