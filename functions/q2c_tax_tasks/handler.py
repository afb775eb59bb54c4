"""Quote-to-cash tax steps: tax lines for the order's ship-to and lines from the tax engine (a quote), and,
once the ERP has invoiced the order, the sale recorded in the tax engine with the tax that was invoiced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.order_to_cash import steps
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import avatax
from shared.settings import LambdaHandler, lazy_handler

if TYPE_CHECKING:
    from shared.order_to_cash.ports import Tax


@dataclass(frozen=True)
class Deps:
    #: the AvaTax client (credentials and base URL are the connector's settings)
    tax: Callable[[], Tax] = avatax


def calculate(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.calculate_tax(deps.tax(), opportunity_of(event), event["customer"])


def record_sale(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.record_sale(deps.tax(), opportunity_of(event), event["customer"], event["invoice"])


def make_handler(deps: Deps | None = None) -> LambdaHandler:
    deps = deps or Deps()
    return task_handler(
        {"calculate": partial(calculate, deps=deps), "record_sale": partial(record_sale, deps=deps)}
    )


lambda_handler = lazy_handler(make_handler)
