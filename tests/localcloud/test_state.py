"""What the local cloud keeps across restarts, piece by piece (the whole hub restarting is test_restart.py)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import state
from localcloud.sandboxes.hubspot import HubSpotSandbox
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.main import main


def _hubspot(client_secret: str = "s") -> HubSpotSandbox:  # noqa: S107 - a sandbox's test secret
    return HubSpotSandbox(
        webhook_url="http://127.0.0.1:9/hooks", client_secret=client_secret, access_token="t"
    )


def _set_up(sandbox: HubSpotSandbox) -> HubSpotSandbox:
    """The portal as ``o2c setup crm`` leaves it: the hub's properties exist (a new portal has none)."""
    from o2c_cli.crm_setup import hubspot_status
    from shared.outbound.hubspot import HubSpotCrm

    with sandbox:
        hubspot_status(HubSpotCrm(sandbox.url, access_token=lambda: "t"), create=True)
    return sandbox


def test_a_sandbox_keeps_its_records_but_not_its_runtime(tmp_path: Path) -> None:
    before = _set_up(_hubspot())
    deal_id = hubspot_deal(before)
    before.fail_next(503)
    before.webhook_url = "http://127.0.0.1:9/old"
    state.save_sandbox(tmp_path, before)

    after = _hubspot(client_secret="rotated")
    after.webhook_url = "http://127.0.0.1:9/new"
    assert state.load_sandbox(tmp_path, after)
    with after:
        assert after.deal(deal_id)["properties"]["dealname"] == before.deal(deal_id)["properties"]["dealname"]
        assert after.webhook_url == "http://127.0.0.1:9/new"  # where this run's API is, not the last one's
        assert after._faults == [] and after.requests == []
        assert after.client_secret == "rotated"  # configuration is this run's
        assert hubspot_deal(after) != deal_id  # ids go on from where they were


def test_a_snapshot_of_another_vendor_is_refused(tmp_path: Path) -> None:
    from localcloud.sandboxes.avatax import AvaTaxSandbox

    state.write_atomically(state.sandbox_path(tmp_path, "avatax"), _hubspot().state_snapshot())
    with pytest.raises(state.StateError, match="hubspot snapshot"):
        state.load_sandbox(tmp_path, AvaTaxSandbox(account_id="1", license_key="k"))


@mock_aws
def test_the_aws_state_is_written_while_running_not_only_on_stop(tmp_path: Path) -> None:
    """A crash (kill -9) loses at most one interval: the snapshot is already on disk."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    writer = state.Snapshotter(tmp_path, {}, interval_s=0.1)
    writer.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="dead letter")
        deadline = time.monotonic() + 5
        kept: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if state.aws_path(tmp_path).exists():
                kept = _queues(state.aws_path(tmp_path).read_bytes())
                if kept.get("dlq"):
                    break
            time.sleep(0.05)
        assert kept.get("dlq") == ["dead letter"]
    finally:
        writer.stop(final=False)


def _queues(data: bytes) -> dict[str, list[str]]:
    import pickle

    doc = pickle.loads(data)  # noqa: S301 - written by this test
    out: dict[str, list[str]] = {}
    for (service, _, _), backend in doc["backends"].items():
        if service == "sqs":
            for name, queue in backend.queues.items():
                out[name] = [m.body for m in queue._messages]
    return out


def test_state_from_another_moto_is_refused_with_the_way_out(tmp_path: Path) -> None:
    import pickle

    state.write_atomically(
        state.aws_path(tmp_path), pickle.dumps({"format": state.FORMAT, "moto": "0.0.1", "backends": {}})
    )
    with pytest.raises(state.StateError, match="another version"):
        state.load_aws(tmp_path)


def test_reset_deletes_the_kept_state_and_keeps_the_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write_atomically(state.aws_path(tmp_path), b"x")
    state.write_atomically(state.sandbox_path(tmp_path, "stripe"), b"x")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "StripeWebhook.log").write_text("kept\n")
    assert main(["local", "reset", "--state-dir", str(tmp_path)]) == 0
    assert not state.state_root(tmp_path).exists()
    assert (tmp_path / "logs" / "StripeWebhook.log").read_text() == "kept\n"
    assert main(["local", "reset", "--state-dir", str(tmp_path)]) == 0
    assert "no local state" in capsys.readouterr().out


def test_reset_is_refused_while_a_cloud_runs_on_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write_atomically(state.aws_path(tmp_path), b"x")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        (tmp_path / "local.json").write_text(json.dumps({"api_url": f"http://127.0.0.1:{port}"}))
        assert main(["local", "reset", "--state-dir", str(tmp_path)]) == 1
    assert "stop it first" in capsys.readouterr().err
    assert state.aws_path(tmp_path).exists()


def test_local_up_fresh_is_passed_to_the_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr("localcloud.main.run", lambda **kwargs: seen.append(kwargs) or 0)
    assert main(["local", "up", "--fresh", "--state-dir", str(tmp_path)]) == 0
    assert main(["local", "up", "--state-dir", str(tmp_path)]) == 0
    assert [s["fresh"] for s in seen] == [True, False]


def test_netsuite_keeps_its_records_but_not_its_requests_in_flight(tmp_path: Path) -> None:
    """A snapshot taken while requests are in flight must not leave the restored account below its
    concurrency limit forever."""
    from localcloud.sandboxes.netsuite import NetSuiteSandbox

    def netsuite() -> NetSuiteSandbox:
        return NetSuiteSandbox(
            account_id="1234567_SB1",
            consumer_key="ck",
            consumer_secret="cs",
            token_id="ti",
            token_secret="ts",
            concurrency_limit=5,
        )

    before = netsuite()
    before._records["customer"]["77"] = {"id": "77", "companyName": "Kept Ltd"}
    before._in_flight = 5
    state.save_sandbox(tmp_path, before)
    after = netsuite()
    state.load_sandbox(tmp_path, after)
    assert after._records["customer"]["77"]["companyName"] == "Kept Ltd"
    assert after._in_flight == 0


def test_a_cloud_on_unreadable_state_refuses_to_boot_and_says_how_out(tmp_path: Path) -> None:
    """Never a silent empty start over state someone counts on."""
    from localcloud import LocalCloud
    from tests.localcloud.cloud_specs import cloud_kwargs

    state.write_atomically(state.aws_path(tmp_path), b"not a pickle")
    cloud = LocalCloud(api_port=0, aws_port=0, state_dir=tmp_path, **cloud_kwargs(tmp_path / "r.jsonl"))
    with pytest.raises(state.StateError, match="--fresh"):
        cloud.start()
    assert state.aws_path(tmp_path).read_bytes() == b"not a pickle"  # left for the user to decide
