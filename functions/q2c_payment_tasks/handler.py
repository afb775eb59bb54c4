"""Quote-to-cash payment steps on Stripe: customer + SetupIntent, how the saved method pays, authorize,
capture, void; a bank debit (SEPA, ACH) submitted after invoicing."""

from __future__ import annotations

from typing import Any

from shared.operations import emit
from shared.order_to_cash import steps, subscriptions
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import stripe_payments, stripe_subscriptions


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    return steps.prepare_payment(
        stripe_payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        int(event.get("attempt", 1)),
        payment_customer_id=event.get("paymentCustomerId"),
    )


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    result = steps.authorize_payment(
        stripe_payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        event["payment"],
        event["method"],
    )
    # one charge attempt; a decline or failure counted by Stripe's decline code (else its failure code)
    failed = None if result["authorized"] else str(result.get("declineCode") or result.get("status"))
    emit.payment_attempted(provider="stripe", failure_reason=failed, execution=event.get("execution"))
    return result


def describe_method(event: dict[str, Any]) -> dict[str, Any]:
    return steps.describe_payment_method(stripe_payments(), event["order"], event["method"])


def debit(event: dict[str, Any]) -> dict[str, Any]:
    result = steps.charge_debit(
        stripe_payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        event["invoice"],
        event["payment"],
        event["method"],
        event["methodKind"],
    )
    refused = None if result["status"] in ("processing", "succeeded") else str(result.get("declineCode"))
    emit.payment_attempted(provider="stripe", failure_reason=refused, execution=event.get("execution"))
    return result


def capture(event: dict[str, Any]) -> dict[str, Any]:
    return steps.capture_payment(stripe_payments(), event["authorization"])


def subscribe(event: dict[str, Any]) -> dict[str, Any]:
    """A subscription deal's one Stripe subscription, once the order is paid (``shared.order_to_cash.subscriptions``)."""
    opportunity = opportunity_of(event)
    return subscriptions.create_subscription(
        stripe_subscriptions(),
        opportunity,
        steps.links(opportunity, event["correlationId"], event["customer"], event["order"]),
        event["order"],
        event["payment"],
        event["method"],
    )


def void(event: dict[str, Any]) -> dict[str, Any]:
    return steps.void_authorization(stripe_payments(), event.get("authorization"))


lambda_handler = task_handler(
    {
        "prepare": prepare,
        "authorize": authorize,
        "capture": capture,
        "void": void,
        "describe_method": describe_method,
        "debit": debit,
        "subscribe": subscribe,
    }
)
