"""Every topology FunctionSpec becomes one function on the Lambda platform the layer is built for."""

from __future__ import annotations

from typing import Any

import pytest

from infra.topology import FUNCTIONS, LAMBDA_RUNTIME, Resolved, function_environment
from tests.infra.helpers import function_by_description, hub_bus_id, resources_of

pytestmark = pytest.mark.infra


def _expected_env_keys(spec: Any) -> set[str]:
    resolved = Resolved(
        stage="test",
        table_names={table_id: "t" for table_id in spec.tables},
        secret_refs={secret_id: "s" for secret_id in spec.secrets},
        event_bus_name="o2c-test",
    )
    return set(function_environment(spec, resolved))


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_function_runs_on_the_layer_platform(template_json: dict[str, Any], spec: Any) -> None:
    # Given the synthesized stack / When we look at the spec's function
    _, function = function_by_description(template_json, spec.description)
    props = function["Properties"]
    layer_ids = list(resources_of(template_json, "AWS::Lambda::LayerVersion"))

    # Then it runs python3.13 (the Python the layer's bytecode is compiled with) on arm64 with the shared
    # layer, traced, sized as specified
    assert props["Runtime"] == LAMBDA_RUNTIME == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Layers"] == [{"Ref": layer_ids[0]}] and len(layer_ids) == 1
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Handler"] == spec.handler
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_s


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_function_gets_exactly_its_own_environment(template_json: dict[str, Any], spec: Any) -> None:
    _, function = function_by_description(template_json, spec.description)
    variables = function["Properties"]["Environment"]["Variables"]

    assert set(variables) == _expected_env_keys(spec)
    assert variables["STAGE"] == "test"
    assert variables["POWERTOOLS_SERVICE_NAME"] == spec.service_name
    for key, value in spec.settings.items():
        assert variables[key] == value
    if spec.publishes_events:
        assert variables["EVENT_BUS_NAME"] == {"Ref": _bus_id(template_json)}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda s: s.id)
def test_function_logs_to_its_own_log_group_with_retention(template_json: dict[str, Any], spec: Any) -> None:
    _, function = function_by_description(template_json, spec.description)
    log_group_ref = function["Properties"]["LoggingConfig"]["LogGroup"]
    log_group_id = log_group_ref["Ref"]

    log_group = template_json["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0


def test_no_function_shares_a_log_group(template_json: dict[str, Any]) -> None:
    groups = [
        f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for f in resources_of(template_json, "AWS::Lambda::Function").values()
    ]
    # the hub's functions and the warehouse delivery stream's projection (infra/constructs/warehouse.py)
    assert len(groups) == len(set(groups)) == len(FUNCTIONS) + 1


def _bus_id(template_json: dict[str, Any]) -> str:
    bus_id = hub_bus_id(template_json)
    return bus_id
