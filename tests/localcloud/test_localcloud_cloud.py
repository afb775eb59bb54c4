"""The embedded local cloud's machinery, with test handlers (not the real functions)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import topology
from infra.topology import Resolved, function_environment
from localcloud import LocalCloud
from localcloud.workers import PLUMBING_KEYS
from tests.localcloud.cloud_specs import MAX_RECEIVE_COUNT, TEST_SOURCE, cloud_kwargs

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state = tmp_path_factory.mktemp("o2c")
    kwargs = cloud_kwargs(state / "records.jsonl")
    with LocalCloud(api_port=0, aws_port=0, state_dir=state, warm_workers=2, **kwargs) as c:
        yield c
        pids = [pid for pids in c.worker_pids().values() for pid in pids]
    assert pids
    assert not [pid for pid in pids if _alive(pid)], "workers outlived the cloud"
    assert not (state / "local.json").exists()


def request(
    cloud: LocalCloud,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes, http.client.HTTPResponse]:
    host, port = cloud.api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, resp


def records(cloud: LocalCloud) -> list[dict[str, Any]]:
    path = cloud.state_dir / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- boot, local.json, resources ---------------------------------------------------------------------
def test_local_json_written_when_ready(cloud: LocalCloud) -> None:
    doc = json.loads((cloud.state_dir / "local.json").read_text())
    assert doc == cloud.local_json
    assert doc["api_url"] == cloud.api_url and doc["aws_endpoint_url"] == cloud.aws_endpoint_url
    assert doc["region"] == "us-east-1" and doc["stage"] == "local" and doc["sandboxes"] == {}
    whsecs = doc["secrets"]["stripe_webhook"]
    assert len(whsecs) == 2 and len(set(whsecs)) == 2
    assert all(re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", s) for s in whsecs)
    stored = cloud.client("secretsmanager").get_secret_value(
        SecretId=doc["resources"]["secrets"]["StripeWebhookSecret"]
    )
    assert json.loads(stored["SecretString"]) == {"secrets": whsecs}


def test_resources_match_topology(cloud: LocalCloud) -> None:
    res = cloud.resources
    ddb = cloud.client("dynamodb")
    assert res["tables"] == {t.id: f"o2c-local-{t.id}" for t in topology.TABLES}
    table = ddb.describe_table(TableName="o2c-local-LineageTable")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    ttl = ddb.describe_time_to_live(TableName="o2c-local-IdempotencyTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}

    sqs = cloud.client("sqs")
    q = res["queues"]["Recorder"]
    dlq = res["dlqs"]["Recorder"]
    assert q["name"] == "o2c-local-RecorderQueue" and dlq["name"] == "o2c-local-RecorderDlq"
    attrs = sqs.get_queue_attributes(QueueUrl=q["url"], AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "31"  # 6 x the 5 s function timeout + the 1 s batching window
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["arn"],
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert attrs["SqsManagedSseEnabled"] == "true"
    policy = json.loads(attrs["Policy"])["Statement"][0]
    assert (
        policy["Principal"] == {"Service": "events.amazonaws.com"} and policy["Action"] == "sqs:SendMessage"
    )

    events = cloud.client("events")
    assert res["event_bus"]["name"] == "o2c-local"
    rule = events.describe_rule(Name=res["rules"]["Recorder"]["name"], EventBusName="o2c-local")
    assert json.loads(rule["EventPattern"]) == {"source": [TEST_SOURCE]}
    (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName="o2c-local")["Targets"]
    assert target["Arn"] == q["arn"] and target["DeadLetterConfig"] == {"Arn": dlq["arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    assert events.list_archives()["Archives"][0]["ArchiveName"] == res["archive"]


# -- API Gateway front -------------------------------------------------------------------------------
def test_unknown_route_is_404_problem(cloud: LocalCloud) -> None:
    status, headers, body, _ = request(cloud, "POST", "/webhooks/nope", b"{}")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "about:blank" and problem["title"] == "Not Found" and problem["status"] == 404
    assert problem["detail"]


def test_wrong_method_is_405_problem_with_allow(cloud: LocalCloud) -> None:
    status, headers, body, _ = request(cloud, "GET", "/webhooks/echo")
    assert status == 405
    assert headers["allow"] == "POST"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["title"] == "Method Not Allowed" and json.loads(body)["status"] == 405


def test_body_over_10mb_is_413(cloud: LocalCloud) -> None:
    host, port = cloud.api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/webhooks/echo")
    conn.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    assert resp.getheader("Content-Type") == "application/problem+json"
    assert json.loads(resp.read())["status"] == 413
    conn.close()


def test_raw_body_arrives_byte_identical(cloud: LocalCloud) -> None:
    body = '{"id":"evt_1",  "amount": 1999,\r\n "name":"Zoë ✓"}\n'.encode()
    status, headers, data, resp = request(
        cloud, "POST", "/webhooks/echo?x=1&x=2&y=", body, {"Content-Type": "application/json", "X-Dup": "a"}
    )
    assert status == 200, data
    out = json.loads(data)
    assert out["sha256"] == hashlib.sha256(body).hexdigest() and out["length"] == len(body)
    event = out["event"]
    assert event["isBase64Encoded"] is False
    assert event["resource"] == "/webhooks/echo" and event["path"] == "/webhooks/echo"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    ctx = event["requestContext"]
    assert ctx["path"] == "/local/webhooks/echo" and ctx["stage"] == "local"
    assert ctx["resourcePath"] == "/webhooks/echo" and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] and isinstance(ctx["requestTimeEpoch"], int)
    # The Lambda context
    assert out["context"]["function_name"] == "o2c-local-Echo"
    assert int(out["context"]["memory_limit_in_mb"]) == 512
    assert 0 < out["context"]["remaining_ms"] <= 10_000
    # Response headers and multi-value headers are written back
    assert headers["content-type"] == "application/json"
    assert resp.msg.get_all("X-Multi") == ["a", "b"]

    binary = b"\xff\xfe\x00 not utf-8 \x80"
    status, _, data, _ = request(cloud, "POST", "/webhooks/echo", binary)
    out = json.loads(data)
    assert out["event"]["isBase64Encoded"] is True
    assert out["sha256"] == hashlib.sha256(binary).hexdigest()


def test_path_parameters(cloud: LocalCloud) -> None:
    status, _, data, _ = request(cloud, "PUT", "/webhooks/other/acme", b"x")
    assert status == 200
    event = json.loads(data)["event"]
    assert event["pathParameters"] == {"name": "acme"} and event["resource"] == "/webhooks/other/{name}"


def test_concurrent_requests_run_in_parallel(cloud: LocalCloud) -> None:
    results: list[dict[str, Any]] = []

    def call() -> None:
        _, _, data, _ = request(cloud, "POST", "/webhooks/echo", b"same delivery", {"X-Sleep": "1.0"})
        results.append(json.loads(data))

    started = time.perf_counter()
    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    assert len(results) == 2
    assert results[0]["pid"] != results[1]["pid"]
    assert elapsed < 1.9, f"requests were serialised ({elapsed:.2f}s)"


def test_each_worker_sees_only_its_functions_environment(cloud: LocalCloud) -> None:
    assert cloud.res is not None
    resolved = Resolved(
        stage="local",
        table_names=cloud.res.tables,
        secret_refs=cloud.res.secrets,
        event_bus_name="o2c-local",
        claim_check_bucket=cloud.res.claim_check_bucket,
    )
    for fn_id, path, method in (("Echo", "/webhooks/echo", "POST"), ("Other", "/webhooks/other/x", "PUT")):
        _, _, data, _ = request(cloud, method, path, b"{}")
        env = json.loads(data)["env"]
        expected = function_environment(cloud.functions[fn_id], resolved)
        assert set(env) - {"LC_CTYPE"} == set(expected) | PLUMBING_KEYS
        assert {k: env[k] for k in expected} == expected
        assert env["AWS_ENDPOINT_URL"] == cloud.aws_endpoint_url
    assert "OTHER_ONLY_SETTING" not in env or fn_id == "Other"
    _, _, data, _ = request(cloud, "POST", "/webhooks/echo", b"{}")
    echo_env = json.loads(data)["env"]
    assert "OTHER_ONLY_SETTING" not in echo_env and "LINEAGE_TABLE_NAME" not in echo_env
    assert echo_env["STRIPE_WEBHOOK_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert echo_env["EVENT_BUS_NAME"] == "o2c-local"
    # nothing from the test process leaks in
    assert "PYTEST_CURRENT_TEST" not in echo_env and "HOME" not in echo_env


def test_function_errors_are_502_and_dead_workers_replaced(cloud: LocalCloud) -> None:
    for how in ("raise", "exit", "malformed"):
        status, headers, data, _ = request(cloud, "POST", "/webhooks/echo", b"{}", {"X-Fail": how})
        assert status == 502, how
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(data)["status"] == 502
    status, _, _, _ = request(cloud, "POST", "/webhooks/echo", b"{}")
    assert status == 200


def test_timeout_kills_and_replaces_the_worker(cloud: LocalCloud) -> None:
    started = time.perf_counter()
    status, _, _, _ = request(cloud, "PUT", "/webhooks/other/slow", b"{}", {"X-Sleep": "5"})
    assert status == 502
    assert time.perf_counter() - started < 3.5  # Other's timeout is 1 s
    assert request(cloud, "PUT", "/webhooks/other/ok", b"{}")[0] == 200


def test_direct_invoke(cloud: LocalCloud) -> None:
    out = cloud.invoke("Echo", {"body": "hi", "headers": {}})
    assert out["ok"] and out["result"]["statusCode"] == 200
    assert json.loads(out["result"]["body"])["sha256"] == hashlib.sha256(b"hi").hexdigest()
    assert cloud.invoke("Echo", {"headers": {"X-Fail": "raise"}})["error"]["type"] == "RuntimeError"


def test_worker_output_goes_to_the_function_log(cloud: LocalCloud) -> None:
    request(cloud, "POST", "/webhooks/echo", b"log me")
    log = (cloud.state_dir / "logs" / "Echo.log").read_text()
    assert '"message": "echo"' in log
    assert "RuntimeError: boom" in log  # the handler's traceback


# -- EventBridge → SQS → consumer ---------------------------------------------------------------------
def test_put_events_reach_the_consumer_and_poison_goes_to_the_dlq(cloud: LocalCloud) -> None:
    events = cloud.client("events")
    entries = [
        {
            "Source": TEST_SOURCE,
            "DetailType": "Thing",
            "Detail": json.dumps({"n": i}),
            "EventBusName": "o2c-local",
        }
        for i in range(3)
    ]
    entries.append(
        {
            "Source": TEST_SOURCE,
            "DetailType": "Thing",
            "Detail": json.dumps({"poison": 1}),
            "EventBusName": "o2c-local",
        }
    )
    entries.append(  # not matched by the rule
        {"Source": "someone.else", "DetailType": "Thing", "Detail": "{}", "EventBusName": "o2c-local"}
    )
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    cloud.wait_until_idle(timeout=20)

    seen = records(cloud)
    details = [json.loads(r["body"])["detail"] for r in seen]
    assert sorted(d["n"] for d in details if "n" in d) == [0, 1, 2]  # each good one exactly once
    poison = [r for r in seen if "poison" in r["body"]]
    assert [r["receiveCount"] for r in poison] == [str(n) for n in range(1, MAX_RECEIVE_COUNT + 1)]
    assert all(r["eventSource"] == "aws:sqs" for r in seen)
    assert all(r["eventSourceARN"] == cloud.resources["queues"]["Recorder"]["arn"] for r in seen)
    assert max(r["batch"] for r in seen) >= 2  # batched, and the good ones were not retried with the poison
    envelope = json.loads(poison[0]["body"])
    assert envelope["source"] == TEST_SOURCE and envelope["detail-type"] == "Thing"

    sqs = cloud.client("sqs")
    dlq = sqs.receive_message(QueueUrl=cloud.resources["dlqs"]["Recorder"]["url"], MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in dlq.get("Messages", [])]
    assert [b["detail"] for b in bodies] == [{"poison": 1}]


def test_busy_port_fails_fast_without_leftovers(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        with pytest.raises(OSError, match=f"port {port}"):
            LocalCloud(api_port=port, aws_port=0, state_dir=tmp_path).start()
        assert time.perf_counter() - started < 1
    assert not (tmp_path / "local.json").exists()


# -- the foreground command ------------------------------------------------------------------------------
def test_run_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from localcloud.main import run; "
        "from tests.localcloud.cloud_specs import cloud_kwargs; "
        f"sys.exit(run(0, 0, Path({str(tmp_path)!r}), **cloud_kwargs(Path({str(tmp_path / 'r.jsonl')!r}))))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "local.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        api_url = json.loads((tmp_path / "local.json").read_text())["api_url"]
        assert api_url.startswith("http://127.0.0.1:")
        children = _children(proc.pid)
        assert len(children) >= 3
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    assert not (tmp_path / "local.json").exists()
    assert not [pid for pid in children if _alive(pid)]
