"""The operations console in a real headless browser (Debian's chromium, driven by Playwright) over the
shared flow cloud: the page renders, its figures are what the stack holds, an operator approves an order
after confirming, and nothing secret reaches the page. A screenshot of the state is kept in
``build/artifacts/console.png``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from o2c_cli import dlq, playbook
from o2c_cli.console import data
from o2c_cli.console.server import Console
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.executions import state_of
from tests.flow.conftest import Hub
from tests.flow.test_quote_to_cash_flow import big_deal

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)"
)


def _won(hub: Hub, deal_id: str) -> str:
    assert hub.cloud.sandboxes["hubspot"].win(deal_id)[0] == 200
    return f"hubspot-{deal_id}"


@pytest.fixture(scope="module")
def scene(hub: Hub) -> Iterator[dict[str, Any]]:
    """What an operator opens the console on: a paid deal, a declined card waiting for a new one, an order
    waiting for approval, an incomplete account on hold, and a dead letter."""
    sandbox = hub.cloud.sandboxes["hubspot"]
    names = {
        "paid": _won(hub, hubspot_deal(sandbox, name="Northwind - annual platform")),
        "declined": _won(hub, hubspot_deal(sandbox, name="Globex - declined card")),
        "approval": _won(hub, big_deal(sandbox, "Enterprise rollout", "60000.00")),
        "hold": _won(hub, hubspot_deal(sandbox, complete=False, name="Initech - incomplete account")),
    }
    playbook.save_card(hub.cloud, hub.target, names["paid"])
    playbook.save_card(hub.cloud, hub.target, names["declined"], "pm_card_chargeCustomerFail")
    playbook.save_card(hub.cloud, hub.target, names["approval"])
    playbook.wait_until(hub.target, names["paid"], status="SUCCEEDED")
    playbook.wait_until(hub.target, names["declined"], state="WaitForNewPaymentMethod")
    playbook.wait_until(hub.target, names["approval"], state="WaitForApproval")
    playbook.wait_until(hub.target, names["hold"], state="WaitForAccountFix")
    # a message a consumer gave up on (as SQS moves it after maxReceiveCount): only its envelope is shown
    dead_queue = hub.target.consumers["RefundBooker"].dlq_url
    sqs = hub.cloud.client("sqs")
    sqs.send_message(
        QueueUrl=dead_queue,
        MessageBody=json.dumps(
            {
                "detail-type": "RefundSucceeded",
                "detail": {"metadata": {"eventId": f"ev-console-{uuid.uuid4().hex[:8]}"}, "data": {}},
            }
        ),
    )
    hub.settle()
    try:
        yield names
    finally:  # the flow cloud is shared: leave no dead letter behind for the next tests
        while messages := sqs.receive_message(QueueUrl=dead_queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                sqs.delete_message(QueueUrl=dead_queue, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="module")
def console(hub: Hub, scene: dict[str, Any]) -> Iterator[Console]:
    with Console(hub.target, port=0) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(120_000)  # a page refresh reads every unfinished execution of the shared cloud
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    opened.goto(console.url)
    opened.wait_for_selector("body[data-loaded]")
    yield opened
    context.close()
    assert errors == [], errors  # no script error, no resource the CSP refused


def _count(page: Any, testid: str) -> int:
    return int(page.get_by_test_id(testid).get_attribute("data-count"))


def test_the_page_shows_what_the_stack_holds(hub: Hub, scene: dict[str, Any], page: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)

    def executions_now() -> tuple[list[dict[str, Any]], Counter[str], Counter[str | None]]:
        pages = (
            hub.cloud.client("stepfunctions")
            .get_paginator("list_executions")
            .paginate(stateMachineArn=hub.target.state_machine_arn)
        )
        listed = [e for chunk in pages for e in chunk["executions"]]
        assert len(listed) <= data.MAX_DEALS  # the page lists them all
        running = [state_of(hub.target, e["name"]) for e in listed if e["status"] == "RUNNING"]
        return listed, Counter(e["status"] for e in listed), Counter(s.current_state for s in running if s)

    # what Step Functions lists while the page reads it (an execution of an earlier test may still move)
    for _ in range(5):
        before = executions_now()
        loaded = page.evaluate("document.body.dataset.loaded")
        page.locator("#refresh").click()
        page.wait_for_function("old => document.body.dataset.loaded !== old", arg=loaded)
        listed, by_status, by_state = executions_now()
        if before[1:] == (by_status, by_state):
            break
    for status, count in by_status.items():
        assert _count(page, f"deals-by-status-{status}") == count, status
    for state, count in by_state.items():
        assert _count(page, f"deals-by-state-{state}") == count, state

    rows = page.locator("#deals tbody tr")
    assert rows.count() == len(listed)
    approval = page.locator(f'tr[data-deal="{scene["approval"]}"]')
    assert "Enterprise rollout" in approval.inner_text()
    assert "60000.00 EUR" in approval.inner_text()
    assert "an approver" in approval.inner_text()
    assert approval.locator('button[data-action="approve"]').is_visible()
    held = page.locator(f'tr[data-deal="{scene["hold"]}"]')
    assert "sales operations" in held.inner_text()
    assert held.locator('button[data-action="release"]').is_visible()
    declined = page.locator(f'tr[data-deal="{scene["declined"]}"]')
    assert "WaitForNewPaymentMethod" in declined.inner_text()
    assert "save a card" in declined.inner_text()

    # the dead letter, by queue and in the total
    depths = {s.consumer: s.depth for s in dlq.list_dead_letters(hub.target, peek=0)}
    assert depths["RefundBooker"] >= 1
    assert page.locator('tr[data-queue="RefundBooker"]').get_attribute("data-depth") == str(
        depths["RefundBooker"]
    )
    assert page.get_by_test_id("dlq-depth-value").inner_text() == str(sum(depths.values()))
    assert "RefundSucceeded" in page.locator('tr[data-queue="RefundBooker"]').inner_text()

    # the payment failure rate: the declined card's failure among the attempts the lineage holds
    facts = data.recent_facts(hub.target, datetime.now(UTC) - data.WINDOW)
    attempts = Counter(
        e.detail_type for e in facts if e.detail_type in {"PaymentFailed", "PaymentAuthorized"}
    )
    assert attempts["PaymentFailed"] >= 1
    failures = page.get_by_test_id("failure-rate").inner_text()
    assert f"{attempts['PaymentFailed']} of {sum(attempts.values())} attempts" in failures
    assert "card_declined" in failures or "generic_decline" in failures
    # time to cash: every deal listed whose payment is applied in the ERP
    listed_names = {e["name"] for e in listed}
    paid = [
        e for e in facts if e.detail_type == "InvoicePaid" and e.data.get("executionName") in listed_names
    ]
    assert len(paid) >= 1
    assert f"{len(paid)} paid" in page.get_by_test_id("time-to-cash").inner_text()
    # the aging histogram has a bar for every state a deal waits in
    for state in ("WaitForApproval", "WaitForAccountFix", "WaitForNewPaymentMethod"):
        assert page.locator(f'#plot-aging rect[data-state="{state}"]').count() >= 1
    # the paid deal's lags: Stripe's capture → ERP application, and the ERP invoice posted → paid
    assert page.locator('#plot-lag circle[data-kind="captured"]').count() >= 1
    assert page.locator('#plot-lag circle[data-kind="posted"]').count() >= 1

    # a deal's timeline: the states its execution entered, as Step Functions recorded them
    page.locator(f'tr[data-deal="{scene["paid"]}"]').click()
    steps = page.get_by_test_id("timeline-steps").locator("li")
    steps.last.wait_for()
    entered = [s for _, s in playbook.timeline(hub.target, scene["paid"]) if not s.startswith("Publish")]
    assert [t.split()[-1] for t in steps.all_inner_texts()] == entered
    assert entered[-1] == "Paid"
    page.screenshot(path=str(ARTIFACTS / "console-deal.png"), full_page=True)


def test_an_operator_approves_an_order_after_confirming(hub: Hub, scene: dict[str, Any], page: Any) -> None:
    name = scene["approval"]
    row = page.locator(f'tr[data-deal="{name}"]')
    row.locator('button[data-action="approve"]').click()
    dialog = page.get_by_test_id("confirm")
    assert dialog.is_visible()
    assert f"Approve the order of {name}" in dialog.inner_text()
    assert f"o2c approve {name}" in dialog.inner_text()
    page.locator("#confirm-cancel").click()  # cancelled: nothing happens
    time.sleep(1)
    waiting = state_of(hub.target, name)
    assert waiting and waiting.waiting_on == f"approval:{name}"

    row.locator('button[data-action="approve"]').click()
    page.locator("#confirm-ok").click()
    page.get_by_test_id("toast").filter(has_text=f"approved {name}").wait_for()
    playbook.wait_until(hub.target, name, status="SUCCEEDED")
    page.locator("#refresh").click()
    page.locator(f'tr[data-deal="{name}"][data-status="SUCCEEDED"]').wait_for()


def test_an_operator_releases_a_hold_after_confirming(hub: Hub, scene: dict[str, Any], page: Any) -> None:
    """The account is still incomplete in the CRM: released, the deal is re-checked and held again."""
    name = scene["hold"]
    before = state_of(hub.target, name)
    assert before and (before.waiting_on or "").startswith("hold:")
    page.locator(f'tr[data-deal="{name}"] button[data-action="release"]').click()
    assert f"o2c hold release {name}" in page.get_by_test_id("confirm").inner_text()
    page.locator("#confirm-ok").click()
    page.get_by_test_id("toast").filter(has_text=f"released {name}").wait_for()
    deadline = time.monotonic() + 90
    while (after := state_of(hub.target, name)) and after.waiting_on in (None, before.waiting_on):
        assert time.monotonic() < deadline, after.line()
        time.sleep(0.5)
    assert (
        after and after.current_state == "WaitForAccountFix" and (after.waiting_on or "").startswith("hold:")
    )


def _post(console: Console, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        console.url.rstrip("/") + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_actions_need_the_pages_token_and_the_console_is_loopback_only(
    hub: Hub, scene: dict[str, Any], console: Console
) -> None:
    name = scene["hold"]
    json_type = {"Content-Type": "application/json"}
    assert _post(console, "/api/actions/release", {"name": name}, json_type)[0] == 403
    wrong = {**json_type, "X-CSRF-Token": "guessed"}
    assert _post(console, "/api/actions/release", {"name": name}, wrong)[0] == 403
    forged = {**json_type, "X-CSRF-Token": console.csrf_token, "Origin": "http://evil.example"}
    assert _post(console, "/api/actions/release", {"name": name}, forged)[0] == 403
    rebound = {**json_type, "X-CSRF-Token": console.csrf_token, "Host": "evil.example"}
    assert _post(console, "/api/actions/release", {"name": name}, rebound)[0] == 421
    held = state_of(hub.target, name)
    assert held and (held.waiting_on or "").startswith("hold:")  # none of them released the hold

    assert console._httpd.server_address[0] == "127.0.0.1"


def test_no_secret_reaches_the_page(hub: Hub, page: Any, console: Console) -> None:
    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    secrets = [s for s in strings(hub.cloud.local_json.get("secrets", {})) if len(s) >= 8]
    assert secrets
    shown = page.content() + json.dumps(console.snapshot(fresh=True))
    assert [s for s in secrets if s in shown] == []
