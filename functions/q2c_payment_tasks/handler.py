"""Quote-to-cash payment steps on Stripe: customer + SetupIntent, authorize, capture, void."""

from __future__ import annotations

from typing import Any

from shared.connectors.factories import stripe_payments
from shared.o2c import steps
from shared.o2c.tasks import opportunity_of, task_handler


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    return steps.prepare_payment(
        stripe_payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        int(event.get("attempt", 1)),
    )


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    return steps.authorize_payment(
        stripe_payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        event["payment"],
        event["method"],
    )


def capture(event: dict[str, Any]) -> dict[str, Any]:
    return steps.capture_payment(stripe_payments(), event["authorization"])


def void(event: dict[str, Any]) -> dict[str, Any]:
    return steps.void_authorization(stripe_payments(), event.get("authorization"))


lambda_handler = task_handler({"prepare": prepare, "authorize": authorize, "capture": capture, "void": void})
