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


def save_bank_account(hub: Hub, name: str, *, state: str = "WaitForPaymentMethod", **account: str) -> str:
    """``iban=...`` (SEPA) or ``account_number=...`` (ACH): see ``playbook.save_bank_account``."""
    return playbook.save_bank_account(hub.cloud, hub.target, name, state=state, **account)


def save_wallet_card(hub: Hub, name: str, wallet: str = "apple_pay") -> str:
    return playbook.save_wallet_card(hub.cloud, hub.target, name, wallet)


def records(hub: Hub, record_type: str, **match: Any) -> list[dict[str, Any]]:
    found = hub.cloud.sandboxes["netsuite"].records(record_type)
    return [r for r in found if all(str(r.get(k)) == str(v) for k, v in match.items())]


def waits(hub: Hub, name: str) -> Any:
    return correlator(hub.target).waiting_on(name)


def big_deal(sandbox: Any, name: str, amount: str) -> str:
    """A German company's deal of one line above the local approval threshold (50,000.00 EUR)."""
    slug = name.lower().replace(" ", "-")
    return str(
        sandbox.create_deal(
            name=name,
            amount=amount,
            currency="EUR",
            company={
                "name": f"{name} GmbH",
                "address": "Hauptstrasse 1",
                "city": "Munich",
                "zip": "80331",
                "country": "DE",
                "currency": "EUR",
                "tax_id": "DE111222333",
                "o2c_region": "EMEA",
            },
            contacts=[{"email": f"ap@{slug}.example"}],
            line_items=[{"name": "Platform", "quantity": 1, "price": amount, "hs_sku": "PLAT-1"}],
        )
    )
