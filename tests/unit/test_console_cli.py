"""``o2c console`` and the link ``o2c local up`` prints: where the console is served and what it refuses
before reading anything (no AWS here; the page over a real cloud is tests/flow/test_console_flow.py)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from o2c_cli.console import figures
from o2c_cli.console.server import serve_when_ready
from o2c_cli.main import main


def _local_json(state_dir: Path) -> None:
    (state_dir / "local.json").write_text(
        json.dumps(
            {
                "region": "us-east-1",
                "aws_endpoint_url": "http://127.0.0.1:9",
                "resources": {"tables": {"LineageTable": "Lineage"}, "queues": {}, "dlqs": {}},
            }
        )
    )


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_console_without_a_local_cloud_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(tmp_path))
    assert main(["console", "--port", "0"]) == 2
    assert "o2c local up" in capsys.readouterr().err


def test_local_up_prints_the_link_of_a_console_served_on_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = serve_when_ready(tmp_path, 0)
    try:
        time.sleep(0.6)
        _local_json(tmp_path)  # the cloud is ready
        deadline = time.monotonic() + 10
        while "console:" not in (out := capsys.readouterr().out) and time.monotonic() < deadline:
            time.sleep(0.1)
        match = re.search(r"console:\s+(http://127\.0\.0\.1:(\d+)/)", out)
        assert match, out
        url, port = match.group(1), match.group(2)
        status, headers, page = _get(url)
        assert status == 200 and '<meta name="csrf-token" content="' in page
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        # a page on another name resolving to 127.0.0.1 (DNS rebinding) gets nothing
        assert _get(url, {"Host": f"attacker.example:{port}"})[0] == 421
    finally:
        stopped.set()


def test_figures_of_a_few_facts() -> None:
    class Fact:
        def __init__(self, detail_type: str, at: str, **data: Any) -> None:
            self.detail_type, self.occurred_at, self.data = detail_type, at, data

    facts = [
        Fact("PaymentAuthorized", "2026-12-01T09:59:58Z", paymentIntentId="pi_1"),
        Fact("PaymentCaptured", "2026-12-01T10:00:00Z", paymentIntentId="pi_1"),
        Fact("InvoicePosted", "2026-12-01T09:59:30Z", erpInvoiceId="3001"),
        Fact("InvoicePaid", "2026-12-01T10:00:42Z", paymentIntentId="pi_1", erpInvoiceId="3001"),
        Fact(
            "PaymentFailed", "2026-12-01T10:01:00Z", paymentIntentId="pi_2", declineCode="insufficient_funds"
        ),
        Fact("PaymentAuthorized", "2026-12-01T10:02:00Z", paymentIntentId="pi_3"),
        Fact("PaymentCaptured", "2026-12-01T10:03:00Z", paymentIntentId="pi_3"),
    ]
    rate = figures.payment_failure_rate(facts)
    assert (rate["failures"], rate["attempts"], rate["byReason"]) == (1, 3, {"insufficient_funds": 1})
    lag = figures.invoice_sync_lag(facts)["captured"]
    assert (lag["count"], lag["maxS"], lag["unapplied"]) == (1, 42.0, 1)
    posted = figures.invoice_sync_lag(facts)["posted"]
    assert [(p["erpInvoiceId"], p["lagS"]) for p in posted["points"]] == [("3001", 72.0)]
    from shared.operations.figures import OpenExecution

    aging = figures.order_aging(
        [OpenExecution("a", "WaitForApproval", 1000.0), OpenExecution("b", "WaitForApproval", 1000.0 - 7200)],
        now=1030.0,
    )
    assert (
        aging["byState"]["WaitForApproval"] == [1, 1, 0, 0]
        and aging["oldestByStateS"]["WaitForApproval"] == 7230
    )
    cash = figures.time_to_cash(
        [Fact("InvoicePaid", "2026-12-01T10:00:42Z", executionName="hubspot-1")],
        {"hubspot-1": figures.seconds("2026-12-01T09:59:00Z")},
    )
    assert (cash["count"], cash["p50S"]) == (1, 102.0)


def test_dispute_figures_from_the_lineage() -> None:
    class Fact:
        def __init__(self, detail_type: str, **data: Any) -> None:
            self.detail_type, self.occurred_at, self.data = detail_type, "2026-12-01T10:00:00Z", data

    now = figures.seconds("2026-12-01T10:00:00Z")
    facts = [
        Fact(
            "DisputeOpened", disputeId="dp_1", status="needs_response", evidenceDueBy="2026-12-02T10:00:00Z"
        ),
        Fact(
            "DisputeOpened", disputeId="dp_2", status="needs_response", evidenceDueBy="2026-12-03T10:00:00Z"
        ),
        Fact("DisputeClosed", disputeId="dp_2", outcome="won"),
    ]
    shown = figures.disputes(facts, now)
    assert (shown["open"], shown["evidenceNeeded"], shown["evidenceDueSoon"]) == (1, 1, 1)
    assert shown["nextEvidenceDueInS"] == 86400


def test_the_demo_ends_with_the_consoles_link_and_keeps_it_up_until_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from o2c_cli.demo import _open_console
    from o2c_cli.targets import local_target

    _local_json(tmp_path)
    served: list[int] = []

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def readline(self, *args: Any) -> str:  # type: ignore[override]  # reads the page, then presses Enter
            served.append(_get(re.findall(r"http://127\.0\.0\.1:\d+/", capsys.readouterr().out)[0])[0])
            return "\n"

    monkeypatch.setattr("sys.stdin", Terminal())
    _open_console(local_target(tmp_path))
    assert served == [200]
