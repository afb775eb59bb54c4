"""Warm pools of worker subprocesses, one pool per function: the local Lambda runtime."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from infra.topology import FunctionSpec

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Keys the local cloud adds to every function's environment (the Lambda runtime's own variables and
#: the plumbing that points the SDK at the embedded AWS endpoint). Nothing else leaks from the parent.
PLUMBING_KEYS = frozenset(
    {
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",  # the function's role session (localcloud.iam), as Lambda provides it
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "LAMBDA_TASK_ROOT",
        "POWERTOOLS_TRACE_DISABLED",
        "PATH",
        "PYTHONPATH",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "LANG",
        "TZ",
    }
)


class InvocationError(Exception):
    """The invocation failed in the runtime (crash, timeout, init error), not inside the handler."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass
class InvokeResult:
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    pid: int = 0
    duration_ms: float = 0.0


def plumbing_environment(
    fn: FunctionSpec, *, stage: str, aws_endpoint_url: str, region: str
) -> dict[str, str]:
    physical = f"o2c-{stage}-{fn.id}"
    return {
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": physical,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{physical}",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT / fn.code_dir),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # Like Lambda: the code asset first (/var/task), then the repository root, which holds shared/
        # exactly as the layer's /opt/python does.
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / fn.code_dir), str(REPO_ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
    }


