"""Writes the committed OpenAPI 3.1 document of /v1 from the resolver: ``make openapi``
(``python -m shared.api.openapi``); ``tests/unit/test_openapi.py`` fails when code and document drift."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parents[2] / "api" / "openapi.json"


def document() -> dict[str, Any]:
    from shared.api.app import build, openapi_json

    def unused() -> Any:
        raise AssertionError("the document is generated without calling the hub")

    return dict(json.loads(openapi_json(build(unused, unused, stage="prod"))))


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
