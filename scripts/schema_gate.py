"""Schema gate: the hub's public contract against the last released one; a breaking change fails the build.

    python -m scripts.schema_gate            # compare; exit 1 naming each breaking change
    python -m scripts.schema_gate --record   # at release (make release-baseline): today's contract becomes the baseline

What is compared (the public contract):

- every canonical event schema, ``events/schemas/<DetailType>.v<N>.json`` (generated from the models:
  ``python -m shared.events.schemas``), each version on its own;
- the public API: the routes of ``infra/topology.py`` (the webhooks: ``POST /webhooks/stripe`` ..., and the
  /v1 API's ``API_ROUTES``);
- the /v1 API's OpenAPI document, ``api/openapi.json`` (generated: ``make openapi``), once one is released.

The baseline is the committed folder ``events/released/`` (``schemas/`` and ``api.json``), written by
``--record`` when a release is cut. Committed rather than read from the last ``release/*`` git tag: the
pipeline's source artifact has no git history, and a reviewer sees the released contract change in the diff.

Breaking, for a schema version that was released: a field removed, a field's type changed, a required field
added, an enum value removed, the event's source or detail-type changed, or the version no longer published; for
the API: a route removed. Additive changes pass: new fields, new optional fields, new enum values, new events, new
versions, new routes. For the /v1 document (additive only within /v1; a hand-rolled minimal diff, since no
maintained Python library does it, oasdiff being a Go tool): an operation removed, a parameter newly required, a
request body field removed or newly required or of another type or with an enum value removed, a response field
removed or of another type. New operations, optional parameters and fields, new response fields pass.

To change an event incompatibly, bump its version: the model's ``schema_version`` gives a new
``X.v2.json``, while ``X.v1.json`` stays published, unchanged, for the deprecation window (the schema generator
keeps older versions; both are in the EventBridge Schema Registry). When the window is over, list the old
version in ``events/retired.json`` with the date it ends (``{"schemas": {"X.v1": "2027-03-31"}}``; routes alike,
``{"routes": {"POST /webhooks/old": "..."}}``): from that date on, removing it passes, if a newer version exists.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO_ROOT / "events" / "schemas"
BASELINE_DIR = REPO_ROOT / "events" / "released"
RETIRED_FILE = REPO_ROOT / "events" / "retired.json"
API_DOCUMENT = REPO_ROOT / "api" / "openapi.json"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SCHEMA_FILE = re.compile(r"^(?P<event>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.json$")
_MAX_DEPTH = 40


@dataclass
class Surface:
    """The public contract: schema versions ("X.v1" → JSON Schema) and routes ("POST /webhooks/stripe")."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: set[str] = field(default_factory=set)
    #: the /v1 API's OpenAPI document (None: none released yet)
    api_document: dict[str, Any] | None = None


def read_schemas(folder: Path) -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in sorted(folder.glob("*.json")):
        if not SCHEMA_FILE.match(path.name):
            raise SystemExit(f"schema gate: {path} is not named <DetailType>.v<N>.json")
        schemas[path.name.removesuffix(".json")] = json.loads(path.read_text())
    return schemas


def current_routes() -> set[str]:
    from infra.topology import API_ROUTES, WEBHOOK_FUNCTIONS

    webhooks = {f"{fn.route.method} {fn.route.path}" for fn in WEBHOOK_FUNCTIONS if fn.route is not None}
    # the governed /v1 API: once released, a route removed within /v1 is breaking too
    return webhooks | {f"{r.method} {r.path}" for r in API_ROUTES}


def current_surface(schema_dir: Path = SCHEMA_DIR, api_document: Path = API_DOCUMENT) -> Surface:
    document = json.loads(api_document.read_text()) if api_document.is_file() else None
    return Surface(read_schemas(schema_dir), current_routes(), document)


def read_baseline(folder: Path = BASELINE_DIR) -> Surface:
    if not (folder / "api.json").is_file():
        raise SystemExit(
            f"schema gate: no released baseline in {folder}: record one with `make release-baseline`"
        )
    api = json.loads((folder / "api.json").read_text())
    released_document = folder / "openapi.json"
    document = json.loads(released_document.read_text()) if released_document.is_file() else None
    return Surface(read_schemas(folder / "schemas"), set(api["routes"]), document)


