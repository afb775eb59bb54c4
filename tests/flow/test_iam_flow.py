"""IAM enforced in the local cloud, as on AWS.

Each function's workers act as its own role, holding exactly the policy ``infra.iam`` derives from the
topology (``tests/infra/test_local_iam.py``: the synthesized template's); a grant taken away fails the flow with
AccessDenied. ``o2c --as operator`` acts with the operator policy and can run every command; ``--as readonly``
with the read-only one follows a deal but cannot approve it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.iam import OPERATOR_COMMANDS, function_statements, policy_document, state_machine_statements
from localcloud.iam import function_policy_name, role_name
from localcloud.provision import ACCOUNT_ID
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.executions import state_of
from o2c_cli.main import main
from o2c_cli.stripe_client import sample, send
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import big_deal, save_card, wait_until

ID_PATTERN = re.compile(r'"((?:evt|pi|ch|cus|pm)_[A-Za-z0-9]+|corr-[\w-]+)"')


def fresh_payment() -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:12]
    text = ID_PATTERN.sub(lambda m: f'"{m.group(1)}{suffix}"', json.dumps(sample("payment_intent.succeeded")))
    event: dict[str, Any] = json.loads(text)
    return event


def payout_paid(tag: str) -> dict[str, Any]:
    """A canonical event as EventBridge delivers it to a consumer's queue."""
    metadata = {
        "eventId": f"ev-{tag}",
        "correlationId": f"corr-ev-{tag}",
        "causationId": None,
        "occurredAt": "2026-11-27T10:00:00Z",
        "schemaVersion": "1",
        "sourceSystem": "stripe",
        "sourceEventId": None,
    }
    data = {
        "payoutId": f"po_{tag}",
        "amount": {"amount": 100, "currency": "USD"},
        "arrivalDate": "2026-11-29T00:00:00Z",
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "PayoutPaid",
        "source": "o2c.payments",
        "account": ACCOUNT_ID,
        "time": "2026-11-27T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"metadata": metadata, "data": data},
    }


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_every_function_acts_as_its_own_role_holding_exactly_its_policy(hub: Hub) -> None:
    cloud = hub.cloud
    iam, sts = cloud.client("iam"), cloud.client("sts")
    assert set(cloud.pools) == set(cloud.functions)
    for fn_id, pool in cloud.pools.items():
        role = role_name(cloud.stage, fn_id)
        held = iam.get_role_policy(RoleName=role, PolicyName=function_policy_name(fn_id))["PolicyDocument"]
        assert held == policy_document(function_statements(cloud.functions[fn_id], cloud.local_arns))
        assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        identity = _client(cloud, pool.env, "sts").get_caller_identity()["Arn"]
        assert identity == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/o2c-{cloud.stage}-{fn_id}"
    assert sts.get_caller_identity()["Account"] == ACCOUNT_ID
    # the state machine's role, which moto's interpreter invokes the tasks and publishes with
    held = iam.get_role_policy(RoleName=f"o2c-{cloud.stage}-QuoteToCashRole", PolicyName="QuoteToCashPolicy")
    tasks = [t for t in cloud.task_specs if t.state_machine_task]
    assert held["PolicyDocument"] == policy_document(state_machine_statements(cloud.local_arns, tasks=tasks))
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    interpreter: Any = lambda_eval_utils.boto_client_for(
        "us-east-1", "sts"
    )  # what invokes the task functions
    assert interpreter.get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/o2c-{cloud.stage}-QuoteToCashRole/o2c-{cloud.stage}-quote-to-cash"
    )


def _client(cloud: Any, env: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=cloud.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


def test_a_call_outside_a_functions_policy_is_refused_as_aws_refuses_it(hub: Hub) -> None:
    """The webhook may read and write its idempotency records, not scan them nor touch another table."""
    cloud = hub.cloud
    ddb = cloud.function_client("StripeWebhook", "dynamodb")
    tables = cloud.resources["tables"]
    ddb.get_item(TableName=tables["IdempotencyTable"], Key={"id": {"S": "nothing"}})
    for call in (
        lambda: ddb.scan(TableName=tables["IdempotencyTable"]),
        lambda: ddb.get_item(TableName=tables["LineageTable"], Key={"pk": {"S": "x"}, "sk": {"S": "y"}}),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        error = refused.value.response["Error"]
        assert error["Code"] == "AccessDeniedException"
        assert error["Message"].startswith(
            f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name(cloud.stage, 'StripeWebhook')}/"
        )
        assert "because no identity-based policy allows the dynamodb:" in error["Message"]
    s3 = cloud.function_client("StripeWebhook", "s3")  # publishers put claim checks, never read them
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=cloud.resources["claim_check_bucket"], Key="events/x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_webhook_without_its_put_events_grant_fails_with_access_denied_until_it_is_back(hub: Hub) -> None:
    cloud = hub.cloud
    iam = cloud.client("iam")
    role, policy = role_name(cloud.stage, "StripeWebhook"), function_policy_name("StripeWebhook")
    granted = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    without = {
        **granted,
        "Statement": [s for s in granted["Statement"] if s["Action"] != ["events:PutEvents"]],
    }
    assert len(without["Statement"]) == len(granted["Statement"]) - 1
    log = cloud.logs_dir / "StripeWebhook.log"
    seen = log.stat().st_size if log.exists() else 0

    event = fresh_payment()
    payment = event["data"]["object"]["id"]
    iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(without))
    try:
        reply = send(hub.api, event, hub.stripe_secrets[:1])
        # not acknowledged: Stripe delivers it again later
        assert reply.status >= 500, (reply.status, reply.text)
        refusals = log.read_text(errors="replace")[seen:]
        assert "AccessDeniedException" in refusals
        assert f"events:PutEvents on resource: {cloud.resources['event_bus']['arn']}" in refusals
        hub.settle()
        assert trace(hub.target, payment) == []
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(granted))

    # Stripe's next delivery of the same event goes through once the grant is back
    reply = send(hub.api, event, hub.stripe_secrets[:1])
    assert (reply.status, reply.json()["status"]) == (200, "accepted")
    hub.settle()
    assert [e.detail_type for e in trace(hub.target, payment)] == ["PaymentCaptured"]


