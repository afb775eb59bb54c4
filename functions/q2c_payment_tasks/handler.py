"""Quote-to-cash payment steps on Stripe: customer + SetupIntent, how the saved method pays, authorize,
capture, void; a bank debit (SEPA, ACH) submitted after invoicing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.operations import emit
from shared.order_to_cash import steps, subscriptions
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import stripe_payments, stripe_subscriptions
from shared.settings import LambdaHandler, lazy_handler

if TYPE_CHECKING:
    from shared.order_to_cash.ports import Billing, Payments


@dataclass(frozen=True)
class Deps:
    #: the Stripe client (its key, base URL and approval thresholds are the connector's settings)
    payments: Callable[[], Payments] = stripe_payments
    #: Stripe Billing, on the same client (subscription deals)
    billing: Callable[[], Billing] = stripe_subscriptions


def prepare(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.prepare_payment(
        deps.payments(),
        opportunity_of(event),
        event["correlationId"],
        event["customer"],
        event["order"],
        int(event.get("attempt", 1)),
        payment_customer_id=event.get("paymentCustomerId"),
    )


def authorize(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    result = steps.authorize_payment(
        deps.payments(),
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


def describe_method(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.describe_payment_method(deps.payments(), event["order"], event["method"])


def debit(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    result = steps.charge_debit(
        deps.payments(),
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


def capture(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.capture_payment(deps.payments(), event["authorization"])


def subscribe(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    """A subscription deal's one Stripe subscription, once the order is paid (``shared.order_to_cash.subscriptions``)."""
    opportunity = opportunity_of(event)
    return subscriptions.create_subscription(
        deps.billing(),
        opportunity,
        steps.links(opportunity, event["correlationId"], event["customer"], event["order"]),
        event["order"],
        event["payment"],
        event["method"],
    )


def void(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.void_authorization(deps.payments(), event.get("authorization"))


def make_handler(deps: Deps | None = None) -> LambdaHandler:
    deps = deps or Deps()
    steps_by_action = {
        "prepare": prepare,
        "authorize": authorize,
        "capture": capture,
        "void": void,
        "describe_method": describe_method,
        "debit": debit,
        "subscribe": subscribe,
    }
    return task_handler({action: partial(step, deps=deps) for action, step in steps_by_action.items()})


lambda_handler = lazy_handler(make_handler)
