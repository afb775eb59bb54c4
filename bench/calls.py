"""AWS calls per outcome, counted where requests leave botocore (``bench.transport.count_calls``), against
moto: real conditional writes, so a duplicate is found the way DynamoDB finds it.

One process per handler, with its function's environment: a first delivery (which fetches the signing
secret), then a second accepted delivery, the same delivery again, a forged one and one of a type the hub
does not use. Budgets (every retry would count): accepted <= 3 (lock, PutEvents, completion), duplicate
<= 1, forged signature 0. The secret fetch is once per process and cache period, reported on its own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from bench.cloud import BenchCloud
from bench.processes import run_child
from bench.results import Results
from bench.webhooks import ALL_BENCH_CASES as CASES

#: outcome → (most calls, the reply the provider must get: status code, body status)
BUDGETS: dict[str, tuple[int, tuple[int, str | None]]] = {
    "accepted": (3, (200, "accepted")),
    "duplicate": (1, (200, "duplicate")),
    "rejected_signature": (0, (401, None)),
}
SECRET_FETCH = "secretsmanager.GetSecretValue"  # noqa: S105 - an operation name


def _count(
    cloud: BenchCloud, provider: str, module: str, attr: str, work_dir: Path, label: str
) -> dict[str, Any]:
    case = CASES[provider]
    spec = {
        "mode": "calls",
        "case": provider,
        "module": module,
        "attr": attr,
        "secrets": cloud.signing_secrets(case),
        "tag": uuid.uuid4().hex[:10],
    }
    env = cloud.environment(case.function, work_dir / "pycache")
    _, result = run_child(spec, env, work_dir / "logs" / f"calls-{label}.log")
    return result


def _excluding_secret(ops: dict[str, int]) -> int:
    return sum(n for op, n in ops.items() if op != SECRET_FETCH)


def run(cloud: BenchCloud, results: Results, *, work_dir: Path) -> None:
    for provider, case in CASES.items():
        fn = case.function
        ours = _count(cloud, provider, fn.module, fn.handler_attr, work_dir, fn.id)
        for outcome, data in ours["outcomes"].items():
            if outcome == "first":
                continue
            calls = _excluding_secret(data["ops"])
            extra = {"ops": data["ops"], "status": data["status"], "reply": data["reply"]}
            name = f"aws_calls.{provider}.{outcome}"
            if outcome in BUDGETS:
                limit, expected = BUDGETS[outcome]
                served = (data["status"], data["reply"]) == expected
                results.budget(
                    name,
                    calls,
                    "calls",
                    budget=f"<= {limit}, reply {expected[0]}",
                    ok=calls <= limit and served,
                    **extra,
                )
            else:
                results.emit(name, calls, "calls", **extra)
        results.emit(
            f"aws_calls.{provider}.secret_fetch",
            ours["total"].get(SECRET_FETCH, 0),
            "calls per process",
            note="Secrets Manager, cached 300 s by Powertools parameters; all deliveries of the run included",
        )
        if case.peer_module:
            peer = _count(cloud, provider, case.peer_module, "lambda_handler", work_dir, f"peer.{provider}")
            for outcome, data in peer["outcomes"].items():
                if outcome == "first":
                    continue
                results.emit(
                    f"aws_calls.peer.{provider}.{outcome}",
                    _excluding_secret(data["ops"]),
                    "calls",
                    ops=data["ops"],
                    status=data["status"],
                    reply=data["reply"],
                )
