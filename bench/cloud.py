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
    """The local cloud without functions, plus the sandboxes of the webhooks that re-read a record before
    publishing (HubSpot's and Salesforce's deal, Zendesk's ticket): ``LocalCloud`` starts those only with their webhook functions' workers, which
    would run beside the timed processes, so the benchmark starts them itself, with the cloud's own
    credentials, and points the functions' stage settings at them as ``LocalCloud`` does."""

    def __init__(self, state_dir: Path) -> None:
        self.cloud = LocalCloud(api_port=0, aws_port=0, state_dir=state_dir, functions=(), consumers=())
        self.sandboxes: dict[str, Any] = {}
        self.settings: dict[str, str] = {}

    def __enter__(self) -> BenchCloud:
        self.cloud.start()
        try:
            self._start_sandboxes()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.cloud.stop()

    def _start_sandboxes(self) -> None:
        from localcloud.cloud import LOCAL_SALESFORCE_ORG_ID, ZENDESK_PAYMENT_FIELD_TITLE
        from localcloud.sandboxes.hubspot import HubSpotSandbox
        from localcloud.sandboxes.salesforce import SalesforceSandbox
        from localcloud.sandboxes.zendesk import ZendeskSandbox

        res = self.cloud.res
        assert res is not None
        api = self.cloud.api_url
        hubspot = res.secret_values["HubSpotCredentials"]
        salesforce = res.secret_values["SalesforceCredentials"]
        self.sandboxes["hubspot"] = HubSpotSandbox(
            webhook_url=api + "/webhooks/hubspot",
            client_secret=hubspot["secrets"][0],
            access_token=hubspot["access_token"],
        )
        self.sandboxes["salesforce"] = SalesforceSandbox(
            webhook_url=api + "/webhooks/salesforce",
            org_id=LOCAL_SALESFORCE_ORG_ID,
            client_id=salesforce["client_id"],
            client_secret=salesforce["client_secret"],
        )
        zendesk = res.secret_values["ZendeskCredentials"]
        self.sandboxes["zendesk"] = ZendeskSandbox(
            webhook_url=api + "/webhooks/zendesk",
            email=zendesk["email"],
            api_token=zendesk["api_token"],
            signing_secret=zendesk["signing_secrets"][0],
        )
        for sandbox in self.sandboxes.values():
            sandbox.start()
        # the ticket field agents put the payment in, as the local cloud sets up the Zendesk account
        payment_field = self.sandboxes["zendesk"].ensure_ticket_field(ZENDESK_PAYMENT_FIELD_TITLE)
        self.settings = {
            **self.cloud.settings,
            "HUBSPOT_API_BASE_URL": self.sandboxes["hubspot"].url,
            "SALESFORCE_MY_DOMAIN_URL": self.sandboxes["salesforce"].url,
            "ZENDESK_API_BASE_URL": self.sandboxes["zendesk"].url,
            "ZENDESK_PAYMENT_INTENT_FIELD_ID": str(payment_field),
        }

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
            settings=self.settings,
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
    return list(cloud.res.secret_values[case.secret_id].get(case.secrets_field) or [])


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
