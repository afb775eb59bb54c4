"""The canonical events' schemas in the EventBridge Schema Registry: one registry per stage (``o2c-<stage>``),
one schema per event and version (``<source>@<DetailType>.v<N>``), every file of ``events/schemas/``, so an old
version stays published beside its successor for the deprecation window (scripts/schema_gate.py).

EventBridge takes ``OpenApi3`` or ``JSONSchemaDraft4``; the files are JSON Schema 2020-12 of an event's
``detail``, so each is published as a Draft 4 schema of the whole event as EventBridge delivers it (``source``,
``detail-type``, ``detail``): ``$defs`` become ``definitions``; the schemas use no keyword Draft 4 lacks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import aws_eventschemas as eventschemas
from constructs import Construct

from infra.config import StageConfig

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "events" / "schemas"
DRAFT_4 = "http://json-schema.org/draft-04/schema#"
_FILE = re.compile(r"^(?P<event>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.json$")


def published_schemas(folder: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """``X.vN`` → its detail schema, for every file (older versions included)."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        if _FILE.match(path.name):
            found[path.name.removesuffix(".json")] = json.loads(path.read_text())
    return found


def registry_schema(detail: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema Draft 4 of an EventBridge event whose ``detail`` is ``detail`` (2020-12)."""
    converted = json.loads(json.dumps(detail).replace('"#/$defs/', '"#/definitions/'))
    definitions = converted.pop("$defs", {})
    source, detail_type = converted["x-o2c-source"], converted["x-o2c-detail-type"]
    definitions[f"{detail_type}Detail"] = {
        k: v for k, v in converted.items() if k not in {"$schema", "$id", "x-o2c-source", "x-o2c-detail-type"}
    }
    return {
        "$schema": DRAFT_4,
        "title": converted["title"],
        "description": converted.get("description", ""),
        "type": "object",
        "x-amazon-events-source": source,
        "x-amazon-events-detail-type": detail_type,
        "required": ["detail-type", "source", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "enum": [detail_type]},
            "source": {"type": "string", "enum": [source]},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": {"$ref": f"#/definitions/{detail_type}Detail"},
        },
        "definitions": definitions,
    }


def schema_name(detail: dict[str, Any], version_name: str) -> str:
    """``o2c.payments@PaymentCaptured.v1`` (as EventBridge names discovered schemas: ``<source>@<type>``)."""
    return f"{detail['x-o2c-source']}@{version_name}"


class EventSchemas(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.registry = eventschemas.CfnRegistry(
            self,
            "Registry",
            registry_name=f"o2c-{config.stage}",
            description=f"O2C Hub canonical events ({config.stage}): every published version of each",
        )
        self.schemas: dict[str, eventschemas.CfnSchema] = {}
        for version_name, detail in published_schemas().items():
            self.schemas[version_name] = eventschemas.CfnSchema(
                self,
                version_name.replace(".", ""),
                registry_name=self.registry.attr_registry_name,
                schema_name=schema_name(detail, version_name),
                type="JSONSchemaDraft4",
                content=json.dumps(registry_schema(detail), separators=(",", ":"), sort_keys=True),
                description=(detail.get("description") or version_name)[:256],
            )
