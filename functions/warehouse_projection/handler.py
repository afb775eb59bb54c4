"""Firehose transformation: each record (an EventBridge event the warehouse rule delivered) becomes one
warehouse row (``shared.warehouse.project``): no card data, personal data only if the stage keeps it.

Firehose then reads the row's ``type`` with its JQ metadata extraction for the partition, converts the row
to Parquet through the Glue table and writes it under ``events/type=.../dt=.../``. A record that is not an
event is returned ``ProcessingFailed``: Firehose writes it under the error prefix, nothing is lost.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler
from shared.warehouse import personal_data_setting, project


@dataclass(frozen=True)
class Settings(EnvSettings):
    #: the stage keeps personal data in the warehouse (``WAREHOUSE_PERSONAL_DATA=true``); else it is dropped
    personal_data: bool = False

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(personal_data=personal_data_setting(env.text("WAREHOUSE_PERSONAL_DATA")))


def transform(record: dict[str, Any], personal_data: bool) -> dict[str, Any]:
    try:
        event = json.loads(base64.b64decode(record["data"]))
        if not isinstance(event, dict) or "detail-type" not in event:
            raise ValueError("not an EventBridge event")
        row = project(event, personal_data=personal_data)
    except (ValueError, KeyError, TypeError):
        return {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
    body = (json.dumps(row, separators=(",", ":")) + "\n").encode()
    return {"recordId": record["recordId"], "result": "Ok", "data": base64.b64encode(body).decode("ascii")}


def make_handler(settings: Settings) -> LambdaHandler:
    """No Powertools here: a Firehose transformation logs nothing per record and its cold start stays bare."""

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return {"records": [transform(r, settings.personal_data) for r in event.get("records", [])]}

    return lambda_handler


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
