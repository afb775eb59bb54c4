"""Quote-to-cash ERP steps: ensure customer, create sales order, invoice, apply payment, activate, cancel;
a failed bank debit's dunning (in and out)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.observability import logger
from shared.operations import emit
from shared.order_to_cash import steps
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import netsuite_erp, stripe_payments
from shared.settings import Env, EnvSettings, LambdaHandler, SettingError, lazy_handler

if TYPE_CHECKING:
    from shared.order_to_cash.ports import Erp, Payments

DEFAULT_SUBSIDIARIES = '{"*": {"subsidiaryId": "1", "currency": "USD"}}'


@dataclass(frozen=True)
class Settings(EnvSettings):
    #: region → the ERP subsidiary that books it and its currency (``*``: the default)
    subsidiaries: Mapping[str, steps.Subsidiary]

    @classmethod
    def read(cls, env: Env) -> Settings:
        raw = env.json("ERP_SUBSIDIARIES", DEFAULT_SUBSIDIARIES)
        try:
            table = {region: steps.Subsidiary(v["subsidiaryId"], v["currency"]) for region, v in raw.items()}
        except (KeyError, TypeError, AttributeError):
            raise SettingError(
                "ERP_SUBSIDIARIES", env.owner, f"is not region → subsidiary: {raw!r}"
            ) from None
        return cls(subsidiaries=table)


@dataclass(frozen=True)
class Deps:
    #: the NetSuite and Stripe clients (made on first use: a step that needs no Stripe never builds one)
    erp: Callable[[], Erp] = netsuite_erp
    payments: Callable[[], Payments] = stripe_payments


Step = Callable[..., dict[str, Any]]


def ensure_customer(event: dict[str, Any], *, settings: Settings, deps: Deps) -> dict[str, Any]:
    return steps.ensure_erp_customer(deps.erp(), opportunity_of(event), settings.subsidiaries)


def create_order(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.create_sales_order(deps.erp(), opportunity_of(event), event["customer"], event["tax"])


def create_invoice(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    # when the invoice was posted: the start of the invoice synchronization lag (``apply_payment``)
    return {**steps.create_invoice(deps.erp(), event["order"]), "postedAt": time.time()}


def apply_payment(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    payment_intent_id = event["authorization"]["paymentIntentId"]
    foreign = event["order"]["total"]["currency"] != event["customer"].get("subsidiaryCurrency")
    applied = steps.apply_payment(
        deps.erp(),
        event["customer"],
        event["invoice"],
        event["order"],
        payment_intent_id,
        # only a payment in another currency than the subsidiary's needs Stripe's exchange rate
        settlement=deps.payments().settlement_of(payment_intent_id) if foreign else None,
        wallet=event["authorization"].get("wallet"),
    )
    # the deal is paid: time to cash and the synchronization lags, once per deal (a step that succeeded is
    # not run again)
    durations = emit.deal_paid(
        execution=event.get("execution"),
        paid_at=time.time(),
        won_at=event.get("startedAt"),
        card_saved_at=(event.get("method") or {}).get("savedAt"),
        invoice_posted_at=event["invoice"].get("postedAt"),
        captured_at=(event.get("captureConfirmation") or {}).get("capturedAt"),
    )
    logger.info("deal paid", extra={"durations": durations})
    return applied


def activate_order(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    deps.erp().release_sales_order(event["order"]["erpOrderId"])
    return {"status": "released"}


def cancel_order(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    order = event.get("order") or {}
    if not order.get("erpOrderId"):
        return {"status": "nothing_to_cancel"}
    deps.erp().cancel_sales_order(order["erpOrderId"])
    return {"status": "cancelled"}


def debit_dunning(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.start_debit_dunning(deps.erp(), event["customer"])


def leave_dunning(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    return steps.leave_dunning(deps.erp(), event["customer"])


def one_slot(step: Step, deps: Deps) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The step's NetSuite requests, sent one after another, share one slot of the ERP gate: taken at the
    first, given back when the step ends (two gate writes per step instead of two per request)."""

    @functools.wraps(step)
    def run(event: dict[str, Any]) -> dict[str, Any]:
        with deps.erp().session():
            return step(event)

    return run


def make_handler(settings: Settings, deps: Deps | None = None) -> LambdaHandler:
    deps = deps or Deps()
    with_deps: dict[str, Step] = {
        "ensure_customer": functools.partial(ensure_customer, settings=settings, deps=deps),
        "create_order": functools.partial(create_order, deps=deps),
        "create_invoice": functools.partial(create_invoice, deps=deps),
        "apply_payment": functools.partial(apply_payment, deps=deps),
        "activate_order": functools.partial(activate_order, deps=deps),
        "cancel_order": functools.partial(cancel_order, deps=deps),
        "debit_dunning": functools.partial(debit_dunning, deps=deps),
        "leave_dunning": functools.partial(leave_dunning, deps=deps),
    }
    return task_handler({name: one_slot(step, deps) for name, step in with_deps.items()})


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
