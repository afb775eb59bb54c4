"""Cold start and peak memory of each function, next to the floor of the clients it needs.

A cold start is a fresh ``python`` process, started with the function's own local-cloud environment,
that imports the handler module and serves its first event (AWS answered by moto) — measured from spawn
to the handler's reply. Its floor is a fresh process in the same environment that imports boto3 and
creates exactly the clients the function uses (derived from ``infra/topology.py``: tables → dynamodb,
secrets → secretsmanager, publishing → events), and, for a budgeted function (the webhooks and the
partner ingest), makes with them the AWS requests its first accepted delivery needs: each secret read once,
the conditional lock on the event id, the PutEvents, the completion (``bench.floor_calls``; the function
makes the same requests to the same moto, so moto's answer time is on both sides). A function that reads
from a vendor before it publishes (HubSpot's and Salesforce's webhooks re-read the deal) also makes the
same vendor HTTP requests the function made in its own cold start (recorded once, untimed) with a bare
``urllib3.PoolManager``: what any correct implementation must do. Runs are interleaved (function, floor,
function, floor ...) so both see the same machine load; medians are reported.

Both run with a bytecode cache (``PYTHONPYCACHEPREFIX``, filled by one untimed run of each first), as the
Lambda runtime's own boto3 does; ``bench/README.md`` discusses what the layer's missing bytecode costs.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cloud import BenchCloud
from bench.deployed import DeployedPython
from bench.events import ApiEvents, canonical_batch, eventbridge_message, sqs_batch
from bench.processes import ChildError, run_child
from bench.results import Results, median, rounded
from bench.webhooks import CASES, PREPARED, WebhookCase
from infra import topology
from infra.topology import FunctionSpec

COLD_START_BUDGET = 1.25  # x floor, every webhook function

FloorKey = tuple[tuple[str, ...], bool, str]  # (clients, as deployed, provider whose vendor reads it makes)


def _floor_label(key: FloorKey) -> str:
    return "-".join(key[0]) + (f"-{key[2]}-reads" if key[2] else "") + ("-deployed" if key[1] else "")


def floor_services(fn: FunctionSpec) -> tuple[str, ...]:
    """The boto3 clients ``fn`` creates, from what the topology grants it."""
    services = []
    if fn.tables:
        services.append("dynamodb")
    if fn.publishes_events:
        services.append("events")
    if fn.secrets:
        services.append("secretsmanager")
    return tuple(services)


@dataclass
class Target:
    name: str
    function: FunctionSpec
    module: str
    attr: str
    first_event: Callable[[BenchCloud, str], dict[str, Any]]
    accepts: Callable[[dict[str, Any]], bool]
    budgeted: bool = False
    #: None: the venv's Python with the benchmark's bytecode cache; "bytecode": as deployed (the runtime's
    #: Python, the layer with the bytecode it ships); "source": as deployed but the layer without bytecode.
    deployed: str | None = None
    env_overrides: dict[str, str | None] = field(default_factory=dict)
    #: The provider whose vendor HTTP requests the floor makes too ("" for none).
    vendor_reads: str = ""
    walls: list[float] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def services(self) -> tuple[str, ...]:
        return floor_services(self.function)

    @property
    def floor_key(self) -> FloorKey:
        """Targets sharing a floor: the same clients and vendor requests, on the same Python (venv or as
        deployed)."""
        return self.services, self.deployed is not None, self.vendor_reads


def _webhook_event(case: WebhookCase) -> Callable[[BenchCloud, str], dict[str, Any]]:
    def build(cloud: BenchCloud, tag: str) -> dict[str, Any]:
        (body,) = case.accepted_bodies(1, tag)
        headers = case.signed_headers(body, cloud.signing_secrets(case), int(time.time()))
        return ApiEvents(case.function).request(body, headers)

    return build


def _consumer_event(cloud: BenchCloud, tag: str) -> dict[str, Any]:
    (body,) = CASES["stripe"].accepted_bodies(1, tag)
    return canonical_batch(body, cloud.bus_name, "arn:aws:sqs:us-east-1:123456789012:bench")


def _relay_event(cloud: BenchCloud, tag: str) -> dict[str, Any]:
    """A won Opportunity's platform event (``O2C_Opportunity_Won__e``) from Salesforce Event Relay, as the
    partner bus's rule delivers it to PartnerEventIngest's queue."""
    from shared.inbound.partner import WON_PLATFORM_EVENT

    partner = topology.SALESFORCE_PARTNER_BUS
    detail = {
        "payload": {
            "OpportunityId__c": PREPARED["salesforce"]["opportunity_id"],
            "CreatedDate": "2026-11-27T10:00:00.000Z",
        },
        "schemaId": "0XSdemo",
        "id": str(uuid.UUID(int=int(tag, 16))),
    }
    event = eventbridge_message(WON_PLATFORM_EVENT, partner.local_event_source, detail, partner.id)
    return sqs_batch([event], "arn:aws:sqs:us-east-1:123456789012:bench-partner")


def _accepted(response: dict[str, Any]) -> bool:
    try:
        return response.get("statusCode") == 200 and json.loads(response["body"])["status"] == "accepted"
    except (KeyError, TypeError, ValueError):
        return False


def _batch_ok(response: dict[str, Any]) -> bool:
    return isinstance(response, dict) and response.get("batchItemFailures") == []


# X-Ray as deployed (Tracing.ACTIVE): the Lambda runtime sets the trace header; segments go over UDP to a
# daemon that is not there, which costs a sendto and nothing else.
TRACED = {
    "POWERTOOLS_TRACE_DISABLED": None,
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}


def targets(*, deployed: bool = False, cases: Sequence[WebhookCase] | None = None) -> list[Target]:
    out: list[Target] = []
    chosen = list(CASES.values()) if cases is None else list(cases)
    for case in chosen:
        fn = case.function
        accepts = case.accepted or _accepted
        reads = case.provider if case.vendor_reads else ""
        out.append(
            Target(
                fn.id,
                fn,
                fn.module,
                fn.handler_attr,
                _webhook_event(case),
                accepts,
                budgeted=True,
                vendor_reads=reads,
            )
        )
        if deployed:
            for mode, suffix, budgeted in (
                ("bytecode", "deployed", True),
                ("source", "deployed_source", False),
            ):
                out.append(
                    Target(
                        f"{fn.id}.{suffix}",
                        fn,
                        fn.module,
                        fn.handler_attr,
                        _webhook_event(case),
                        accepts,
                        budgeted=budgeted,
                        deployed=mode,
                        vendor_reads=reads,
                    )
                )
        out.append(
            Target(
                f"{fn.id}.traced",
                fn,
                fn.module,
                fn.handler_attr,
                _webhook_event(case),
                accepts,
                env_overrides=TRACED,
                vendor_reads=reads,
            )
        )
        if case.peer_module:
            out.append(
                Target(
                    f"peer.{case.provider}",
                    fn,
                    case.peer_module,
                    "lambda_handler",
                    _webhook_event(case),
                    _accepted,
                )
            )
    if any(case.provider == "salesforce" for case in chosen):
        # the partner buses' consumer, with a Salesforce Event Relay event for the prepared Opportunity:
        # it re-reads the Opportunity before publishing, as the Outbound Message's webhook does
        fn = topology.PARTNER_EVENT_INGEST
        for mode, suffix in ((None, ""), *((("bytecode", ".deployed"),) if deployed else ())):
            out.append(
                Target(
                    f"{fn.id}{suffix}",
                    fn,
                    fn.module,
                    fn.handler_attr,
                    _relay_event,
                    _batch_ok,
                    budgeted=True,
                    deployed=mode,
                    vendor_reads="partner",
                )
            )
    fn = topology.LINEAGE_RECORDER  # the consumer of every canonical event
    out.append(Target(fn.id, fn, fn.module, fn.handler_attr, _consumer_event, _batch_ok))
    return out


def _env(
    cloud: BenchCloud, target: Target, pycache: Path, deployed: DeployedPython | None, *, floor: bool = False
) -> dict[str, str]:
    if target.deployed is None:
        env = cloud.environment(target.function, pycache)
    else:  # read-only code and layer: bytecode only where the layer and the runtime ship it
        assert deployed is not None
        env = cloud.environment(target.function)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # ``-m bench.child`` would put the working directory (the repository) first on sys.path, and
        # ``shared`` would be read from the repository's sources instead of the layer: Lambda's order is
        # the function's code, then the layer, then the runtime.
        env["PYTHONSAFEPATH"] = "1"
        env["PYTHONPATH"] = deployed.pythonpath(
            target.function.code_dir, with_layer=not floor, bytecode=target.deployed == "bytecode"
        )
    for key, value in target.env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _budget_fields(target: Target, ratio: float) -> dict[str, Any]:
    """The budget of a budgeted target's line (its ``ok`` honest), nothing for the others."""
    if not target.budgeted:
        return {}
    return {"budget": f"ratio <= {COLD_START_BUDGET}", "ok": ratio <= COLD_START_BUDGET}


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]


