"""Consumer of the partner buses (Stripe event destinations, Salesforce Event Relay): every event goes
through the same select → once-only normalise → publish path as the webhooks. A record that cannot be
processed now (in flight elsewhere, CRM unavailable, publish failed) is reported as a batch item failure
and retried; one that never can be ends in the DLQ."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import decode_body, sqs_consumer
from shared.inbound.partner import provider_event
from shared.ingress.lambda_adapter import build_pipeline
from shared.ingress.pipeline import IngressPipeline
from shared.ingress.web import Problem
from shared.settings import Env, EnvSettings

_context: list[Any] = []


@dataclass(frozen=True)
class Settings(EnvSettings):
    closed_won_stages: tuple[str, ...]

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(closed_won_stages=env.csv("SALESFORCE_CLOSED_WON_STAGES", "Closed Won"))


@cache
def pipeline(vendor: str) -> IngressPipeline:
    if vendor == "stripe":
        from shared.inbound.stripe import StripeProvider

        # No signature on a partner bus: AWS delivered it from the partner's event source.
        return build_pipeline(StripeProvider(secrets=lambda: ()))
    from shared.inbound.salesforce import SalesforceProvider
    from shared.outbound.factories import salesforce_crm

    return build_pipeline(
        SalesforceProvider(
            allowed_org_ids=(),
            opportunities=salesforce_crm,
            closed_won_stages=Settings.from_env().closed_won_stages,
        )
    )


def ingest_record(record: SQSRecord) -> dict[str, Any]:
    event = decode_body(record)  # the partner's own event (Stripe's, Salesforce's), not a canonical one
    vendor, provider_evt = provider_event(event)
    hub = pipeline(vendor)
    if _context:
        hub.once_only.register_lambda_context(_context[0])
    try:
        outcome = hub.ingest(provider_evt, default_correlation_id=str(event.get("id", record.message_id)))
    except Problem as problem:
        # 409 in flight / 5xx: retry later; 400: unreadable, will end in the DLQ after the retries.
        raise RuntimeError(
            f"{vendor} event {provider_evt.id}: {problem.status} {problem.reason}"
        ) from problem
    return outcome.as_dict()


def _remember(context: Any) -> None:
    _context[:] = [context]


lambda_handler = sqs_consumer(ingest_record, on_invocation=_remember)
