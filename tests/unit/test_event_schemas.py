"""The JSON Schemas in events/schemas/ are generated from the models and must not drift from them."""

from shared.events.catalog import EVENT_TYPES
from shared.events.schemas import SCHEMA_DIR, is_older_version, rendered


def test_schema_files_match_the_models() -> None:
    expected = rendered()
    # older versions still published for their deprecation window are not regenerated (scripts/schema_gate.py)
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json") if not is_older_version(p.name)}
    assert set(on_disk) == set(expected), "run: python -m shared.events.schemas"
    for name, content in expected.items():
        assert on_disk[name] == content, (
            f"{name} drifted from its model; run: python -m shared.events.schemas"
        )


def test_every_event_type_is_versioned_and_past_tense_pascal_case() -> None:
    for detail_type, model in EVENT_TYPES.items():
        assert detail_type[0].isupper() and "_" not in detail_type
        assert model.schema_version.isdigit()
        assert model.source in {
            "o2c.crm",
            "o2c.erp",
            "o2c.payments",
            "o2c.orchestration",
            "o2c.reconciliation",
        }


def test_schemas_describe_the_contract_envelope() -> None:
    for content in rendered().values():
        assert '"metadata"' in content and '"data"' in content
        for field in (
            "eventId",
            "correlationId",
            "causationId",
            "occurredAt",
            "schemaVersion",
            "sourceSystem",
            "sourceEventId",
        ):
            assert f'"{field}"' in content