def _instructions(out: Path) -> int:
    """Instructions executed (``summary:`` of a callgrind output file)."""
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ChildError(f"no instruction count in {out}")


def run(
    cloud: BenchCloud,
    results: Results,
    *,
    runs: int,
    work_dir: Path,
    fill_cache: bool,
    instructions: bool = False,
    deployed: DeployedPython | None = None,
    cases: Sequence[WebhookCase] | None = None,
) -> None:
    """``cases``: the webhook cases measured (default: every one, ``CASES``)."""
    pycache = work_dir / "pycache"
    logs = work_dir / "logs"
    events_dir = work_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    measured = list(CASES.values()) if cases is None else list(cases)
    for case in measured:
        if case.prepare is not None and case.provider not in PREPARED:
            case.prepare(cloud)
    all_targets = targets(deployed=deployed is not None, cases=measured)
    floors: dict[FloorKey, Target] = {}
    for t in all_targets:
        floors.setdefault(t.floor_key, t)
    floor_walls: dict[FloorKey, list[float]] = {s: [] for s in floors}
    floor_results: dict[FloorKey, list[dict[str, Any]]] = {s: [] for s in floors}

    def python(target: Target) -> str | None:
        return deployed.python if target.deployed is not None and deployed is not None else None

    def cold(
        target: Target, prefix: Sequence[str] = (), *, record_http: bool = False
    ) -> tuple[float, dict[str, Any]]:
        tag = uuid.uuid4().hex[:10]
        event_file = events_dir / f"{target.name}-{tag}.json"
        event_file.write_text(json.dumps(target.first_event(cloud, tag)), encoding="utf-8")
        spec = {
            "mode": "cold",
            "module": target.module,
            "attr": target.attr,
            "event_file": str(event_file),
            "request_id": str(uuid.uuid4()),
            "record_http": record_http,
            # the function's own timeout; under valgrind (~50x slower) a function that calls a vendor
            # would run out of it before its first reply, and the count would stop at a 503
            "deadline_ms": 600_000 if prefix else target.function.timeout_s * 1000,
        }
        env = _env(cloud, target, pycache, deployed)
        wall, result = run_child(
            spec, env, logs / f"cold-{target.name}.log", prefix=prefix, timeout_s=600, python=python(target)
        )
        event_file.unlink()
        if not target.accepts(result["response"]):
            raise ChildError(f"{target.name}: first event not served: {result['response']}")
        return wall, result

    def floor(key: FloorKey, prefix: Sequence[str] = ()) -> tuple[float, dict[str, Any]]:
        target = floors[key]
        services = key[0]
        spec: dict[str, Any] = {
            "mode": "floor",
            "services": list(services),
            "request_id": str(uuid.uuid4()),
            "http": vendor_requests[key[2]] if key[2] else [],
        }
        if target.budgeted:
            # what its first accepted delivery needs from AWS: its secrets read once, the lock, the publish,
            # the completion (the function makes the same requests to the same moto)
            spec["aws"] = {
                "secret_env": [topology.SECRETS_BY_ID[s].env_var for s in target.function.secrets],
                "detail": json.dumps({"floor": True, "request": spec["request_id"]}),
            }
        env = _env(cloud, target, pycache, deployed, floor=True)
        log = logs / f"floor-{_floor_label(key)}.log"
        return run_child(spec, env, log, prefix=prefix, timeout_s=600, python=python(target))

    # untimed: the vendor requests each reading function makes in its cold start, for its floor to make too
    vendor_requests: dict[str, list[dict[str, Any]]] = {}
    for t in all_targets:
        if t.vendor_reads and t.deployed is None and t.vendor_reads not in vendor_requests:
            vendor_requests[t.vendor_reads] = cold(t, record_http=True)[1]["http"]
            if not vendor_requests[t.vendor_reads]:
                raise ChildError(f"{t.name}: its first event made no vendor request")

    if fill_cache:  # untimed: (re)compile every module the runs import into the benchmark's bytecode cache
        for t in all_targets:
            cold(t)
        for services in floors:
            floor(services)

    for r in range(runs):
        order = all_targets[r % len(all_targets) :] + all_targets[: r % len(all_targets)]
        for t in order:
            wall, result = cold(t)
            t.walls.append(wall)
            t.results.append(result)
            wall, result = floor(t.floor_key)
            floor_walls[t.floor_key].append(wall)
            floor_results[t.floor_key].append(result)

    by_name = {t.name: t for t in all_targets}
    for t in all_targets:
        floor_ms = median(floor_walls[t.floor_key])
        value = median(t.walls)
        ratio = value / floor_ms
        extra: dict[str, Any] = {
            "floor": rounded(floor_ms, 1),
            "ratio": rounded(ratio),
            "runs": len(t.walls),
            "import_ms": rounded(median([r["import_ms"] for r in t.results]), 1),
            "first_event_ms": rounded(median([r["first_event_ms"] for r in t.results]), 1),
            "floor_clients": list(t.services),
            **({"floor_vendor_requests": len(vendor_requests[t.vendor_reads])} if t.vendor_reads else {}),
        }
        name = f"cold_start.{t.name}"
        if t.budgeted:
            results.budget(
                name,
                rounded(value, 1),
                "ms",
                budget=f"ratio <= {COLD_START_BUDGET}",
                ok=ratio <= COLD_START_BUDGET,
                **extra,
            )
        else:
            results.emit(name, rounded(value, 1), "ms", **extra)

    for case in measured:
        ours, peer = by_name.get(case.function.id), by_name.get(f"peer.{case.provider}")
        if ours is None or peer is None:
            continue
        speedup = median(peer.walls) / median(ours.walls)
        results.budget(
            f"peer.cold_start.{case.provider}",
            rounded(speedup),
            "x",
            budget="value > 1 (O2C Hub starts faster than the by-the-docs peer)",
            ok=speedup > 1,
            o2c_ms=rounded(median(ours.walls), 1),
            peer_ms=rounded(median(peer.walls), 1),
        )

    for t in all_targets:
        if t.name.endswith(".traced"):
            continue
        rss = median([r["peak_rss_kb"] for r in t.results]) / 1024
        floor_rss = median([r["peak_rss_kb"] for r in floor_results[t.floor_key]]) / 1024
        results.emit(
            f"memory.peak_rss.{t.name}",
            rounded(rss, 1),
            "MiB",
            floor=rounded(floor_rss, 1),
            ratio=rounded(rss / floor_rss),
            after="first event",
        )

    if instructions:
        _count_instructions(results, all_targets, floors, cold, floor, work_dir / "callgrind")


