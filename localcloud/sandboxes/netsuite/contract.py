"""NetSuite's record contract, as the project holds it (``vendor-specs/netsuite/records.json``, from Oracle's
REST API Browser 2026.1 through the team's fact sheet; see that folder's ``SOURCES.md``), and the checks a
NetSuite account makes on every write.

- ``X-NetSuite-PropertyNameValidation: Error`` (and when the header is absent — this sandbox takes the strict
  reading): a body field, sublist field or subrecord field the record does not have → 400 ``INVALID_FIELD``
  with ``o:errorPath`` naming it. ``Warning`` / ``Ignore``: the unknown field is dropped, as NetSuite does.
- ``X-NetSuite-PropertyValueValidation: Error`` (or absent): a select field whose ``id`` is not one of its
  ids, a select or reference that is not an object, or a write of a field NetSuite computes (``status``,
  totals; ``readOnly`` in the contract) → 400 ``INVALID_FLD_VALUE``. ``Warning`` / ``Ignore``: dropped.
- Custom fields (``custbody_*``, ``custentity_*``, ``custcol_*``) exist only if the account defines them:
  ``accountCustomFields`` lists the ones this account (the hub's setup) has.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from localcloud.sandboxes.netsuite.errors import NsError

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "vendor-specs" / "netsuite" / "records.json"
MODES = ("Error", "Warning", "Ignore")


@cache
def contract() -> dict[str, Any]:
    with CONTRACT_PATH.open(encoding="utf-8") as source:
        data: dict[str, Any] = json.load(source)
    return data


def fields_of(record_type: str) -> dict[str, Any]:
    """Body fields of a record type: the contract's plus the account's custom fields."""
    data = contract()
    return {**data["records"][record_type]["fields"], **data["accountCustomFields"].get(record_type, {})}


def sublist_fields(record_type: str, sublist: str) -> dict[str, Any] | None:
    entry = contract()["records"][record_type]["sublists"].get(sublist)
    return None if entry is None else entry["fields"]


def enum_label(record_type: str, field: str, value: str) -> str:
    return str(contract()["enumLabels"].get(f"{record_type}.{field}", {}).get(value, value))


def mode(value: str | None) -> str:
    """A validation header's value (absent: ``Error``); an unknown value is refused as NetSuite does."""
    if value is None or value == "":
        return "Error"
    for known in MODES:
        if value.strip().lower() == known.lower():
            return known
    raise NsError(
        400, "INVALID_HEADER", f"Invalid header value {value!r}: use one of {', '.join(MODES)}.", path=None
    )


def _unknown(record_type: str, path: str, name: str) -> NsError:
    return NsError(
        400,
        "INVALID_FIELD",
        f"Invalid field: {name!r} is not a field of {record_type} (at {path}).",
        path=path,
    )


def _bad_value(path: str, detail: str) -> NsError:
    return NsError(400, "INVALID_FLD_VALUE", detail, path=path)


def check_write(
    record_type: str, body: dict[str, Any], *, names: str = "Error", values: str = "Error"
) -> dict[str, Any]:
    """``body`` as NetSuite takes it: refused (``NsError``) or cleaned per the two validation modes."""
    return _check_object(record_type, fields_of(record_type), body, "", names, values, sublists=True)


def _check_object(
    record_type: str,
    fields: dict[str, Any],
    body: dict[str, Any],
    prefix: str,
    names: str,
    values: str,
    *,
    sublists: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in body.items():
        path = f"{prefix}{name}"
        spec = fields.get(name)
        if spec is None:
            if names == "Error":
                raise _unknown(record_type, path, name)
            continue
        problem = _value_problem(record_type, spec, value, path, names, values, sublists)
        if problem is not None:
            if values == "Error":
                raise _bad_value(path, problem)
            continue
        if spec["type"] == "sublist" and isinstance(value, dict) and sublists:
            value = _check_sublist(record_type, name, value, path, names, values)
        elif spec["type"] == "subrecord" and isinstance(value, dict) and "fields" in spec:
            value = _check_object(
                record_type, spec["fields"], value, f"{path}.", names, values, sublists=False
            )
        out[name] = value
    return out


def _value_problem(
    record_type: str, spec: dict[str, Any], value: Any, path: str, names: str, values: str, sublists: bool
) -> str | None:
    if spec.get("readOnly"):
        return f"You cannot set {path}: NetSuite computes it (read-only)."
    kind = spec["type"]
    if kind == "select":
        if value is None:
            return None
        if not isinstance(value, dict) or "id" not in value:
            return f"You have entered an Invalid Field Value {value!r} for the following field: {path}"
        allowed = spec.get("enum")
        if allowed is not None and str(value["id"]) not in allowed:
            return (
                f"You have entered an Invalid Field Value {value['id']} for the following field: {path} "
                f"(one of {', '.join(allowed)})"
            )
    elif kind == "reference":
        if value is not None and (not isinstance(value, dict) or not ({"id", "externalId"} & set(value))):
            return f"You have entered an Invalid Field Value {value!r} for the following field: {path}"
    elif kind == "sublist":
        if not isinstance(value, dict) or not isinstance(value.get("items"), list):
            return f'{path}: a sublist is written as {{"items": [...]}}'
    elif kind == "boolean" and value is not None and not isinstance(value, bool):
        return f"You have entered an Invalid Field Value {value!r} for the following field: {path}"
    return None


def _check_sublist(
    record_type: str, sublist: str, value: dict[str, Any], path: str, names: str, values: str
) -> dict[str, Any]:
    element = sublist_fields(record_type, sublist)
    if element is None:  # the fact sheet does not itemise it: take it as it is
        return value
    items = []
    for n, line in enumerate(value["items"]):
        if not isinstance(line, dict):
            raise _bad_value(f"{path}.items[{n}]", f"{path}.items[{n}]: a line is an object")
        items.append(
            _check_object(record_type, element, line, f"{path}.items[{n}].", names, values, sublists=False)
        )
    return {**{k: v for k, v in value.items() if k != "items"}, "items": items}


def check_answer(record_type: str, record: dict[str, Any]) -> None:
    """The sandbox's own check that it answers only with NetSuite's fields (a bug here is the sandbox's)."""
    fields = fields_of(record_type)
    unknown = [name for name in record if name not in fields]
    for name, value in record.items():
        element = sublist_fields(record_type, name) if isinstance(value, dict) else None
        if element is not None:
            for line in value.get("items", []):
                unknown += [f"{name}.{k}" for k in line if k not in element]
    if unknown:
        raise RuntimeError(
            f"netsuite sandbox: {record_type} answers fields NetSuite does not have: {unknown}"
        )
