"""Quote-to-cash tax steps: tax lines for the order's ship-to and lines from the tax engine (a quote), and,
once the ERP has invoiced the order, the sale recorded in the tax engine with the tax that was invoiced."""

from __future__ import annotations

from typing import Any

from shared.order_to_cash import steps
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import avatax


def calculate(event: dict[str, Any]) -> dict[str, Any]:
    return steps.calculate_tax(avatax(), opportunity_of(event), event["customer"])


def record_sale(event: dict[str, Any]) -> dict[str, Any]:
    return steps.record_sale(avatax(), opportunity_of(event), event["customer"], event["invoice"])


lambda_handler = task_handler({"calculate": calculate, "record_sale": record_sale})
