"""Deprecating a /v1 operation: the policy and its mechanism.

Within ``/v1`` nothing is removed or changed incompatibly (the schema gate refuses it, ``scripts/schema_gate.py``).
An operation that is to go is first *deprecated*: listed in ``DEPRECATIONS`` by its operationId, with the date
it was deprecated and the date it will go (at least six months later; README "API", deprecation policy).
From then on

- the OpenAPI document marks it ``deprecated: true`` (``make openapi``);
- every answer of it, errors included, carries ``Deprecation: @<epoch seconds>`` (RFC 9745), ``Sunset: <HTTP-date>``
  (RFC 8594) and, when the notice has a page, ``Link: <page>; rel="deprecation"`` and ``rel="sunset"``.

After the sunset date it may be removed: list its route in ``events/retired.json`` with that date (the gate then
lets it go). No operation is deprecated today."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any


@dataclass(frozen=True)
class Deprecation:
    #: when the operation was deprecated (may be in the future: announced)
    since: datetime
    #: when it stops answering
    sunset: datetime | None = None
    #: a page saying what replaces it
    link: str | None = None

    def headers(self) -> dict[str, str]:
        out = {"Deprecation": f"@{int(self.since.timestamp())}"}
        links = [f'<{self.link}>; rel="deprecation"; type="text/html"'] if self.link else []
        if self.sunset is not None:
            out["Sunset"] = format_datetime(self.sunset.astimezone(UTC), usegmt=True)
            if self.link:
                links.append(f'<{self.link}>; rel="sunset"; type="text/html"')
        if links:
            out["Link"] = ", ".join(links)
        return out


#: operationId → its notice. Empty: no /v1 operation is deprecated.
DEPRECATIONS: Mapping[str, Deprecation] = {}


def by_route(openapi: Any, deprecations: Mapping[str, Deprecation]) -> dict[tuple[str, str], Deprecation]:
    """(METHOD, path template as API Gateway's ``resource`` names it) → the notice, from the resolver's OpenAPI
    model (``APIGatewayRestResolver.get_openapi_schema()``)."""
    out: dict[tuple[str, str], Deprecation] = {}
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is not None and operation.operationId in deprecations:
                out[(method.upper(), path)] = deprecations[operation.operationId]
    unknown = set(deprecations) - {o for o in _operation_ids(openapi)}
    if unknown:
        raise ValueError(f"deprecations name no operation: {sorted(unknown)}")
    return out


def _operation_ids(openapi: Any) -> set[str]:
    return {
        op.operationId
        for item in (openapi.paths or {}).values()
        for method in ("get", "put", "post", "delete", "patch")
        if (op := getattr(item, method, None)) is not None
    }
