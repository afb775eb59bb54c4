"""Quote-to-cash tax step: tax lines for the order's ship-to and lines from the tax engine."""

from __future__ import annotations

from typing import Any

from shared.connectors.factories import avatax
from shared.o2c import steps
from shared.o2c.tasks import opportunity_of, task_handler


def calculate(event: dict[str, Any]) -> dict[str, Any]:
    return steps.calculate_tax(avatax(), opportunity_of(event), event["customer"])


lambda_handler = task_handler({"calculate": calculate})
