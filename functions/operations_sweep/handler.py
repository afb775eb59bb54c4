"""Every few minutes (EventBridge Scheduler): the state of the order-to-cash process as CloudWatch gauges.

Reads the open quote-to-cash executions (Step Functions), the facts waiting for another fact (the
``PendingTable``), the dead-letter queues and Stripe's recent disputes, computes the figures with ``shared.operations.figures`` (the
same functions an operations console uses) and publishes them as EMF metrics (``shared.operations.emit``).
It changes nothing. The invocation returns the figures, so ``aws lambda invoke`` shows them too."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.aws import client
from shared.observability import lambda_entry, logger
from shared.operations import emit
from shared.operations.figures import read_figures, recent_disputes
from shared.order_to_cash.pending import PendingFacts
from shared.settings import Env, EnvSettings, LambdaHandler, SettingError, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    state_machine_arn: str
    pending_table_name: str
    #: dead-letter queue name → URL
    dead_letter_queue_urls: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, env: Env) -> Settings:
        queues = env.json("DEAD_LETTER_QUEUE_URLS", "{}")
        if not isinstance(queues, dict):
            raise SettingError("DEAD_LETTER_QUEUE_URLS", env.owner, "is not a JSON object of name → URL")
        return cls(
            state_machine_arn=env.required("QUOTE_TO_CASH_STATE_MACHINE_ARN"),
            pending_table_name=env.required("PENDING_TABLE_NAME"),
            dead_letter_queue_urls=queues,
        )


def stripe() -> Any:
    from shared.outbound.factories import stripe_payments

    return stripe_payments()


@dataclass(frozen=True)
class Deps:
    """The AWS clients (``aws(service)``) and the Stripe client, made on first use."""

    aws: Callable[[str], Any] = client
    payments: Callable[[], Any] = stripe


def disputes(deps: Deps, now: float) -> list[dict[str, Any]] | None:
    """Stripe's recent disputes; None (no dispute gauges this time) if Stripe cannot be read: the other
    figures are still published."""
    from shared.errors import ConnectorError

    try:
        return recent_disputes(deps.payments(), now)
    except ConnectorError as exc:
        logger.warning("disputes not read from Stripe", extra={"error": str(exc)})
        return None


def sweep(settings: Settings, deps: Deps, now: float) -> dict[str, Any]:
    figures = read_figures(
        stepfunctions=deps.aws("stepfunctions"),
        state_machine_arn=settings.state_machine_arn,
        pending_items=PendingFacts(deps.aws("dynamodb"), settings.pending_table_name).all(),
        sqs=deps.aws("sqs"),
        dead_letter_queue_urls=dict(settings.dead_letter_queue_urls),
        disputes=disputes(deps, now),
        now=now,
    )
    points = emit.publish_figures(figures)
    logger.info(
        "operations figures published",
        extra={
            "points": points,
            "openOrders": figures.orders.open,
            "pendingFacts": figures.pending.waiting,
            "deadLetters": sum(d.messages for d in figures.dead_letters),
        },
    )
    return dataclasses.asdict(figures)


def make_handler(
    settings: Settings, deps: Deps | None = None, clock: Callable[[], float] = time.time
) -> LambdaHandler:
    deps = deps or Deps()

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return sweep(settings, deps, clock())

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
