"""The moto endpoint the benchmark's function processes talk to: the local cloud with its tables, secrets
and bus, but no function workers, queues or pollers (so nothing else runs while a cold start is timed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from infra.topology import FunctionSpec, Resolved, function_environment
from localcloud import LocalCloud
from localcloud.provision import REGION
from localcloud.workers import plumbing_environment

if TYPE_CHECKING:
    from bench.webhooks import WebhookCase
    from o2c_cli.targets import Target


@contextmanager
def deal_cloud(prefix: str = "o2c-bench-deals-") -> Iterator[tuple[LocalCloud, Target]]:
    """The whole hub with the CRMs set up, for the sections that run deals (``cost``, ``vendor``): one boot
    shared by them (each measures its own deals' deltas), ~20-35 s saved against a cloud each."""
    from o2c_cli.crm_setup import setup_crm
    from o2c_cli.targets import local_target

    state = Path(tempfile.mkdtemp(prefix=prefix))
    with LocalCloud(api_port=0, aws_port=0, state_dir=state, warm_workers=1) as cloud:
        target = local_target(state)
        setup_crm(target)  # the CRM sandboxes start without the hub's fields, as a new portal/org does
        cloud.wait_until_idle(timeout=30)
        yield cloud, target


class BenchCloud:
    def __init__(self, state_dir: Path) -> None:
        self.cloud = LocalCloud(api_port=0, aws_port=0, state_dir=state_dir, functions=(), consumers=())

    def __enter__(self) -> BenchCloud:
        self.cloud.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cloud.stop()

    def signing_secrets(self, case: WebhookCase) -> list[str]:
        """The active signing secrets the local cloud provisioned for ``case``'s provider."""
        return signing_secrets(self.cloud, case)

    @property
    def bus_name(self) -> str:
        return str(self.cloud.resources["event_bus"]["name"])

    def environment(self, fn: FunctionSpec, pycache: Path | None = None) -> dict[str, str]:
        """Exactly the environment a local-cloud worker of ``fn`` gets (``LocalCloud`` builds it the same
        way), plus where Python keeps the benchmark's bytecode cache."""
        res = self.cloud.res
        assert res is not None, "not started"
        resolved = Resolved(
            stage=self.cloud.stage,
            table_names=dict(res.tables),
            secret_refs=dict(res.secrets),
            event_bus_name=res.event_bus_name,
            log_level=self.cloud.log_level,
            claim_check_bucket=res.claim_check_bucket,
        )
        env = {
            **function_environment(fn, resolved),
            **plumbing_environment(
                fn, stage=self.cloud.stage, aws_endpoint_url=self.cloud.aws_endpoint_url, region=REGION
            ),
        }
        if pycache is not None:
            # The benchmark's own bytecode cache, written as it goes: never the repository's or the venv's.
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def client(self, service: str) -> Any:
        return self.cloud.client(service)


def signing_secrets(cloud: LocalCloud, case: WebhookCase) -> list[str]:
    assert cloud.res is not None, "not started"
    return list(cloud.res.secret_values[case.secret_id]["secrets"])


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
