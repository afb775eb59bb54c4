"""Helpers for quote-to-cash flow tests: follow a deal's execution and play the customer's part."""

from __future__ import annotations

import time
from typing import Any

from o2c_cli.executions import ExecutionState, correlator, state_of
from tests.flow.conftest import Hub


def wait_until(
    hub: Hub, name: str, *, state: str | None = None, status: str | None = None, timeout: float = 90
) -> ExecutionState:
    """Poll the execution until it reaches ``state`` (current step) or ``status`` (RUNNING/SUCCEEDED/FAILED)."""
    deadline = time.monotonic() + timeout
    last: ExecutionState | None = None
    while time.monotonic() < deadline:
        last = state_of(hub.target, name)
        if last is not None:
            if state and last.current_state == state and (last.waiting_on or not state.startswith("WaitFor")):
                return last
            if status and last.status == status:
                return last
            if last.status != "RUNNING" and (state or last.status != status):
                raise AssertionError(f"execution ended {last.line()}, expected state={state} status={status}")
        time.sleep(0.2)
    raise AssertionError(f"timed out; last: {last.line() if last else 'no execution'}")


def save_card(
    hub: Hub, name: str, payment_method: str = "pm_card_visa", *, state: str = "WaitForPaymentMethod"
) -> str:
    """The customer saves a card on the SetupIntent the execution waits for (Stripe sends the webhook)."""
    waiting = wait_until(hub, name, state=state).waiting_on
    assert waiting and waiting.startswith("setup:"), waiting
    setup_intent = waiting.removeprefix("setup:")
    hub.cloud.sandboxes["stripe"].complete_setup(setup_intent, payment_method)
    return setup_intent


def records(hub: Hub, record_type: str, **match: Any) -> list[dict[str, Any]]:
    found = hub.cloud.sandboxes["netsuite"].records(record_type)
    return [r for r in found if all(str(r.get(k)) == str(v) for k, v in match.items())]


def waits(hub: Hub, name: str) -> Any:
    return correlator(hub.target).waiting_on(name)