class Worker:
    """One subprocess serving invocations of one function, one at a time."""

    def __init__(self, fn: FunctionSpec, env: Mapping[str, str], log: _LogSink) -> None:
        self.fn = fn
        self._responses: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud.worker", fn.module, fn.handler_attr],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=str(REPO_ROOT),
            text=True,
            encoding="utf-8",
            bufsize=1,
            # Own process group: a Ctrl-C in the terminal reaches the parent, which stops workers itself.
            start_new_session=True,
        )
        self.pid = self.proc.pid
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump_channel, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=log.pump, args=(self.proc.stderr,), daemon=True).start()
        self.init_ms: float | None = None

    def _pump_channel(self, stream: TextIO) -> None:
        for line in stream:
            self._responses.put(line)
        self._responses.put(None)

    def wait_ready(self, timeout: float) -> None:
        message = self._read(timeout, "Runtime.InitTimeout")
        if not message.get("ready"):
            error = message.get("error") or {}
            self.kill()
            raise InvocationError("Runtime.ImportModuleError", f"{error.get('type')}: {error.get('message')}")
        self.init_ms = message.get("init_ms")

    def _read(self, timeout: float, timeout_type: str, message: str | None = None) -> dict[str, Any]:
        try:
            line = self._responses.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise InvocationError(
                timeout_type, message or f"Task timed out after {timeout:.2f} seconds"
            ) from None
        if line is None:
            code = self.proc.wait()
            raise InvocationError("Runtime.ExitError", f"worker exited with status {code}")
        result: dict[str, Any] = json.loads(line)
        return result

    def invoke(self, event: Any, timeout_s: float) -> InvokeResult:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        line = json.dumps({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            self.kill()
            raise InvocationError("Runtime.ExitError", f"worker is gone: {exc}") from exc
        # A little grace over the function timeout for the pipe round trip. Lambda reports a function that ran
        # out of time as ``Sandbox.Timedout`` (the error a state machine's Retry names), with this message.
        response = self._read(
            timeout_s + 0.5,
            "Sandbox.Timedout",
            f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
        )
        duration = (time.perf_counter() - started) * 1000
        return InvokeResult(
            ok=bool(response.get("ok")),
            result=response.get("result"),
            error=response.get("error"),
            pid=self.pid,
            duration_ms=duration,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self, grace: float = 2.0) -> None:
        """Close stdin (the worker's loop ends), then SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


class _LogSink:
    """Appends whole lines from every worker of one function to ``logs/<FunctionId>.log``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def pump(self, stream: TextIO) -> None:
        try:
            for line in stream:
                with self._lock:
                    if not self._file.closed:
                        self._file.write(line if line.endswith("\n") else line + "\n")
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        with self._lock:
            self._file.close()


class WorkerPool:
    """Warm workers for one function; grows on demand up to ``max_workers`` concurrent invocations."""

    def __init__(
        self,
        fn: FunctionSpec,
        env: Mapping[str, str],
        log_path: Path,
        *,
        warm: int = 1,
        max_workers: int = 4,
        init_timeout_s: float = 30.0,
    ) -> None:
        self.fn = fn
        self.env = dict(env)
        self.warm = max(0, min(warm, max_workers))
        self.max_workers = max_workers
        self.init_timeout_s = init_timeout_s
        self._log = _LogSink(log_path)
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting = 0
        self._closed = False
        self.in_flight = 0
        self.cold_starts = 0
        #: Invocations served (what Lambda bills per request).
        self.invocations = 0
        #: Invocations killed at the function timeout (``Sandbox.Timedout``).
        self.timeouts = 0

    # -- lifecycle -----------------------------------------------------------------------------------
    def _spawn(self) -> Worker:
        worker = Worker(self.fn, self.env, self._log)
        try:
            worker.wait_ready(self.init_timeout_s)
        except InvocationError:
            worker.stop(grace=0.5)
            raise
        with self._cond:
            self.cold_starts += 1
        return worker

    def start_warm(self) -> None:
        """Start the warm workers in parallel (each pays its imports once); raise if any fails to init."""
        errors: list[BaseException] = []

        def one() -> None:
            try:
                worker = self._spawn()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
                return
            with self._cond:
                if self._closed:
                    worker.kill()
                    return
                self._idle.append(worker)
                self._cond.notify()

        threads = [threading.Thread(target=one, daemon=True) for _ in range(self.warm)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            # Let workers that are booting right now finish, so none outlives the pool.
            deadline = time.monotonic() + self.init_timeout_s
            while self._starting and time.monotonic() < deadline:
                self._cond.wait(timeout=0.1)
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
            self._cond.notify_all()
        threads = [threading.Thread(target=w.stop, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._log.close()

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in [*self._idle, *self._busy]]

    # -- invocation ----------------------------------------------------------------------------------
    def _acquire(self) -> Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise InvocationError("Runtime.Shutdown", "the local cloud is stopping")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    threading.Thread(target=worker.stop, daemon=True).start()
                if len(self._busy) + self._starting < self.max_workers:
                    self._starting += 1
                    break
                self._cond.wait()
        try:
            worker = self._spawn()
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting -= 1
            self._cond.notify_all()
            if self._closed:
                worker.kill()
                raise InvocationError("Runtime.Shutdown", "the local cloud is stopping")
            self._busy.add(worker)
        return worker

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            if healthy and worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                threading.Thread(target=worker.stop, kwargs={"grace": 0.5}, daemon=True).start()
            self._cond.notify()

    def invoke(self, event: Any) -> InvokeResult:
        """Run one invocation; a crash or timeout is reported as ``ok=False`` and the worker replaced."""
        with self._cond:
            self.in_flight += 1
            self.invocations += 1
        try:
            try:
                worker = self._acquire()
            except InvocationError as exc:
                return InvokeResult(ok=False, error={"type": exc.error_type, "message": exc.message})
            healthy = True
            try:
                return worker.invoke(event, float(self.fn.timeout_s))
            except InvocationError as exc:
                healthy = False
                if exc.error_type == "Sandbox.Timedout":
                    with self._cond:
                        self.timeouts += 1
                return InvokeResult(
                    ok=False, error={"type": exc.error_type, "message": exc.message}, pid=worker.pid
                )
            finally:
                self._release(worker, healthy)
                if not healthy:
                    self._replenish()
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def _replenish(self) -> None:
        """Keep the warm floor after a worker died, in the background."""
        with self._cond:
            missing = self.warm - (len(self._idle) + len(self._busy) + self._starting)
            if self._closed or missing <= 0:
                return
            self._starting += 1

        def spawn() -> None:
            try:
                worker = self._spawn()
            except BaseException:  # noqa: BLE001 - a failed background spawn is retried on demand
                with self._cond:
                    self._starting -= 1
                    self._cond.notify_all()
                return
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
                if self._closed:
                    worker.kill()
                    return
                self._idle.append(worker)

        threading.Thread(target=spawn, daemon=True).start()


InvokeFn = Callable[[str, Any], InvokeResult]