def _count_instructions(
    results: Results,
    all_targets: list[Target],
    floors: dict[FloorKey, Target],
    cold: Callable[..., tuple[float, dict[str, Any]]],
    floor: Callable[..., tuple[float, dict[str, Any]]],
    out_dir: Path,
) -> None:
    """The same cold starts, once each under callgrind: instructions executed until the first reply. Unlike
    time, the count does not move with the machine's load, so the ratio is comparable run to run."""
    if shutil.which("valgrind") is None:
        results.emit("cold_start_instructions", None, "M instructions", note="valgrind not installed")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    floor_counts: dict[FloorKey, int] = {}
    for services in floors:
        out = out_dir / f"floor-{_floor_label(services)}.out"
        floor(services, prefix=_callgrind(out))
        floor_counts[services] = _instructions(out)
    for t in all_targets:
        out = out_dir / f"{t.name}.out"
        cold(t, prefix=_callgrind(out))
        count, floor_count = _instructions(out), floor_counts[t.floor_key]
        results.emit(
            f"cold_start_instructions.{t.name}",
            rounded(count / 1e6, 1),
            "M instructions",
            floor=rounded(floor_count / 1e6, 1),
            ratio=rounded(count / floor_count),
            floor_clients=list(t.services),
            **_budget_fields(t, count / floor_count),
        )
