"""The local cloud's state across restarts: moto's backends and the vendor sandboxes' records, pickled under
``<state dir>/state/``.

- ``aws.pickle``: the region backends of DynamoDB, SQS, Secrets Manager, EventBridge and Step Functions
  (tables and items, queues and their messages including the DLQs', secrets, buses/rules/targets/archives,
  state machines and executions with their history).
- ``sandboxes/<vendor>.pickle``: each sandbox's records (see ``Sandbox.state_snapshot``).

IAM roles and Lambda functions are not kept: ``provision_orchestration`` recreates them at every boot (they
are placeholders whose invocations go to the hub's worker processes, and their ARNs are deterministic).

Why pickling and not moto's request recorder: a replay re-sends every recorded API call, so PutEvents would
deliver every event to the queues again (the consumers would process them again) and StartExecution would run
every execution again (ERP records, Stripe calls), while ReceiveMessage/DeleteMessage replayed against new
message ids and receipt handles would not reproduce what was consumed. A snapshot of the backends restores the
*result* (the items, the messages still queued, the executions' final states) and re-runs nothing.

Step Functions: an execution's interpreter is a thread, which a snapshot cannot hold. Finished executions come
back as they were (status, output, history); one that was RUNNING when the cloud stopped comes back FAILED
with the error ``LocalCloud.Restarted``. What it waited for (the correlation table) and its lineage are kept,
and ``RedriveExecution`` (``localcloud.sfn_redrive``) runs it again from the state it was in.

Writes: every ``SNAPSHOT_INTERVAL_S`` while running (only when something changed; longer apart when a
snapshot is slow, see ``Snapshotter``) and once more on a clean stop (Ctrl-C, SIGTERM), each written to a
temporary file, fsynced and renamed over the previous one, so a crash (``kill -9``, power loss) loses at most
the last interval and never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime
import hashlib
import io
import logging
import os
import pickle
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("localcloud.state")

#: Services whose moto backends are kept.
SERVICES = ("dynamodb", "sqs", "secretsmanager", "events", "stepfunctions")
#: Bumped when what ``aws.pickle`` holds changes shape.
FORMAT = 1
SNAPSHOT_INTERVAL_S = 2.0
RESTARTED_ERROR = "LocalCloud.Restarted"


class StateError(RuntimeError):
    """The kept state cannot be loaded (another moto version, a damaged file)."""


def state_root(state_dir: Path) -> Path:
    return Path(state_dir) / "state"


def aws_path(state_dir: Path) -> Path:
    return state_root(state_dir) / "aws.pickle"


def sandbox_path(state_dir: Path, vendor: str) -> Path:
    return state_root(state_dir) / "sandboxes" / f"{vendor}.pickle"


def reset(state_dir: Path) -> bool:
    """Delete the kept state (not the logs). True if there was any."""
    root = state_root(state_dir)
    if not root.exists():
        return False
    shutil.rmtree(root)
    return True


# -- pickling -------------------------------------------------------------------------------------------
def _fresh_lock(_lock: Any) -> tuple[Callable[[], Any], tuple[()]]:
    return threading.Lock, ()


def _fresh_rlock(_lock: Any) -> tuple[Callable[[], Any], tuple[()]]:
    return threading.RLock, ()


#: moto's SQS queues guard their messages with a ``threading.Condition``: its lock is pickled as a new,
#: unlocked lock. Only this pickler does so (``copyreg`` stays untouched for everyone else).
_LOCK_TABLE = {
    **copyreg.dispatch_table,
    type(threading.Lock()): _fresh_lock,
    type(threading.RLock()): _fresh_rlock,
}


def dumps(value: Any, *, locks: bool = True) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if locks:
        pickler.dispatch_table = _LOCK_TABLE
    pickler.dump(value)
    return buffer.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


def _backend_dict(service: str) -> Any:
    if service == "stepfunctions":
        # With execute_state_machine on, moto serves Step Functions from its interpreter's backends.
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        return stepfunctions_parser_backends
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def _region_backends() -> dict[tuple[str, str, str], Any]:
    out: dict[tuple[str, str, str], Any] = {}
    for service in SERVICES:
        if service == "stepfunctions" and "moto.stepfunctions.parser.models" not in sys.modules:
            continue  # never used in this process (and its import takes seconds)
        for account, regions in list(_backend_dict(service).items()):
            for region, backend in list(regions.items()):
                out[(service, account, region)] = backend
    return out


def snapshot_aws() -> bytes:
    """The kept services' backends, pickled. Requests go on meanwhile (holding them would stall the
    functions): a change in the middle of the pickling makes a retry."""
    last: Exception | None = None
    for _ in range(5):
        try:
            return dumps({"format": FORMAT, "moto": _moto_version(), "backends": _region_backends()})
        except RuntimeError as exc:  # "dictionary changed size during iteration"
            last = exc
    raise StateError(f"could not take a consistent snapshot: {last}")


def restore_aws(data: bytes) -> int:
    """Put the pickled backends in place of moto's (after a reset). Returns how many were restored."""
    try:
        doc = pickle.loads(data)  # noqa: S301 - the user's own state dir, written by this module
    except Exception as exc:
        raise StateError(f"unreadable AWS state ({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("moto") != _moto_version():
        found = doc.get("moto") if isinstance(doc, dict) else "?"
        raise StateError(
            f"AWS state written by another version (moto {found}, format "
            f"{doc.get('format') if isinstance(doc, dict) else '?'}; this is moto {_moto_version()})"
        )
    backends: dict[tuple[str, str, str], Any] = doc["backends"]
    for (service, account, region), backend in backends.items():
        _backend_dict(service)[account][region] = backend
        if service == "stepfunctions":
            _stop_orphaned_executions(backend)
    return len(backends)


def _stop_orphaned_executions(backend: Any) -> None:
    """Executions RUNNING at the snapshot have lost their interpreter thread: they are FAILED, saying why."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    now = datetime.datetime.now(tz=datetime.UTC)
    for machine in list(getattr(backend, "state_machines", [])):
        for execution in list(getattr(machine, "executions", [])):
            if getattr(execution, "exec_status", None) == ExecutionStatus.RUNNING:
                execution.exec_status = ExecutionStatus.FAILED
                execution.stop_date = now
                execution.error = RESTARTED_ERROR
                execution.cause = (
                    "the local cloud stopped while this execution ran; moto cannot resume an execution's "
                    "interpreter. Its waits (correlation table) and lineage are kept."
                )
                log.warning("execution %s was running when the cloud stopped: now FAILED", execution.name)


def save_aws(state_dir: Path) -> bytes:
    data = snapshot_aws()
    write_atomically(aws_path(state_dir), data)
    return data


def load_aws(state_dir: Path) -> bool:
    """Restore the kept AWS state if there is any. True if it was restored."""
    path = aws_path(state_dir)
    if not path.exists():
        return False
    count = restore_aws(path.read_bytes())
    log.info("restored %d AWS backends from %s", count, path)
    return True


# -- sandboxes ------------------------------------------------------------------------------------------
def save_sandbox(state_dir: Path, sandbox: Any) -> bytes:
    data = sandbox.state_snapshot()
    write_atomically(sandbox_path(state_dir, sandbox.vendor), data)
    return data


def load_sandbox(state_dir: Path, sandbox: Any) -> bool:
    path = sandbox_path(state_dir, sandbox.vendor)
    if not path.exists():
        return False
    try:
        sandbox.restore_snapshot(path.read_bytes())
    except Exception as exc:
        raise StateError(f"unreadable {sandbox.vendor} sandbox state {path}: {exc}") from exc
    return True


# -- the periodic writer --------------------------------------------------------------------------------
class Snapshotter:
    """Writes the state every ``interval_s`` while something changed, and on ``stop(final=True)``. When a
    snapshot takes long (a big state), the next waits 10 times as long, so it never takes over 10 % of the
    time."""

    def __init__(self, state_dir: Path, sandboxes: dict[str, Any], interval_s: float = SNAPSHOT_INTERVAL_S):
        self.state_dir = Path(state_dir)
        self.sandboxes = sandboxes
        self.interval_s = interval_s
        self._digests: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="state-snapshots", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        wait = self.interval_s
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                self.save()
            except Exception:
                log.exception("state snapshot failed")
            wait = max(self.interval_s, 10 * (time.monotonic() - started))

    def save(self) -> None:
        """Write what changed since the last write."""
        with self._write_lock:
            parts: list[tuple[str, Callable[[], bytes], Path]] = [
                ("aws", snapshot_aws, aws_path(self.state_dir))
            ]
            for sandbox in self.sandboxes.values():
                parts.append(
                    (sandbox.vendor, sandbox.state_snapshot, sandbox_path(self.state_dir, sandbox.vendor))
                )
            for key, take, path in parts:
                data = take()
                digest = hashlib.blake2b(data, digest_size=16).digest()
                if self._digests.get(key) == digest and path.exists():
                    continue
                write_atomically(path, data)
                self._digests[key] = digest

    def stop(self, *, final: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if final:
            self.save()
