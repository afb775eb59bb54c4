"""Consumer: records every canonical event in the lineage table (SQS batch, partial batch responses)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.aws import client
from shared.consumers import decode_body, sqs_consumer
from shared.lineage import LineageStore, entry_from_eventbridge, lineage_key
from shared.observability import MetricUnit, logger, metrics
from shared.settings import Env, EnvSettings

_store: list[LineageStore] = []


@dataclass(frozen=True)
class Settings(EnvSettings):
    lineage_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(lineage_table_name=env.required("LINEAGE_TABLE_NAME"))


def store() -> LineageStore:
    if not _store:
        _store.append(LineageStore(client("dynamodb"), Settings.from_env().lineage_table_name))
    return _store[0]


def record_event(record: SQSRecord) -> None:
    # every event as delivered, whatever its type: not decoded into the catalogue's models
    entry = entry_from_eventbridge(decode_body(record))
    logger.append_keys(correlation_id=lineage_key(entry.correlation_id))
    written = store().record(entry)
    logger.info(
        "event recorded", extra={"detail_type": entry.detail_type, "event_id": entry.event_id, "ids": written}
    )
    metrics.add_metric(name="EventsRecorded", unit=MetricUnit.Count, value=1)


lambda_handler = sqs_consumer(record_event)
