"""``o2c demo`` / ``make demo``: boot the embedded cloud, play Stripe webhooks over real HTTP, show what
was accepted, refused, routed and recorded, and exit 0 only if every outcome was the expected one."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o2c_cli.http import Reply, request
from o2c_cli.stripe_client import sample, send
from o2c_cli.targets import local_target
from o2c_cli.trace import as_text, trace

USED_TYPES = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "payment_intent.payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "payout.paid",
    "payment_intent.succeeded.jpy",
    "payment_intent.succeeded.kwd",
]


@dataclass
class Step:
    label: str
    send: Callable[[str, list[str]], Reply]
    status: int
    outcome: str  # accepted | duplicate | ignored | problem


def _scenario() -> list[Step]:
    def send_sample(name: str) -> Callable[[str, list[str]], Reply]:
        return lambda api, s: send(api, sample(name), s[:1])

    steps = [Step(f"Stripe {name}", send_sample(name), 200, "accepted") for name in USED_TYPES]
    rotated = {**sample("payout.paid"), "id": "evt_1DemoRotatedSecret"}
    rotated["data"] = {"object": {**rotated["data"]["object"], "id": "po_1DemoPayout2"}}
    malformed = b'{"id": "evt_1DemoBroken", "type": "payment_intent.succeeded", '
    steps += [
        Step(
            "same payment_intent.succeeded again (redelivery)",
            lambda api, s: send(api, sample("payment_intent.succeeded"), s[:1]),
            200,
            "duplicate",
        ),
        Step(
            "signed with the previous secret during rotation",
            lambda api, s: send(api, rotated, s[1:2]),
            200,
            "accepted",
        ),
        Step(
            "customer.created (a type the hub does not use)",
            lambda api, s: send(api, sample("customer.created"), s[:1]),
            200,
            "ignored",
        ),
        Step(
            "stale signature (10 minutes old)",
            lambda api, s: send(
                api,
                {**sample("invoice.paid"), "id": "evt_1DemoStale"},
                s[:1],
                timestamp=int(time.time()) - 600,
            ),
            401,
            "problem",
        ),
        Step(
            "signed with a wrong secret",
            lambda api, s: send(api, {**sample("invoice.paid"), "id": "evt_1DemoForged"}, ["whsec_forged"]),
            401,
            "problem",
        ),
        Step(
            "no Stripe-Signature header",
            lambda api, s: request(
                "POST", f"{api}/webhooks/stripe", json.dumps(sample("invoice.paid")).encode()
            ),
            401,
            "problem",
        ),
        Step(
            "malformed JSON body (correctly signed)",
            lambda api, s: send(api, malformed, s[:1]),
            400,
            "problem",
        ),
        Step(
            "body over the limit (300 KB)",
            lambda api, s: send(api, b"{" + b" " * 300_000 + b"}", s[:1]),
            413,
            "problem",
        ),
        Step(
            "unknown route", lambda api, s: request("POST", f"{api}/webhooks/paypal", b"{}"), 404, "problem"
        ),
        Step("wrong method", lambda api, s: request("GET", f"{api}/webhooks/stripe"), 405, "problem"),
    ]
    return steps


def _outcome(reply: Reply) -> str:
    if reply.content_type.startswith("application/problem+json"):
        return "problem"
    body: Any = reply.json()
    return str(body.get("status")) if isinstance(body, dict) else "?"


def run_demo(state_dir: Path | None = None) -> int:
    from localcloud import LocalCloud

    state = state_dir or Path(tempfile.mkdtemp(prefix="o2c-demo-"))
    print("O2C Hub demo: booting the embedded local cloud (moto, API front, functions, queues) ...")
    failures: list[str] = []
    with LocalCloud(api_port=0, aws_port=0, state_dir=state) as cloud:
        secrets: list[str] = cloud.local_json["secrets"]["stripe_webhook"]
        print(f"  API {cloud.api_url}   AWS {cloud.aws_endpoint_url}   logs {cloud.logs_dir}\n")
        print("Webhooks sent over HTTP:")
        for step in _scenario():
            reply = step.send(cloud.api_url, secrets)
            outcome = _outcome(reply)
            ok = reply.status == step.status and outcome == step.outcome
            print(f"  [{'ok' if ok else 'FAIL'}] {reply.status} {outcome:<9} {step.label}")
            if not ok:
                failures.append(
                    f"{step.label}: got {reply.status} {outcome}, expected {step.status} {step.outcome}"
                )

        cloud.wait_until_idle(timeout=60)
        target = local_target(state)
        print("\nRouted through EventBridge → SQS → lineage recorder; `o2c trace pi_3DemoAbc123`:")
        entries = trace(target, "pi_3DemoAbc123")
        print("\n".join("  " + line for line in as_text("pi_3DemoAbc123", entries).splitlines()))
        types = [e.detail_type for e in entries]
        for expected in ("PaymentAuthorized", "PaymentCaptured", "RefundSettled", "DisputeOpened"):
            if types.count(expected) != 1:
                failures.append(
                    f"lineage of pi_3DemoAbc123 has {types.count(expected)} {expected}, expected 1"
                )
        by_opportunity = trace(target, "006Dn00000DemoOpp1")
        if {e.event_id for e in by_opportunity} != {e.event_id for e in entries}:
            failures.append("tracing by the CRM opportunity id does not show the same history")

        from o2c_cli.dlq import list_dead_letters

        parked = sum(s.depth for s in list_dead_letters(target, peek=0))
        print(f"\nDead letters: {parked}")
        if parked:
            failures.append(f"{parked} message(s) in a DLQ")

    if failures:
        print("\nDEMO FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nEvery outcome was the expected one.")
    return 0
