"""Helpers for quote-to-cash flow tests: follow a deal's execution and play the customer's part."""

from __future__ import annotations

from typing import Any

from o2c_cli import playbook
from o2c_cli.executions import ExecutionState, correlator
from tests.flow.conftest import Hub


def wait_until(
    hub: Hub, name: str, *, state: str | None = None, status: str | None = None, timeout: float = 90
) -> ExecutionState:
    return playbook.wait_until(hub.target, name, state=state, status=status, timeout=timeout)


def save_card(
    hub: Hub, name: str, payment_method: str = "pm_card_visa", *, state: str = "WaitForPaymentMethod"
) -> str:
    return playbook.save_card(hub.cloud, hub.target, name, payment_method, state=state)


def records(hub: Hub, record_type: str, **match: Any) -> list[dict[str, Any]]:
    found = hub.cloud.sandboxes["netsuite"].records(record_type)
    return [r for r in found if all(str(r.get(k)) == str(v) for k, v in match.items())]


def waits(hub: Hub, name: str) -> Any:
    return correlator(hub.target).waiting_on(name)
