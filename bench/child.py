"""One measured process: ``python -m bench.child '<json spec>'``, started by the benchmark with a
function's own environment. It writes one JSON result line to the file descriptor ``spec["fd"]``; its
stdout and stderr (the function's logs) go wherever the parent points them.

Modes:
  cold   import the handler module, serve one event (``event_file``), report timings and peak RSS (with
         ``record_http``: untimed, also report the vendor HTTP requests the function made, for its floor)
  floor  import boto3 and create ``services`` clients (the cold-start floor); with ``aws`` (a webhook), also
         make the AWS requests an accepted delivery needs: read its secrets, lock, publish, complete
         (``bench.floor_calls``); with ``http`` (a function that reads from a vendor before it publishes),
         also make those requests with a bare ``urllib3.PoolManager`` and parse their JSON replies
  warm   serve ``warmup`` + ``n`` unique deliveries with AWS stubbed, timing the handler and both floors
         (verify + parse; verify + parse + the three AWS calls with bare boto3 clients)
  calls  serve accepted / duplicate / forged / ignored deliveries against moto, counting AWS calls

Only the standard library is imported before the timed part of ``cold`` and ``floor``, and both pay the
same harness, so the two compare like for like.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def _peak_rss_kb() -> int:
    """This process's peak resident set (KiB). ``VmHWM`` starts afresh at exec; ``ru_maxrss`` would not
    (Linux carries the parent's peak across fork + exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def cold(spec: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from localcloud.worker import LambdaContext

    with open(spec["event_file"], encoding="utf-8") as f:
        event = json.load(f)
    sent = _record_http() if spec.get("record_http") else None
    context = LambdaContext(
        spec["request_id"], int(time.time() * 1000) + int(spec.get("deadline_ms", 10_000))
    )
    started = time.perf_counter()
    handler = getattr(importlib.import_module(spec["module"]), spec["attr"])
    imported = time.perf_counter()
    response = handler(event, context)
    done = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "first_event_ms": (done - imported) * 1000,
        "peak_rss_kb": _peak_rss_kb(),
        "response": response,
        **({"http": sent} if sent is not None else {}),
    }