def record(surface: Surface, folder: Path = BASELINE_DIR) -> None:
    """Write ``surface`` as the released baseline (replacing the last one)."""
    schemas = folder / "schemas"
    if schemas.exists():
        shutil.rmtree(schemas)
    schemas.mkdir(parents=True)
    for name, schema in surface.schemas.items():
        (schemas / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    (folder / "api.json").write_text(
        json.dumps(
            {
                "recorded": datetime.now(UTC).date().isoformat(),
                "routes": sorted(surface.routes),
            },
            indent=2,
        )
        + "\n"
    )
    if surface.api_document is not None:
        (folder / "openapi.json").write_text(
            json.dumps(surface.api_document, indent=2, sort_keys=True) + "\n"
        )


# --- comparing two JSON Schemas ----------------------------------------------------------------------------


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    seen = set()
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            break
        seen.add(ref)
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _alternatives(schema: Any, root: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a value may match: ``$ref`` resolved, ``anyOf``/``oneOf`` expanded (nullable unions)."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return [{}]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [alt for sub in schema[key] for alt in _alternatives(sub, root)]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _alternatives(schema["allOf"][0], root)
    return [schema]


def _types(alternatives: Iterable[dict[str, Any]]) -> set[str]:
    types: set[str] = set()
    for alt in alternatives:
        kind = alt.get("type")
        if isinstance(kind, list):
            types.update(kind)
        elif isinstance(kind, str):
            types.add(kind)
        elif "properties" in alt:
            types.add("object")
        elif "enum" in alt or "const" in alt:
            values = alt.get("enum", [alt.get("const")])
            types.update("null" if v is None else type(v).__name__ for v in values)
        else:
            types.add("any")
    return types


def _enum(alternatives: list[dict[str, Any]]) -> set[str] | None:
    """The values allowed, or None when any alternative allows any value of its type."""
    values: set[str] = set()
    for alt in alternatives:
        if "enum" in alt:
            values.update(json.dumps(v) for v in alt["enum"])
        elif "const" in alt:
            values.add(json.dumps(alt["const"]))
        elif alt.get("type") != "null":
            return None
    return values


def schema_changes(
    old: Any,
    new: Any,
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    path: str = "",
    depth: int = 0,
) -> list[str]:
    """The breaking changes from ``old`` to ``new`` (each one line, naming the field's path)."""
    if depth > _MAX_DEPTH:
        return []
    where = path or "(the event)"
    old_alts, new_alts = _alternatives(old, old_root), _alternatives(new, new_root)
    changes: list[str] = []
    old_types, new_types = _types(old_alts), _types(new_alts)
    if old_types != new_types and "any" not in new_types:
        changes.append(f"type changed: {where} {'|'.join(sorted(old_types))} → {'|'.join(sorted(new_types))}")
    old_enum, new_enum = _enum(old_alts), _enum(new_alts)
    if old_enum is not None and new_enum is not None and old_enum - new_enum:
        removed = ", ".join(sorted(old_enum - new_enum))
        changes.append(f"enum value removed: {where} no longer allows {removed}")
    old_props = {k: v for alt in old_alts for k, v in alt.get("properties", {}).items()}
    new_props = {k: v for alt in new_alts for k, v in alt.get("properties", {}).items()}
    old_required = {r for alt in old_alts for r in alt.get("required", [])}
    new_required = {r for alt in new_alts for r in alt.get("required", [])}
    for name in sorted(new_required - old_required):
        changes.append(f"required field added: {path + '.' if path else ''}{name}")
    for name, old_prop in old_props.items():
        child = f"{path}.{name}" if path else name
        if name not in new_props:
            changes.append(f"field removed: {child}")
            continue
        changes += schema_changes(old_prop, new_props[name], old_root, new_root, child, depth + 1)
    old_items = [alt["items"] for alt in old_alts if isinstance(alt.get("items"), dict)]
    new_items = [alt["items"] for alt in new_alts if isinstance(alt.get("items"), dict)]
    if old_items and new_items:
        changes += schema_changes(old_items[0], new_items[0], old_root, new_root, f"{path}[]", depth + 1)
    return changes


# --- comparing two OpenAPI documents ------------------------------------------------------------------------


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in _METHODS
    }


def _json_schema(content: dict[str, Any] | None) -> Any:
    for media_type, body in (content or {}).items():
        if media_type.endswith("json") and isinstance(body, dict) and "schema" in body:
            return body["schema"]
    return None


def api_changes(old: dict[str, Any], new: dict[str, Any], *, skip: set[str] | None = None) -> list[str]:
    """The breaking changes from the released /v1 document to the current one (operations in ``skip``, e.g.
    routes the route check already judged, are not looked at when gone)."""
    changes: list[str] = []
    new_operations = _operations(new)
    for name, before in sorted(_operations(old).items()):
        after = new_operations.get(name)
        if after is None:
            if name not in (skip or set()):
                changes.append(f"{name}: operation removed")
            continue
        required_before = {
            (p.get("in"), str(p.get("name", "")).lower())
            for p in before.get("parameters", [])
            if p.get("required")
        }
        for p in after.get("parameters", []):
            if p.get("required") and (p.get("in"), str(p.get("name", "")).lower()) not in required_before:
                changes.append(f"{name}: required parameter added: {p.get('in')} {p.get('name')}")
        old_body, new_body = before.get("requestBody") or {}, after.get("requestBody") or {}
        if new_body.get("required") and not old_body.get("required"):
            changes.append(f"{name}: request body now required")
        old_request, new_request = (
            _json_schema(old_body.get("content")),
            _json_schema(new_body.get("content")),
        )
        if old_request is not None and new_request is not None:
            for change in schema_changes(old_request, new_request, old, new, "request"):
                changes.append(f"{name}: {change}")
        for status, response in sorted(before.get("responses", {}).items()):
            old_schema = _json_schema(response.get("content"))
            new_response = after.get("responses", {}).get(status)
            if new_response is None:
                if status.startswith("2"):
                    changes.append(f"{name}: response {status} removed")
                continue
            new_schema = _json_schema(new_response.get("content"))
            if old_schema is None or new_schema is None:
                continue
            for change in schema_changes(old_schema, new_schema, old, new, f"response {status}"):
                # a client reads a response: a field gone or retyped breaks it; a new guarantee does not, nor
                # does a value it will no longer see
                if change.startswith(("field removed", "type changed")):
                    changes.append(f"{name}: {change}")
    return changes


# --- the gate -----------------------------------------------------------------------------------------------


def _retired(retired: dict[str, str], key: str, today: date) -> str | None:
    """None when ``key`` may go (retired and its window over); else why not."""
    ends = retired.get(key)
    if ends is None:
        return "not retired in events/retired.json"
    if date.fromisoformat(ends) > today:
        return f"its deprecation window ends {ends} (events/retired.json)"
    return None


def _split(name: str) -> tuple[str, int]:
    event, _, version = name.rpartition(".v")
    return event, int(version)


def breaking_changes(
    released: Surface,
    current: Surface,
    *,
    retired: dict[str, dict[str, str]] | None = None,
    today: date | None = None,
) -> list[str]:
    """Every breaking change from the released contract to the current one (empty: the gate passes)."""
    retired = retired or {}
    today = today or datetime.now(UTC).date()
    changes: list[str] = []
    for name, old in sorted(released.schemas.items()):
        event, version = _split(name)
        newer = sorted(v for n in current.schemas for e, v in [_split(n)] if e == event and v > version)
        if name not in current.schemas:
            why = _retired(retired.get("schemas", {}), name, today)
            if why is None and newer:
                continue
            if newer:
                changes.append(
                    f"{name}: no longer published while {event}.v{newer[0]} replaces it ({why}): keep "
                    f"{name}.json for the deprecation window"
                )
            else:
                changes.append(f"{name}: no longer published (no newer version of {event} either)")
            continue
        new = current.schemas[name]
        for key in ("x-o2c-source", "x-o2c-detail-type"):
            if old.get(key) != new.get(key):
                changes.append(f"{name}: {key} changed: {old.get(key)} → {new.get(key)} (rules route on it)")
        for change in schema_changes(old, new, old, new):
            changes.append(
                f"{name}: {change} (a released version must not change: publish {event}.v{version + 1} "
                f"and keep {name} as released)"
            )
    for route in sorted(released.routes - current.routes):
        why = _retired(retired.get("routes", {}), route, today)
        if why is not None:
            changes.append(f"route removed: {route} ({why})")
    if released.api_document is not None:
        if current.api_document is None:
            changes.append("api/openapi.json: the released /v1 document is no longer published")
        else:
            # a removed operation: judged by the route check when it was a released route; else it may go once
            # retired and its window is over
            gone = {r for r in retired.get("routes", {}) if _retired(retired["routes"], r, today) is None}
            skip = set(released.routes) | gone
            for change in api_changes(released.api_document, current.api_document, skip=skip):
                changes.append(f"/v1 document: {change} (additive changes only within /v1)")
    return changes


def additions(released: Surface, current: Surface) -> list[str]:
    return [
        *(f"new schema {n}" for n in sorted(set(current.schemas) - set(released.schemas))),
        *(f"new route {r}" for r in sorted(current.routes - released.routes)),
    ]


def read_retired(path: Path = RETIRED_FILE) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text()) if path.is_file() else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.schema_gate",
        description="fail on a breaking change of the event schemas or the public API against the released baseline",
    )
    parser.add_argument(
        "--schemas", type=Path, default=SCHEMA_DIR, help="the current schemas (events/schemas)"
    )
    parser.add_argument(
        "--baseline", type=Path, default=BASELINE_DIR, help="the released baseline (events/released)"
    )
    parser.add_argument("--retired", type=Path, default=RETIRED_FILE, help="retired versions and routes")
    parser.add_argument(
        "--api-document", type=Path, default=API_DOCUMENT, help="the /v1 OpenAPI document (api/openapi.json)"
    )
    parser.add_argument(
        "--record", action="store_true", help="record the current contract as the released baseline"
    )
    args = parser.parse_args(argv)
    current = current_surface(args.schemas, args.api_document)
    if args.record:
        record(current, args.baseline)
        print(
            f"schema gate: recorded {len(current.schemas)} schemas and {len(current.routes)} routes in {args.baseline}"
        )
        return 0
    released = read_baseline(args.baseline)
    changes = breaking_changes(released, current, retired=read_retired(args.retired))
    if changes:
        print(
            f"schema gate: {len(changes)} breaking change(s) against the released baseline ({args.baseline}):"
        )
        for change in changes:
            print(f"  - {change}")
        return 1
    added = additions(released, current)
    print(
        f"schema gate: no breaking change ({len(current.schemas)} schemas, {len(current.routes)} routes"
        + (f"; additive: {', '.join(added)}" if added else "")
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
