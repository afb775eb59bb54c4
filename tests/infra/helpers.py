"""Template look-ups shared by the infrastructure tests."""

from __future__ import annotations

from typing import Any


def resources_of(template_json: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == resource_type}


def claim_check_bucket(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The claim-check bucket (the stack's other bucket is the warehouse's)."""
    [(logical_id, resource)] = [
        (k, v)
        for k, v in resources_of(template_json, "AWS::S3::Bucket").items()
        if k.startswith("ClaimChecks")
    ]
    return logical_id, resource


def output_ref(template_json: dict[str, Any], output: str) -> str:
    """Logical id of the resource an output `Ref`s."""
    value = template_json["Outputs"][output]["Value"]
    return str(value["Ref"])


def function_by_description(template_json: dict[str, Any], description: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, resource)
        for logical_id, resource in resources_of(template_json, "AWS::Lambda::Function").items()
        if resource["Properties"].get("Description") == description
    ]
    assert len(matches) == 1, f"expected one function described {description!r}, found {len(matches)}"
    return matches[0]


def role_statements(template_json: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to one role."""
    statements: list[dict[str, Any]] = []
    role = template_json["Resources"][role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    for policy in resources_of(template_json, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def hub_bus_id(template_json: dict[str, Any]) -> str:
    """The stage's own bus (named); partner buses carry an EventSourceName instead."""
    (bus_id,) = [
        k
        for k, v in resources_of(template_json, "AWS::Events::EventBus").items()
        if "Name" in v["Properties"] and "EventSourceName" not in v["Properties"]
    ]
    return bus_id


def partner_bus_ids(template_json: dict[str, Any]) -> dict[str, str]:
    """Partner event source name → logical id of its bus."""
    return {
        v["Properties"]["EventSourceName"]: k
        for k, v in resources_of(template_json, "AWS::Events::EventBus").items()
        if "EventSourceName" in v["Properties"]
    }


def live_alias_of(template_json: dict[str, Any], function_logical_id: str) -> str:
    """Logical id of a function's ``live`` alias: what everything that invokes the function targets."""
    (alias,) = [
        logical_id
        for logical_id, resource in resources_of(template_json, "AWS::Lambda::Alias").items()
        if resource["Properties"]["FunctionName"] == {"Ref": function_logical_id}
        and resource["Properties"]["Name"] == "live"
    ]
    return alias