# --- the operators ---------------------------------------------------------------------------------------------


def o2c(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def big_deal_waiting_for_approval(hub: Hub) -> tuple[str, str]:
    """A deal above the local approval threshold (50,000.00 EUR), its card saved: it waits for an approver."""
    sandbox = hub.cloud.sandboxes["hubspot"]
    slug = uuid.uuid4().hex[:8]
    deal_id = big_deal(sandbox, f"Approval {slug}", "61000.00")
    assert sandbox.win(deal_id)[0] == 200
    name = f"hubspot-{deal_id}"
    save_card(hub, name)
    assert wait_until(hub, name, state="WaitForApproval").waiting_on == f"approval:{name}"
    return deal_id, name


def test_the_read_only_operator_follows_a_deal_but_cannot_approve_it(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    deal_id, name = big_deal_waiting_for_approval(hub)

    code, out, _ = o2c(capsys, "status", deal_id, "--as", "readonly")
    assert code == 0 and "WaitForApproval" in out
    code, out, _ = o2c(capsys, "trace", deal_id, "--as", "readonly")
    assert code == 0 and "OpportunityClosedWon" in out

    code, out, err = o2c(capsys, "approve", deal_id, "--as", "readonly")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        f"o2c: access denied: User: arn:aws:iam::{ACCOUNT_ID}:user/o2c-{hub.cloud.stage}-readonly is not "
        "authorized to perform: dynamodb:UpdateItem on resource: "
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/{hub.cloud.resources['tables']['CorrelationTable']}"
    ), err
    # nothing was recorded: the deal still waits for its approval
    state = state_of(hub.target, name)
    assert state is not None and state.waiting_on == f"approval:{name}"

    code, out, _ = o2c(capsys, "approve", deal_id, "--as", "operator", "--by", "cfo")
    assert code == 0 and f"approved {name}" in out
    wait_until(hub, name, status="SUCCEEDED")


def test_every_o2c_command_works_with_only_the_operator_policy(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    monkeypatch.setenv("O2C_AS", "operator")  # every command below, as `--as operator` does
    ran: set[str] = set()

    def run(command: str, *args: str, expect: tuple[int, ...] = (0,)) -> str:
        code, out, err = o2c(capsys, *command.split(), *args)
        assert "access denied" not in err, err
        assert code in expect, (command, code, out, err)
        ran.add(command)
        return out

    deal_id, name = big_deal_waiting_for_approval(hub)
    run("trace", deal_id)
    run("status", deal_id)
    run("approve", deal_id, "--by", "cfo")
    wait_until(hub, name, status="SUCCEEDED")
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    run("refund", intent["id"], "--amount", "1.00", "--by", "test")
    run("resync", deal_id)
    run("reconcile", "--no-publish", "--json", expect=(0, 1))  # 1: the day has exceptions to report
    run("setup crm", "--check")
    run("doctor", "--json", expect=(0, 1))  # its findings are the stage's, not the policy's
    run("smoke", expect=(0, 1))
    run("replay", "--from", "2026-01-01", "--to", "2026-01-02", "--wait", "30", expect=(0, 1))
    run("pending list")
    run("pending release")
    # a dead letter the lineage recorder can record, moved back by the operator with what was parked before
    dlq = hub.target.consumers["LineageRecorder"].dlq_url
    parked = hub.dlq_depth()
    tag = uuid.uuid4().hex[:10]
    hub.cloud.client("sqs").send_message(QueueUrl=dlq, MessageBody=json.dumps(payout_paid(tag)))
    assert "LineageRecorder" in run("dlq list")
    assert f"redrove {parked + 1} message" in run("dlq redrive", "LineageRecorder")
    wait_for(lambda: [e.event_id for e in trace(hub.target, f"po_{tag}")] == [f"ev-{tag}"])
    wait_for(lambda: hub.dlq_depth() == parked, timeout=90)  # other tests' poison is parked again

    # on hold for sales operations, released by the operator
    sandbox = hub.cloud.sandboxes["hubspot"]
    held = hubspot_deal(sandbox, name="Held via IAM", complete=False)
    assert sandbox.win(held)[0] == 200
    wait_until(hub, f"hubspot-{held}", state="WaitForAccountFix")
    run("hold release", held)

    # a succeeded execution is not redrivable: Step Functions refuses it, IAM did not
    run("redrive", name, expect=(1,))
    monkeypatch.setenv("O2C_AS", "readonly")
    code, _, err = o2c(capsys, "redrive", name)
    assert code == 1 and "access denied:" in err and "states:RedriveExecution" in err

    # rollback acts on a deployed stack only (the local cloud has no deployments); the console is a server whose
    # calls are the commands' above plus its listings (tests/infra/test_operator_policy.py checks its grants)
    assert ran == set(OPERATOR_COMMANDS) - {"rollback", "console"}
