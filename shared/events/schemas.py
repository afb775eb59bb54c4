"""JSON Schemas of the canonical events, generated from the models into ``events/schemas/``.

Run ``python -m shared.events.schemas`` after changing a model; a test fails when the files drift.

An older version of an event (``X.v1.json`` once the model is at ``schema_version`` 2) is kept as it is: it stays
published for its deprecation window (``scripts/schema_gate.py`` fails the build if it goes or changes before
its retirement in ``events/retired.json``); delete it by hand then.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import create_model

from shared.events.catalog import EVENT_TYPES
from shared.events.envelope import EventMetadata

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "events" / "schemas"


def schema_for(detail_type: str) -> dict[str, Any]:
    data_model = EVENT_TYPES[detail_type]
    detail_model = create_model(f"{detail_type}Detail", metadata=(EventMetadata, ...), data=(data_model, ...))
    schema = detail_model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://o2c-hub.dev/schemas/{detail_type}/v{data_model.schema_version}.json",
        "title": f"{detail_type} v{data_model.schema_version}",
        "description": (data_model.__doc__ or "").strip(),
        "x-o2c-source": data_model.source,
        "x-o2c-detail-type": detail_type,
        **{k: v for k, v in schema.items() if k not in {"title", "description"}},
    }


def rendered() -> dict[str, str]:
    """File name → file content for every event type."""
    return {
        f"{name}.v{model.schema_version}.json": json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n"
        for name, model in sorted(EVENT_TYPES.items())
    }


def is_older_version(file_name: str) -> bool:
    """``X.vN.json`` for an event type whose model is now at a version above N (kept, not regenerated)."""
    event, _, rest = file_name.removesuffix(".json").rpartition(".v")
    model = EVENT_TYPES.get(event)
    return model is not None and rest.isdigit() and int(rest) < int(model.schema_version)


def main() -> int:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in SCHEMA_DIR.glob("*.json"):
        if stale.name not in rendered() and not is_older_version(stale.name):
            stale.unlink()
    for name, content in rendered().items():
        (SCHEMA_DIR / name).write_text(content)
    print(f"wrote {len(rendered())} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
