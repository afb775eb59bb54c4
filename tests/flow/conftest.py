"""Flow tests: the whole hub on the embedded local cloud, driven over HTTP like a provider would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud import LocalCloud
from o2c_cli.crm_setup import setup_crm
from o2c_cli.targets import Target, local_target


class Hub:
    def __init__(self, cloud: LocalCloud, state_dir: Path) -> None:
        self.cloud = cloud
        self.state_dir = state_dir
        self.api = cloud.api_url
        self.stripe_secrets: list[str] = cloud.local_json["secrets"]["stripe_webhook"]
        self.target: Target = local_target(state_dir)

    def settle(self) -> None:
        self.cloud.wait_until_idle(timeout=60)

    def idempotency_record_count(self) -> int:
        table = self.cloud.resources["tables"]["IdempotencyTable"]
        return int(self.cloud.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"])

    def dlq_depth(self, consumer: str = "LineageRecorder") -> int:
        url = self.target.consumers[consumer].dlq_url
        attrs = self.cloud.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.cloud.logs_dir.glob("*.log")))

    def put_on_bus(self, entries: list[dict[str, Any]]) -> None:
        bus = self.cloud.resources["event_bus"]["name"]
        response = self.cloud.client("events").put_events(
            Entries=[{**e, "EventBusName": bus} for e in entries]
        )
        assert response["FailedEntryCount"] == 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Flow modules that boot a local cloud of their own (``OWN_CLOUD = True``) run before every module using
    the package's shared ``hub``: two clouds alive at once in one process share moto's in-process backends,
    and the later one's provisioning breaks the earlier one's (e.g. the shared hub's Cognito clients). Name
    order used to ensure it; a new module's name must not be able to break it."""
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if Path(str(item.fspath)).parent == here]

    def own_cloud(item: pytest.Item) -> bool:
        return bool(getattr(getattr(item, "module", None), "OWN_CLOUD", False))

    flow = [items[i] for i in slots]
    ordered = [item for item in flow if own_cloud(item)] + [item for item in flow if not own_cloud(item)]
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


# Package scope: moto's in-process backends are shared with any mock_aws() in this pytest process, so the
# local cloud lives only while the flow tests run.
@pytest.fixture(scope="package")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state_dir = tmp_path_factory.mktemp("o2c-state")
    with LocalCloud(api_port=0, aws_port=0, state_dir=state_dir, warm_workers=2) as cloud:
        hub = Hub(cloud, state_dir)
        # The CRM sandboxes start without the hub's fields, as a new portal/org does: set up as a user would.
        assert all(status.ok for status in setup_crm(hub.target))
        yield hub