def _record_http() -> list[dict[str, Any]]:
    """Every request made through a ``urllib3.PoolManager`` from now on (the hub's vendor clients use one):
    method, URL, headers and body, as sent."""
    import urllib3

    sent: list[dict[str, Any]] = []
    request = urllib3.PoolManager.request

    def recording(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        sent.append(
            {
                "method": method,
                "url": url,
                "headers": dict(kwargs.get("headers") or {}),
                "body": body.decode("latin-1") if isinstance(body, bytes) else body,
            }
        )
        return request(self, method, url, *args, **kwargs)

    urllib3.PoolManager.request = recording  # type: ignore[method-assign]
    return sent


def floor(spec: dict[str, Any]) -> dict[str, Any]:
    from localcloud.worker import LambdaContext  # the same harness imports as ``cold``

    LambdaContext(spec["request_id"], int(time.time() * 1000) + 10_000)
    started = time.perf_counter()
    import boto3

    clients = [boto3.client(service) for service in spec["services"]]
    aws = spec.get("aws")
    if aws:  # the AWS requests the function's first accepted delivery needs, with the bare clients
        by_service = dict(zip(spec["services"], clients, strict=True))
        for variable in aws["secret_env"]:
            by_service["secretsmanager"].get_secret_value(SecretId=os.environ[variable])
        from bench.floor_calls import lock_publish_complete

        lock_publish_complete(
            by_service["dynamodb"],
            by_service["events"],
            table=os.environ["IDEMPOTENCY_TABLE_NAME"],
            bus=os.environ["EVENT_BUS_NAME"],
            key=f"floor#{spec['request_id']}",
            source="o2c.floor",
            detail=aws["detail"],
        )
    if spec.get("http"):
        import urllib3

        pool = urllib3.PoolManager(retries=False)
        for sent in spec["http"]:
            body = sent["body"]
            reply = pool.request(
                sent["method"],
                sent["url"],
                body=body.encode("latin-1") if isinstance(body, str) else body,
                headers=sent["headers"],
                redirect=False,
            )
            if not 200 <= reply.status < 300:
                raise RuntimeError(f"floor: {sent['method']} {sent['url']} -> {reply.status}")
            if reply.data.strip():
                json.loads(reply.data)
    done = time.perf_counter()
    return {"import_ms": (done - started) * 1000, "clients": len(clients), "peak_rss_kb": _peak_rss_kb()}


def _handler(spec: dict[str, Any]) -> Any:
    import importlib

    return getattr(importlib.import_module(spec["module"]), spec["attr"])


def _outcome(response: dict[str, Any]) -> str:
    status, reply = _reply(response)
    return f"{status} {reply}"


def _reply(response: dict[str, Any]) -> tuple[int, str | None]:
    body = response.get("body") or ""
    try:
        status = json.loads(body).get("status") if body.startswith("{") else None
    except ValueError:
        status = None
    return int(response["statusCode"]), status if isinstance(status, str) else None


def warm(spec: dict[str, Any]) -> dict[str, Any]:
    import gc
    import uuid
    from collections import Counter

    from bench import transport
    from bench.events import ApiEvents
    from bench.webhooks import CASES, ServiceFloor
    from localcloud.worker import LambdaContext

    secrets: list[str] = spec["secrets"]
    calls = transport.stub_calls({"secrets": secrets})
    sdk = transport.time_sdk()
    case = CASES[spec["case"]]
    service_floor = ServiceFloor(case, os.environ["IDEMPOTENCY_TABLE_NAME"], os.environ["EVENT_BUS_NAME"])
    handler = _handler(spec)
    api = ApiEvents(case.function)
    warmup, n = int(spec["warmup"]), int(spec["n"])
    now = int(time.time())
    deliveries = []
    for body in case.accepted_bodies(warmup + n, spec["tag"]):
        headers = case.signed_headers(body, secrets, now)
        deliveries.append((body, headers, api.request(body, headers)))
    deadline_ms = int(time.time() * 1000) + 600_000
    replies: Counter[str] = Counter()
    for body, headers, event in deliveries[:warmup]:
        service_floor(body, headers, secrets)
        replies[_outcome(handler(event, LambdaContext(str(uuid.uuid4()), deadline_ms)))] += 1
    gc.collect()
    handler_ns: list[int] = []
    floor_ns: list[int] = []
    sdk_ns: list[int] = []
    service_floor_ns: list[int] = []
    clock = time.perf_counter_ns
    for body, headers, event in deliveries[warmup:]:
        context = LambdaContext(str(uuid.uuid4()), deadline_ms)
        t0 = clock()
        case.floor(body, headers, secrets)
        t1 = clock()
        service_floor(body, headers, secrets)
        t2 = clock()
        in_sdk = sdk[0]
        response = handler(event, context)
        t3 = clock()
        floor_ns.append(t1 - t0)
        service_floor_ns.append(t2 - t1)
        handler_ns.append(t3 - t2)
        sdk_ns.append(sdk[0] - in_sdk)
        replies[_outcome(response)] += 1

    return {
        "handler_ns": handler_ns,
        "floor_ns": floor_ns,
        "service_floor_ns": service_floor_ns,
        "sdk_ns": sdk_ns,
        "replies": dict(replies),
        "calls": dict(calls),
        "peak_rss_kb": _peak_rss_kb(),
    }


def calls(spec: dict[str, Any]) -> dict[str, Any]:
    import uuid
    from collections import Counter

    from bench import transport
    from bench.events import ApiEvents
    from bench.webhooks import CASES
    from localcloud.worker import LambdaContext

    counts = transport.count_calls()
    case = CASES[spec["case"]]
    handler = _handler(spec)
    api = ApiEvents(case.function)
    secrets: list[str] = spec["secrets"]
    tag = spec["tag"]
    first, accepted, forged = case.accepted_bodies(3, tag)

    def deliver(body: bytes, signing_secrets: list[str]) -> dict[str, Any]:
        before = Counter(counts)
        headers = case.signed_headers(body, signing_secrets, int(time.time()))
        context = LambdaContext(str(uuid.uuid4()), int(time.time() * 1000) + 10_000)
        status, reply = _reply(handler(api.request(body, headers), context))
        ops = Counter(counts)
        ops.subtract(before)
        return {"status": status, "reply": reply, "ops": {op: n for op, n in ops.items() if n}}

    outcomes = {
        "first": deliver(first, secrets),  # the process's first event: fetches the signing secret
        "accepted": deliver(accepted, secrets),
        "duplicate": deliver(accepted, secrets),
        "rejected_signature": deliver(forged, ["whsec_not_the_endpoint_secret"]),
        "ignored": deliver(case.ignored_body(tag), secrets),
    }
    return {"outcomes": outcomes, "total": dict(counts)}


MODES = {"cold": cold, "floor": floor, "warm": warm, "calls": calls}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    result = MODES[spec["mode"]](spec)
    with os.fdopen(int(spec["fd"]), "w", encoding="utf-8") as channel:
        channel.write(json.dumps(result, default=str) + "\n")
    if spec["mode"] in ("cold", "floor"):
        # A cold start ends with the first reply: leave without the interpreter's shutdown, so that an
        # instruction count (valgrind) stops where the wall clock does.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
