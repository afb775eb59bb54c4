"""The /v1 API (orders, payments, invoices, refunds): one thin function behind API Gateway's authorizers;
the routes and models are ``shared.api``."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from shared.api.app import build, handle
from shared.api.idempotency_keys import IdempotentPosts
from shared.api.services import HubServices
from shared.observability import logger, metrics, tracer


@cache
def _services() -> HubServices:
    return HubServices()


@cache
def _idempotency() -> IdempotentPosts:
    from shared.aws import client

    return IdempotentPosts(client=client("dynamodb"))


app = build(_services, _idempotency, stage=os.environ.get("STAGE", "local"))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _idempotency().register_lambda_context(context)
    return handle(app, event, context)
