"""The schema gate (``python -m scripts.schema_gate``): what it lets through and what it stops, on copies of the
real schemas in temporary folders; and the committed schemas against the committed release baseline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scripts.schema_gate import API_DOCUMENT, SCHEMA_DIR, current_routes, main

EVENT = "PaymentCaptured"


def _real(name: str = f"{EVENT}.v1") -> dict[str, Any]:
    return dict(json.loads((SCHEMA_DIR / f"{name}.json").read_text()))


class Gate:
    """A released baseline and a current contract, each a folder; ``run()`` runs the gate on them."""

    def __init__(self, root: Path) -> None:
        self.baseline = root / "released"
        self.current = root / "schemas"
        self.retired = root / "retired.json"
        #: the current /v1 document (a copy of the committed one); none is released unless a test says so
        self.document = root / "openapi.json"
        self.document.write_text(API_DOCUMENT.read_text())
        (self.baseline / "schemas").mkdir(parents=True)
        self.current.mkdir()
        self.routes = sorted(current_routes())
        self.release({f"{EVENT}.v1": _real()})
        self.publish({f"{EVENT}.v1": _real()})

    def release(self, schemas: dict[str, dict[str, Any]], routes: list[str] | None = None) -> None:
        for path in (self.baseline / "schemas").glob("*.json"):
            path.unlink()
        for name, schema in schemas.items():
            (self.baseline / "schemas" / f"{name}.json").write_text(json.dumps(schema))
        api = {"routes": self.routes if routes is None else routes}
        (self.baseline / "api.json").write_text(json.dumps(api))

    def publish(self, schemas: dict[str, dict[str, Any]]) -> None:
        for path in self.current.glob("*.json"):
            path.unlink()
        for name, schema in schemas.items():
            (self.current / f"{name}.json").write_text(json.dumps(schema))

    def run(self, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        code = main(
            [
                "--schemas",
                str(self.current),
                "--baseline",
                str(self.baseline),
                "--retired",
                str(self.retired),
                "--api-document",
                str(self.document),
            ]
        )
        return code, capsys.readouterr().out


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path)


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema["$defs"][EVENT])


def test_an_unchanged_contract_passes(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = gate.run(capsys)
    assert code == 0 and "no breaking change" in out


def test_additive_changes_pass(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _real()
    _data(schema)["properties"]["receiptUrl"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    schema["$defs"]["EventMetadata"]["properties"]["sourceSystem"]["enum"].append("avatax")
    gate.publish({f"{EVENT}.v1": schema, "TaxCommitted.v1": _real("RefundBooked.v1")})
    code, out = gate.run(capsys)
    assert code == 0, out
    assert "additive: new schema TaxCommitted.v1" in out


def test_a_removed_field_fails_naming_it(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _real()
    del _data(schema)["properties"]["chargeId"]
    gate.publish({f"{EVENT}.v1": schema})
    code, out = gate.run(capsys)
    assert code == 1
    assert f"{EVENT}.v1: field removed: data.chargeId" in out
    assert f"publish {EVENT}.v2" in out


def test_a_changed_type_fails_also_in_a_shared_definition(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = _real()
    schema["$defs"]["Money"]["properties"]["amount"]["type"] = "string"  # amount and amountReceived use Money
    gate.publish({f"{EVENT}.v1": schema})
    code, out = gate.run(capsys)
    assert code == 1
    assert f"{EVENT}.v1: type changed: data.amount.amount integer → string" in out
    assert f"{EVENT}.v1: type changed: data.amountReceived.amount integer → string" in out


def test_a_new_required_field_fails(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _real()
    _data(schema)["required"].append("erpOrderId")
    gate.publish({f"{EVENT}.v1": schema})
    code, out = gate.run(capsys)
    assert code == 1 and "required field added: data.erpOrderId" in out


def test_a_removed_enum_value_fails(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _real()
    schema["$defs"]["EventMetadata"]["properties"]["sourceSystem"]["enum"].remove("erp")
    gate.publish({f"{EVENT}.v1": schema})
    code, out = gate.run(capsys)
    assert code == 1 and 'enum value removed: metadata.sourceSystem no longer allows "erp"' in out


def test_a_bumped_version_with_the_old_one_still_published_passes(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    v2 = copy.deepcopy(_real())
    del _data(v2)["properties"]["chargeId"]
    _data(v2)["required"].append("erpOrderId")
    gate.publish({f"{EVENT}.v1": _real(), f"{EVENT}.v2": v2})
    code, out = gate.run(capsys)
    assert code == 0, out
    assert f"new schema {EVENT}.v2" in out


def test_a_bumped_version_that_drops_the_old_one_fails(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    v2 = copy.deepcopy(_real())
    del _data(v2)["properties"]["chargeId"]
    gate.publish({f"{EVENT}.v2": v2})
    code, out = gate.run(capsys)
    assert code == 1
    assert f"{EVENT}.v1: no longer published while {EVENT}.v2 replaces it" in out


def test_an_old_version_goes_once_its_retirement_date_has_passed(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    gate.release({f"{EVENT}.v1": _real(), f"{EVENT}.v2": _real()})
    gate.publish({f"{EVENT}.v2": _real()})
    gate.retired.write_text(json.dumps({"schemas": {f"{EVENT}.v1": "2999-01-01"}}))
    code, out = gate.run(capsys)
    assert code == 1 and "deprecation window ends 2999-01-01" in out
    gate.retired.write_text(json.dumps({"schemas": {f"{EVENT}.v1": "2020-01-01"}}))
    code, out = gate.run(capsys)
    assert code == 0, out


def test_a_removed_event_fails(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    gate.publish({})
    code, out = gate.run(capsys)
    assert code == 1 and f"{EVENT}.v1: no longer published (no newer version" in out


def test_a_removed_route_fails_and_a_new_one_passes(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    gate.release({f"{EVENT}.v1": _real()}, routes=[*gate.routes, "POST /webhooks/quickbooks"])
    code, out = gate.run(capsys)
    assert code == 1 and "route removed: POST /webhooks/quickbooks" in out
    gate.release({f"{EVENT}.v1": _real()}, routes=gate.routes[1:])
    code, out = gate.run(capsys)
    assert code == 0 and f"new route {gate.routes[0]}" in out


def test_a_rerouted_event_fails(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _real()
    schema["x-o2c-source"] = "o2c.billing"
    gate.publish({f"{EVENT}.v1": schema})
    code, out = gate.run(capsys)
    assert code == 1 and "x-o2c-source changed: o2c.payments → o2c.billing" in out


def test_without_a_baseline_the_gate_says_how_to_record_one(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="make release-baseline"):
        main(["--baseline", str(tmp_path / "none")])


def test_recording_makes_the_current_contract_the_baseline(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = _real()
    del _data(schema)["properties"]["chargeId"]
    gate.publish({f"{EVENT}.v1": schema})
    assert main(["--schemas", str(gate.current), "--baseline", str(gate.baseline), "--record"]) == 0
    code, out = gate.run(capsys)
    assert code == 0, out


def test_the_committed_schemas_pass_against_the_committed_release_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main([])
    out = capsys.readouterr().out
    assert code == 0, out


# --- the /v1 OpenAPI document: additive changes only within /v1 ----------------------------------------------


def _document() -> dict[str, Any]:
    return dict(json.loads(API_DOCUMENT.read_text()))


def _release_and_change(gate: Gate, change: Any) -> None:
    """Release the committed /v1 document (its routes not released as routes, as in the committed baseline),
    then publish it changed by ``change(document)``."""
    gate.release({f"{EVENT}.v1": _real()}, routes=[r for r in gate.routes if " /v1/" not in r])
    (gate.baseline / "openapi.json").write_text(API_DOCUMENT.read_text())
    document = _document()
    change(document)
    gate.document.write_text(json.dumps(document))


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(document["components"]["schemas"][name])


def test_an_unreleased_or_unchanged_document_passes(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate.run(capsys)[0] == 0
    _release_and_change(gate, lambda d: None)
    assert gate.run(capsys)[0] == 0


def test_additive_changes_to_the_document_pass(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    def additive(document: dict[str, Any]) -> None:
        _schema(document, "OrderIn")["properties"]["channel"] = {"type": "string"}  # optional request field
        _schema(document, "OrderView")["properties"]["eta"] = {"type": "string"}  # new response field
        document["paths"]["/v1/credit-notes/{id}"] = copy.deepcopy(document["paths"]["/v1/orders/{id}"])

    _release_and_change(gate, additive)
    code, out = gate.run(capsys)
    assert code == 0, out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["paths"].pop("/v1/invoices/{id}"), "GET /v1/invoices/{id}: operation removed"),
        (
            lambda d: _schema(d, "OrderView")["properties"].pop("status"),
            "GET /v1/orders/{id}: field removed: response 200.status",
        ),
        (
            lambda d: _schema(d, "RefundIn")["required"].append("reason"),
            "POST /v1/refunds: required field added: request.reason",
        ),
        (
            lambda d: (
                d["paths"]["/v1/orders/{id}"]["get"]
                .setdefault("parameters", [])
                .append({"name": "X-Tenant", "in": "header", "required": True, "schema": {"type": "string"}})
            ),
            "GET /v1/orders/{id}: required parameter added: header X-Tenant",
        ),
    ],
    ids=["removed path", "removed response field", "newly required request field", "newly required header"],
)
def test_a_breaking_change_to_the_released_document_fails(
    gate: Gate, capsys: pytest.CaptureFixture[str], change: Any, expected: str
) -> None:
    _release_and_change(gate, change)
    code, out = gate.run(capsys)
    assert code == 1 and expected in out, out


def test_a_released_operation_goes_once_retired_and_its_window_is_over(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    _release_and_change(gate, lambda d: d["paths"].pop("/v1/invoices/{id}"))
    gate.retired.write_text(json.dumps({"routes": {"GET /v1/invoices/{id}": "2999-01-01"}}))
    assert gate.run(capsys)[0] == 1
    gate.retired.write_text(json.dumps({"routes": {"GET /v1/invoices/{id}": "2000-01-01"}}))
    code, out = gate.run(capsys)
    assert code == 0, out
