"""The /v1 API (orders, payments, invoices, refunds): one thin function behind API Gateway's authorizers;
the routes and models are ``shared.api``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.api.app import build, handle
from shared.api.idempotency_keys import IdempotentPosts
from shared.api.services import HubServices
from shared.observability import lambda_entry
from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler


@dataclass(frozen=True)
class Settings(EnvSettings):
    #: ``prod`` hides the OpenAPI document (/v1/docs)
    stage: str
    #: where POSTs' Idempotency-Key records are kept
    idempotency_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            stage=env.text("STAGE", "local"), idempotency_table_name=env.required("IDEMPOTENCY_TABLE_NAME")
        )


@dataclass(frozen=True)
class Deps:
    """The hub's operations and the POSTs' idempotency store, each made on its first use."""

    services: Callable[[], Any]
    idempotency: Callable[[], IdempotentPosts]

    @classmethod
    def of(cls, settings: Settings) -> Deps:
        @cache
        def idempotency() -> IdempotentPosts:
            from shared.aws import client

            return IdempotentPosts(settings.idempotency_table_name, client=client("dynamodb"))

        return cls(services=cache(HubServices), idempotency=idempotency)


def make_handler(settings: Settings, deps: Deps | None = None) -> LambdaHandler:
    deps = deps or Deps.of(settings)
    app = build(deps.services, deps.idempotency, stage=settings.stage)

    @lambda_entry
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deps.idempotency().register_lambda_context(context)
        return handle(app, event, context)

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
