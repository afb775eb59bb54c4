"""Target of the state machine's ``waitForTaskToken`` states: stores the task token under the wait's key
and resumes at once if the awaited fact (e.g. an early webhook) is already there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.observability import lambda_entry, logger
from shared.order_to_cash.correlation import Correlator
from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    correlation_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(correlation_table_name=env.required("CORRELATION_TABLE_NAME"))


def correlator(settings: Settings) -> Correlator:
    from shared.aws import client

    return Correlator(client("dynamodb"), settings.correlation_table_name, client("stepfunctions"))


def make_handler(settings: Settings, correlations: Correlator | None = None) -> LambdaHandler:
    """``correlations``: the wait store (the correlation table and Step Functions unless given)."""
    waits = correlations or correlator(settings)

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("correlationId"):
            logger.set_correlation_id(event["correlationId"])
        resumed = waits.register_wait(
            event["key"], event["token"], execution=event["execution"], state=event["state"]
        )
        logger.info(
            "waiting", extra={"wait_key": event["key"], "state": event["state"], "resumed_now": resumed}
        )
        return {"registered": True, "resumedNow": resumed}

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
