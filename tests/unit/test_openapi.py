"""``api/openapi.json`` is what the resolver generates (regenerate: ``make openapi``), it is OpenAPI 3.1,
and it declares exactly the routes and scopes API Gateway enforces (``infra/topology.py`` API_ROUTES)."""

from __future__ import annotations

import json

from infra.topology import API_RESOURCE_SERVER, API_ROUTES
from shared.api.openapi import DOCUMENT, render


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_text() == render(), "api/openapi.json drifted from the code: run `make openapi`"


def test_every_route_of_the_document_is_a_topology_route_with_its_scope() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    declared = {
        (method.upper(), path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    # the token with the route's scope and the client's usage-plan key, both (API Gateway requires both)
    expected = {
        (r.method, r.path): [{"oauth2": [f"{API_RESOURCE_SERVER}/{r.scope}"], "apiKey": []}]
        for r in API_ROUTES
    }
    assert declared == expected
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": document["components"]["securitySchemes"]["apiKey"]["description"],
    }
    for (method, path), _ in expected.items():
        operation = document["paths"][path][method.lower()]
        if method == "POST":  # every POST takes a required Idempotency-Key
            [key] = [p for p in operation["parameters"] if p["name"].lower() == "idempotency-key"]
            assert key["in"] == "header" and key["required"] is True
        problems = {
            s for s, r in operation["responses"].items() if "application/problem+json" in r.get("content", {})
        }
        assert {"401", "403", "422", "429", "503"} <= problems, (method, path)
