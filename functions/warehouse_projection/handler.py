"""Firehose transformation: each record (an EventBridge event the warehouse rule delivered) becomes one
warehouse row (``shared.warehouse.project``): no card data, personal data only if the stage keeps it.

Firehose then reads the row's ``type`` with its JQ metadata extraction for the partition, converts the row
to Parquet through the Glue table and writes it under ``events/type=.../dt=.../``. A record that is not an
event is returned ``ProcessingFailed``: Firehose writes it under the error prefix, nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler
from shared.warehouse import firehose_record, personal_data_setting


@dataclass(frozen=True)
class Settings(EnvSettings):
    #: the stage keeps personal data in the warehouse (``WAREHOUSE_PERSONAL_DATA=true``); else it is dropped
    personal_data: bool = False

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(personal_data=personal_data_setting(env.text("WAREHOUSE_PERSONAL_DATA")))


def make_handler(settings: Settings) -> LambdaHandler:
    """No Powertools here: a Firehose transformation logs nothing per record and its cold start stays bare."""

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return {
            "records": [
                firehose_record(r, personal_data=settings.personal_data) for r in event.get("records", [])
            ]
        }

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
