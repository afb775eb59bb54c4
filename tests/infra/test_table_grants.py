"""Least privilege on the tables: a function's role may Scan, BatchGetItem or BatchWriteItem only if its code does.

What the code calls is read with ``ast`` (``cli_actions``: from every module of the function's code directory
through ``shared``); the Powertools idempotency layer, which the analysis does not enter, uses single-item
calls only (GetItem, PutItem, UpdateItem, DeleteItem).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.topology import FUNCTIONS
from tests.infra.cli_actions import REPO_ROOT, actions_of
from tests.infra.helpers import as_list, function_by_description, role_statements

BULK = {"dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}


def _code_actions(code_dir: str) -> set[str]:
    modules = [
        ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts)
        for p in sorted((REPO_ROOT / code_dir).rglob("*.py"))
    ]
    return actions_of([f"{m}:*" for m in modules], scope="functions")


def test_the_analysis_finds_the_bulk_calls_the_hub_makes() -> None:
    """The functions known to scan or batch-write are found doing so (else the test below proves nothing)."""
    by_id = {spec.id: spec for spec in FUNCTIONS}
    assert {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"} <= _code_actions(
        by_id["LineageRecorder"].code_dir
    )
    assert "dynamodb:Scan" in _code_actions(by_id["Reconciler"].code_dir)
    assert "dynamodb:Scan" in _code_actions(by_id["FactReleaser"].code_dir)
    assert not BULK & _code_actions(by_id["ErpTasks"].code_dir)


@pytest.mark.parametrize("spec", [s for s in FUNCTIONS if s.tables], ids=lambda s: s.id)
def test_no_scan_or_batch_write_grant_the_code_does_not_use(template_json: dict[str, Any], spec: Any) -> None:
    assert Path(REPO_ROOT / spec.code_dir).is_dir()
    _, function = function_by_description(template_json, spec.description)
    statements = role_statements(template_json, function["Properties"]["Role"]["Fn::GetAtt"][0])
    granted = {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not any(a in {"dynamodb:*", "*"} for a in granted)
    assert granted & BULK <= _code_actions(spec.code_dir)
