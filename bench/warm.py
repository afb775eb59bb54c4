"""Warm overhead per webhook: the handler's own time per delivery once its process is warm.

Each provider's handler (and its by-the-docs peer, if any) runs in processes of its own, with its
function's environment and AWS stubbed where requests leave botocore (``bench.transport``): the SDK's
validation, serialisation, signing and parsing of every AWS call are in the figure, the network is not.
Each process serves ``warmup`` deliveries first (secret fetch, lazy imports), then unique deliveries of
the provider's samples, each timed right after two floors for the same body: signature check + JSON parse
(``WebhookCase.floor``), and that plus the three AWS calls an accepted delivery needs, made with bare boto3
clients (``ServiceFloor``: the least any correct implementation does). The ``n`` timed deliveries are split over ``rounds`` alternating processes (ours,
peer, ours, peer ...), so both see the same machine load.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.cloud import BenchCloud
from bench.processes import ChildError, run_child
from bench.results import Results, percentile, rounded
from bench.webhooks import ALL_BENCH_CASES as CASES
from bench.webhooks import WebhookCase

WARM_P50_BUDGET = 1.2  # x the service floor: verify, parse and the three AWS calls with bare boto3 clients
OUTSIDE_SDK_BUDGET = 8.0  # the handler's time outside boto3 calls, x the HMAC + json floor


@dataclass
class Samples:
    label: str
    module: str
    attr: str
    handler_us: list[float] = field(default_factory=list)
    floor_us: list[float] = field(default_factory=list)
    #: per delivery: ``bench.webhooks.ServiceFloor`` (verify, parse, lock, publish, complete; bare boto3)
    service_floor_us: list[float] = field(default_factory=list)
    #: per delivery: the handler's time outside boto3 client calls
    own_us: list[float] = field(default_factory=list)
    sdk_calls: Counter[str] = field(default_factory=Counter)

    def pct(self, which: str, p: float) -> float:
        series = {
            "handler": self.handler_us,
            "floor": self.floor_us,
            "service_floor": self.service_floor_us,
            "own": self.own_us,
        }
        return percentile(series[which], p)


def _serve(
    cloud: BenchCloud, case: WebhookCase, who: Samples, *, n: int, warmup: int, work_dir: Path
) -> None:
    spec = {
        "mode": "warm",
        "case": case.provider,
        "module": who.module,
        "attr": who.attr,
        "n": n,
        "warmup": warmup,
        "secrets": cloud.signing_secrets(case),
        "tag": uuid.uuid4().hex[:10],
    }
    env = cloud.environment(case.function, work_dir / "pycache")
    _, result = run_child(spec, env, work_dir / "logs" / f"warm-{who.label}.log", timeout_s=900)
    served = sum(result["replies"].values())
    if result["replies"].get("200 accepted", 0) != served:
        raise ChildError(f"{who.label}: not every delivery was accepted: {result['replies']}")
    who.handler_us.extend(ns / 1000 for ns in result["handler_ns"])
    who.own_us.extend((h - sdk) / 1000 for h, sdk in zip(result["handler_ns"], result["sdk_ns"], strict=True))
    who.floor_us.extend(ns / 1000 for ns in result["floor_ns"])
    who.service_floor_us.extend(ns / 1000 for ns in result["service_floor_ns"])
    who.sdk_calls.update(result["calls"])


def run(cloud: BenchCloud, results: Results, *, n: int, warmup: int, rounds: int, work_dir: Path) -> None:
    for case in CASES.values():
        fn = case.function
        handlers = [Samples(fn.id, fn.module, fn.handler_attr)]
        if case.peer_module:
            handlers.append(Samples(f"peer.{case.provider}", case.peer_module, "lambda_handler"))
        per_round = max(1, n // rounds)
        for _ in range(rounds):
            for who in handlers:
                _serve(cloud, case, who, n=per_round, warmup=warmup, work_dir=work_dir)
        ours = handlers[0]
        for who, prefix in zip(handlers, ("", "peer."), strict=False):
            for p in (50, 99):
                value, floor = who.pct("handler", p), who.pct("service_floor", p)
                ratio = value / floor
                extra: dict[str, float | int | str] = {
                    "floor": rounded(floor, 1),
                    "ratio": rounded(ratio, 2),
                    "floor_is": "verify + parse + PutItem/PutEvents/UpdateItem with bare boto3 clients",
                    "hmac_json_floor": rounded(who.pct("floor", p), 1),
                    "events": len(who.handler_us),
                    "processes": rounds,
                }
                name = f"warm.{prefix}{case.provider}.p{p}"
                if who is ours and p == 50:
                    budget = f"ratio <= {WARM_P50_BUDGET:g}"
                    results.budget(
                        name, rounded(value, 1), "us", budget=budget, ok=ratio <= WARM_P50_BUDGET, **extra
                    )
                else:
                    results.emit(name, rounded(value, 1), "us", **extra)
            # the handler's own share: the same deliveries without the time inside boto3 client calls
            own, hmac_json = who.pct("own", 50), who.pct("floor", 50)
            own_extra: dict[str, float | str] = {
                "floor": rounded(hmac_json, 1),
                "ratio": rounded(own / hmac_json, 2),
                "floor_is": "HMAC-SHA256 check + json.loads",
            }
            name = f"warm.{prefix}{case.provider}.outside_sdk.p50"
            if who is ours:
                ok = own / hmac_json <= OUTSIDE_SDK_BUDGET
                budget = f"ratio <= {OUTSIDE_SDK_BUDGET:g}"
                results.budget(name, rounded(own, 1), "us", budget=budget, ok=ok, **own_extra)
            else:
                results.emit(name, rounded(own, 1), "us", **own_extra)
        if len(handlers) > 1:
            peer = handlers[1]
            for p in (50, 99):
                speedup = peer.pct("handler", p) / ours.pct("handler", p)
                extra = {
                    "o2c_us": rounded(ours.pct("handler", p), 1),
                    "peer_us": rounded(peer.pct("handler", p), 1),
                }
                name = f"peer.warm.{case.provider}.p{p}"
                if p == 50:
                    budget = "value > 1 (O2C Hub's warm path is faster than the by-the-docs peer)"
                    results.budget(name, rounded(speedup), "x", budget=budget, ok=speedup > 1, **extra)
                else:
                    results.emit(name, rounded(speedup), "x", **extra)
