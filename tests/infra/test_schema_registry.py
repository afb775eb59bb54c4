"""The canonical events are published to the stage's EventBridge Schema Registry: one Draft 4 schema of the
whole event per event and version (every file of events/schemas/, older versions included)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator

from infra.constructs.schemas import SCHEMA_DIR
from tests.infra.conftest import STAGE, Synthesized
from tests.infra.helpers import resources_of


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[STAGE]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_one_registry_per_stage_holds_every_published_version(template: dict[str, Any]) -> None:
    [(registry_id, registry)] = resources_of(template, "AWS::EventSchemas::Registry").items()
    assert registry["Properties"]["RegistryName"] == f"o2c-{STAGE}"
    assert template["Outputs"]["SchemaRegistryName"]["Value"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
    schemas = resources_of(template, "AWS::EventSchemas::Schema").values()
    files = {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.v*.json")}
    published = {s["Properties"]["SchemaName"]: s["Properties"] for s in schemas}
    assert set(published) == {f"{f['x-o2c-source']}@{name}" for name, f in files.items()}
    for props in published.values():
        assert props["RegistryName"] == {"Fn::GetAtt": [registry_id, "RegistryName"]}
        assert props["Type"] == "JSONSchemaDraft4"


def test_each_schema_is_draft_4_and_describes_the_event_as_eventbridge_delivers_it(
    template: dict[str, Any],
) -> None:
    for props in (r["Properties"] for r in resources_of(template, "AWS::EventSchemas::Schema").values()):
        content = json.loads(props["Content"])
        Draft4Validator.check_schema(content)
        assert content["$schema"] == "http://json-schema.org/draft-04/schema#"
        assert "$defs" not in json.dumps(content)
        for ref in _refs(content):  # every reference resolves inside the document
            assert (
                ref.startswith("#/definitions/")
                and ref.removeprefix("#/definitions/") in content["definitions"]
            )
        source, detail_type = props["SchemaName"].split("@")[0], content["x-amazon-events-detail-type"]
        file = json.loads((SCHEMA_DIR / f"{props['SchemaName'].split('@')[1]}.json").read_text())
        assert (source, detail_type) == (file["x-o2c-source"], file["x-o2c-detail-type"])
        assert content["x-amazon-events-source"] == source
        assert content["properties"]["source"]["enum"] == [source]
        assert content["properties"]["detail-type"]["enum"] == [detail_type]
        assert len(props["Content"]) < 100_000  # EventBridge's limit on a schema's content


def test_a_real_event_validates_against_its_published_schema_and_a_wrong_one_does_not(
    template: dict[str, Any],
) -> None:
    from shared.events.envelope import new_event
    from shared.events.payments import PaymentCaptured
    from shared.money import Money

    event = new_event(
        PaymentCaptured(
            paymentIntentId="pi_3Demo",
            amount=Money(amount=10000, currency="EUR"),
            amountReceived=Money(amount=10000, currency="EUR"),
        ),
        source_system="stripe",
        correlation_id="corr-1",
        source_event_id="evt_1",
    )
    delivered = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "111122223333",
        "time": "2026-12-01T17:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": json.loads(event.detail_json()),
    }
    by_name = {
        p["SchemaName"]: json.loads(p["Content"])
        for p in (r["Properties"] for r in resources_of(template, "AWS::EventSchemas::Schema").values())
    }
    schema = by_name[f"{event.source}@PaymentCaptured.v{event.metadata.schemaVersion}"]
    assert not list(Draft4Validator(schema).iter_errors(delivered))
    broken = json.loads(json.dumps(delivered))
    broken["detail"]["data"]["amount"]["amount"] = "100.00"
    assert list(Draft4Validator(schema).iter_errors(broken))
