"""The local cloud keeps its state across restarts (tables, queues and DLQ messages, secrets, sandbox
records), and ``--fresh`` starts empty. The whole hub, booted three times on one state dir."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from localcloud import LocalCloud
from localcloud.state import aws_path, sandbox_path
from o2c_cli import playbook
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.crm_setup import missing_crm_fields, setup_crm
from o2c_cli.executions import correlator, state_of
from o2c_cli.main import main
from o2c_cli.stripe_client import sample, send
from o2c_cli.targets import local_target
from o2c_cli.trace import trace


def _event() -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:12]
    event = sample("payment_intent.succeeded")
    event["id"] = f"evt_restart{suffix}"
    event["data"]["object"]["id"] = f"pi_restart{suffix}"
    event["data"]["object"].setdefault("metadata", {})["o2c_correlation_id"] = f"corr-restart-{suffix}"
    return event


def _stripe(cloud: LocalCloud, method: str, path: str, form: dict[str, str] | None = None) -> Any:
    api_key = cloud.res.secret_values["StripeApiKey"]["api_key"]  # type: ignore[union-attr]
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(
        cloud.sandboxes["stripe"].url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _dlq(cloud: LocalCloud) -> str:
    return str(cloud.resources["dlqs"]["LineageRecorder"]["url"])


def _dead_letters(cloud: LocalCloud) -> list[str]:
    messages = cloud.client("sqs").receive_message(
        QueueUrl=_dlq(cloud), MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in messages.get("Messages", [])]


def _boot(state_dir: Path, **kwargs: Any) -> LocalCloud:
    return LocalCloud(api_port=0, aws_port=0, state_dir=state_dir, warm_workers=1, **kwargs)


def test_state_survives_a_restart_and_fresh_starts_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    event = _event()
    payment = event["data"]["object"]["id"]
    letter = json.dumps({"detail-type": "PaymentCaptured", "id": f"dead-{uuid.uuid4().hex}"})

    with _boot(tmp_path) as cloud:
        assert not cloud.restored
        secrets = cloud.local_json["secrets"]["stripe_webhook"]
        reply = send(cloud.api_url, event, secrets[:1])
        assert (reply.status, reply.json()) == (200, {"status": "accepted", "eventId": event["id"]})
        cloud.wait_until_idle(timeout=60)
        assert [e.detail_type for e in trace(local_target(tmp_path), payment)] == ["PaymentCaptured"]
        cloud.client("sqs").send_message(QueueUrl=_dlq(cloud), MessageBody=letter)
        status, customer = _stripe(cloud, "POST", "/v1/customers", {"email": "kept@example.com"})
        assert status == 200, customer
        # a won deal whose execution waits for the customer's card when the cloud stops (the CRMs set up
        # first, as a user does: a new portal and org lack the hub's fields)
        setup_crm(local_target(tmp_path))
        deal_id = hubspot_deal(cloud.sandboxes["hubspot"])
        assert cloud.sandboxes["hubspot"].win(deal_id)[0] == 200
        execution = f"hubspot-{deal_id}"
        playbook.wait_until(local_target(tmp_path), execution, state="WaitForPaymentMethod", timeout=90)
        cloud.wait_until_idle(timeout=60)
    assert aws_path(tmp_path).exists() and sandbox_path(tmp_path, "stripe").exists()

    with _boot(tmp_path) as cloud:
        assert cloud.restored
        # the same secrets (a provider keeps signing with the secret it was given)
        assert cloud.local_json["secrets"]["stripe_webhook"] == secrets
        again = send(cloud.api_url, event, secrets[:1])
        assert (again.status, again.json()) == (200, {"status": "duplicate", "eventId": event["id"]})
        assert main(["trace", payment]) == 0
        assert "PaymentCaptured" in capsys.readouterr().out
        assert _dead_letters(cloud) == [letter]
        status, kept = _stripe(cloud, "GET", f"/v1/customers/{customer['id']}")
        assert (status, kept["email"]) == (200, "kept@example.com")
        assert cloud.sandboxes["hubspot"].deal(deal_id)["id"] == deal_id
        assert missing_crm_fields(local_target(tmp_path)) == []  # the CRM setup is kept too
        # the execution's interpreter did not survive: it says so, and what it waited for is kept
        stopped = state_of(local_target(tmp_path), execution)
        assert stopped is not None
        assert (stopped.status, stopped.error) == ("FAILED", "LocalCloud.Restarted")
        wait = correlator(local_target(tmp_path)).waiting_on(execution)
        assert wait is not None and wait.key.startswith("setup:")
        # ... and a redrive runs it again from the state it was in: the card the customer saves now is the
        # one it waits for, and the deal goes on to paid
        assert main(["redrive", deal_id]) == 0
        playbook.save_card(cloud, local_target(tmp_path), execution)
        paid = playbook.wait_until(local_target(tmp_path), execution, status="SUCCEEDED", timeout=120)
        assert paid.current_state == "Paid"
        # the restored sandbox still delivers its webhooks to this run's API
        stripe = cloud.sandboxes["stripe"]
        sub_id = stripe.create_subscription(customer["id"], 1000, "usd", "month", {})
        stripe.wait_for_webhooks(10)
        [delivery] = [w for w in stripe.webhooks_sent if w["type"] == "customer.subscription.created"]
        assert delivery["status"] == 200, delivery
        assert sub_id
        # new records do not reuse the kept ones' ids
        status, other = _stripe(cloud, "POST", "/v1/customers", {"email": "new@example.com"})
        assert status == 200 and other["id"] != customer["id"]

    with _boot(tmp_path, fresh=True) as cloud:
        assert not cloud.restored
        assert trace(local_target(tmp_path), payment) == []
        assert _dead_letters(cloud) == []
        status, _ = _stripe(cloud, "GET", f"/v1/customers/{customer['id']}")
        assert status == 404
        fresh_secrets = cloud.local_json["secrets"]["stripe_webhook"]
        assert fresh_secrets != secrets
        first = send(cloud.api_url, event, fresh_secrets[:1])
        assert (first.status, first.json()) == (200, {"status": "accepted", "eventId": event["id"]})
        cloud.wait_until_idle(timeout=60)
