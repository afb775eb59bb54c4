"""Regenerate ``vendor-specs/stripe/stripe-contract.json``: the part of Stripe's published contract (API
2026-10-28.endive) the hub and the Stripe sandbox use, in one machine-readable file.

Dev-only tool: it reads the full extracts (``stripe-endive-2026-10-28.params.json`` and
``...resources.json`` from the stripe-python 16.1.0 wheel, ``openapi-fixtures3.json`` from stripe/openapi;
see ``vendor-specs/stripe/SOURCES.md``), which are too large to keep in the repository. Tests and the
sandbox read only the committed subset.

    .venv/bin/python scripts/extract_stripe_contract.py /path/to/full/vendor-specs/stripe

What the subset holds (``_about`` in the file says the same):
- ``endpoints``: for each endpoint in ``ENDPOINTS``, its method, path (``{id}`` placeholders as the SDK
  spells them), request-parameter TypedDict and the object it returns;
- ``params``: those TypedDicts and every nested TypedDict they use, each field normalised to
  ``{"required", "empty" (Literal[''] accepted: unsets), "alts": [type, ...]}`` where a type is
  ``{"type": "string"|"integer"|"boolean"|"number"|"decimal"|"hash"|"any", "enum"?}``,
  ``{"type": "object", "ref": <TypedDict>}`` or ``{"type": "array", "items": type}``;
- ``resources``: the objects those endpoints return (and the objects embedded in them, closure), each
  nested class flattened as ``<object>.<Class>[.<Class>...]``; a field is ``{"nullable", "alts"}`` with the
  types above plus ``{"type": "object", "ref": <resource or nested>}``, ``{"type": "expandable", "ref":
  <object>}`` (an id, or the object when expanded) and ``{"type": "list", "ref": <object>}`` (a list object);
- ``error_codes``: Stripe's error ``code`` values (the SDK's enum of ``last_payment_error.code``);
- ``fixtures``: Stripe's example object for each of those resources.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

API_VERSION = "2026-10-28.endive"
OUT = Path(__file__).resolve().parents[1] / "vendor-specs" / "stripe" / "stripe-contract.json"

ABOUT = (
    "The part of Stripe's published contract (API 2026-10-28.endive) the O2C hub and its Stripe sandbox use, cut "
    "from Stripe's Python SDK 16.1.0 and Stripe's OpenAPI fixtures by scripts/extract_stripe_contract.py (sources "
    "and licences: SOURCES.md). endpoints: method, path, request-parameter shape, returned object. params: each "
    "shape's fields {required, empty (''=unset accepted), alts: [types]}, a type being {type: string|integer|"
    "boolean|number|decimal|hash|any, enum?}, {type: object, ref: shape} or {type: array, items: type}. "
    "resources: each object and nested class (object.Class) with its fields {nullable, alts}, types as above "
    "plus {type: object|expandable|list, ref: object}. error_codes: Stripe's error codes. fixtures: Stripe's "
    "example object for each resource. Enum lists are the values the SDK knows (Stripe may add values)."
)

# Every endpoint the Stripe sandbox serves and shared/outbound/stripe_payments.py calls (method, SDK path).
ENDPOINTS = [
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers/search"),
    ("GET", "/v1/customers/{customer}"),
    ("POST", "/v1/setup_intents"),
    ("GET", "/v1/setup_intents/{intent}"),
    ("POST", "/v1/setup_intents/{intent}/confirm"),
    ("POST", "/v1/payment_intents"),
    ("GET", "/v1/payment_intents/{intent}"),
    ("POST", "/v1/payment_intents/{intent}/capture"),
    ("POST", "/v1/payment_intents/{intent}/cancel"),
    ("GET", "/v1/payment_methods/{payment_method}"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/refunds/{refund}"),
    ("GET", "/v1/charges/{charge}"),
    ("GET", "/v1/disputes"),
    ("GET", "/v1/disputes/{dispute}"),
    ("GET", "/v1/invoices/{invoice}"),
    ("GET", "/v1/invoice_payments"),
    ("GET", "/v1/invoice_payments/{invoice_payment}"),
    ("GET", "/v1/subscriptions/{subscription_exposed_id}"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("POST", "/v1/products"),
    ("GET", "/v1/payouts/{payout}"),
    ("GET", "/v1/balance_transactions"),
    ("GET", "/v1/balance_transactions/{id}"),
    ("GET", "/v1/events/{id}"),
    ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/{webhook_endpoint}"),
    # Radar: reviews and early fraud warnings
    ("GET", "/v1/reviews/{review}"),
    ("POST", "/v1/reviews/{review}/approve"),
    ("GET", "/v1/radar/early_fraud_warnings/{early_fraud_warning}"),
]
# Objects the sandbox returns besides the endpoints' own (events carry any of them).
EXTRA_RESOURCES = ["event", "price", "subscription_item", "line_item"]


def _parse(annotation: str) -> ast.expr:
    return ast.parse(annotation, mode="eval").body


class _Types:
    """Turns the SDK's Python annotations into the normalised types described above."""

    def __init__(self, resolve: Any) -> None:
        self.resolve = resolve  # name -> type dict (object/ref) or None

    def field(self, annotation: str) -> dict[str, Any]:
        out: dict[str, Any] = {"required": True, "nullable": False, "empty": False}
        out["alts"] = _merge(self._alts(_parse(annotation), out))
        return out

    def _alts(self, node: ast.expr, flags: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value
            ref = self.resolve(name)
            if ref is not None:
                return [ref]
            return self._alts(_parse(name), flags)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._alts(node.left, flags) + self._alts(node.right, flags)
        if isinstance(node, ast.Name):
            simple = {
                "str": "string",
                "int": "integer",
                "bool": "boolean",
                "float": "number",
                "Decimal": "decimal",
                "Any": "any",
                "object": "any",
            }
            if node.id in simple:
                return [{"type": simple[node.id]}]
            if node.id == "None":
                flags["nullable"] = True
                return []
            ref = self.resolve(node.id)
            # A class the extract does not hold (e.g. the SDK's alias ``DisputeResource``): named, not typed.
            return [ref if ref is not None else {"type": "object", "class": node.id}]
        if isinstance(node, ast.Subscript):
            head = ast.unparse(node.value)
            args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head == "NotRequired":
                flags["required"] = False
                return self._alts(args[0], flags)
            if head == "Optional":
                flags["nullable"] = True
                return self._alts(args[0], flags)
            if head == "Union":
                return [alt for arg in args for alt in self._alts(arg, flags)]
            if head == "Literal":
                values = [a.value for a in args if isinstance(a, ast.Constant)]
                if "" in values:
                    flags["empty"] = True
                    values = [v for v in values if v != ""]
                if not values:
                    return []
                if all(isinstance(v, bool) for v in values):
                    return [{"type": "boolean", "enum": values}]
                if all(isinstance(v, int) for v in values):
                    return [{"type": "integer", "enum": values}]
                return [{"type": "string", "enum": values}]
            if head == "List":
                items = _merge(self._alts(args[0], {}))
                return [{"type": "array", "items": items[0] if len(items) == 1 else {"anyOf": items}}]
            if head in ("Dict", "UntypedStripeObject", "Mapping"):
                return [{"type": "hash"}]
            if head == "ExpandableField":
                targets = self._alts(args[0], {})  # one resource or a Union of them
                return [{"type": "expandable", "ref": t.get("ref") or t.get("class")} for t in targets]
            if head in ("ListObject", "SearchResultObject"):
                name = str(args[0].value) if isinstance(args[0], ast.Constant) else ast.unparse(args[0])
                target = self.resolve(name)
                return [{"type": "list", "ref": (target or {}).get("ref")}]
        raise ValueError(f"cannot read annotation {ast.unparse(node)}")


def _merge(alts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SDK types Stripe's enums ``Literal[...] | str`` (forward compatible); the API takes the enum."""
    merged: list[dict[str, Any]] = []
    enum: list[Any] = []
    free_str = False
    for alt in alts:
        if alt.get("type") == "string" and "enum" in alt:
            enum += [v for v in alt["enum"] if v not in enum]
        elif alt == {"type": "string"}:
            free_str = True
        elif alt not in merged:
            merged.append(alt)
    if enum:
        merged.insert(0, {"type": "string", "enum": enum})
    elif free_str:
        merged.insert(0, {"type": "string"})
    return merged


def _params(all_params: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def resolve(name: str) -> dict[str, Any] | None:
        if name in all_params:
            return {"type": "object", "ref": name}
        return None

    types = _Types(resolve)
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        fields: dict[str, Any] = {}
        for fname, spec in sorted(all_params[name]["fields"].items()):
            f = types.field(spec["type"])
            entry = {"required": f["required"], "alts": f["alts"]}
            if f["empty"]:
                entry["empty"] = True
            fields[fname] = entry
            todo += [r for r in _refs(f["alts"]) if r not in out]
        out[name] = fields
    return dict(sorted(out.items()))


def _refs(alts: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for alt in alts:
        if alt.get("type") == "array":
            found += _refs([alt["items"]] if "anyOf" not in alt["items"] else alt["items"]["anyOf"])
        elif alt.get("type") == "object" and alt.get("ref"):
            found.append(alt["ref"])
        elif "anyOf" in alt:
            found += _refs(alt["anyOf"])
    return found


def _resources(resources: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    by_class = _by_class(resources)
    out: dict[str, Any] = {}

    def walk(path: str, spec: dict[str, Any], scopes: list[tuple[str, dict[str, Any]]]) -> list[str]:
        if path.rsplit(".", 1)[-1] == "TestHelpers":  # the SDK's test-helper methods, not a field
            return []
        scopes = [*scopes, (path, spec)]

        def resolve(name: str) -> dict[str, Any] | None:
            for scope_path, scope in reversed(scopes):
                if name in scope.get("nested", {}):
                    return {"type": "object", "ref": f"{scope_path}.{name}"}
            if name in by_class:
                return {"type": "object", "ref": by_class[name]}
            return None

        types = _Types(resolve)
        fields: dict[str, Any] = {}
        embedded: list[str] = []
        for fname, fspec in sorted(spec.get("fields", {}).items()):
            f = types.field(fspec["type"])
            entry: dict[str, Any] = {"alts": f["alts"]}
            if f["nullable"] or fspec.get("nullable"):
                entry["nullable"] = True
            fields[fname] = entry
            for alt in f["alts"]:
                items = alt.get("items") if alt.get("type") == "array" else alt
                for one in items.get("anyOf", [items]) if isinstance(items, dict) else []:
                    ref = one.get("ref")
                    if one.get("type") in ("object", "list") and ref in resources:
                        embedded.append(ref)
        out[path] = fields
        for name, nested in spec.get("nested", {}).items():
            embedded += walk(f"{path}.{name}", nested, scopes)
        return embedded

    todo = list(roots)
    while todo:
        obj = todo.pop()
        if obj in out:
            continue
        todo += walk(obj, resources[obj], [])
    return dict(sorted(out.items()))


def main(source: Path) -> None:
    params_doc = json.loads((source / "stripe-endive-2026-10-28.params.json").read_text())
    resources_doc = json.loads((source / "stripe-endive-2026-10-28.resources.json").read_text())
    fixtures_doc = json.loads((source / "openapi-fixtures3.json").read_text())
    all_resources = resources_doc["resources"]
    by_class = _by_class(all_resources)

    endpoints = []
    roots: list[str] = []
    returned: list[str] = list(EXTRA_RESOURCES)
    by_key = {(e["method"], e["path"]): e for e in resources_doc["endpoints"]}
    for method, path in ENDPOINTS:
        e = by_key[(method, path)]
        params_class = _inner(e["params"])
        returns = _inner(e["returns"])
        kind = "object"
        for wrapper in ("ListObject", "SearchResultObject"):
            if returns.startswith(wrapper + "["):
                kind = "list" if wrapper == "ListObject" else "search_result"
                returns = returns[len(wrapper) + 1 : -1]
        obj = by_class[ast.literal_eval(returns) if returns.startswith("'") else returns]
        endpoints.append(
            {"method": method, "path": path, "params": params_class, "returns": obj, "kind": kind}
        )
        roots.append(params_class)
        returned.append(obj)

    resources = _resources(all_resources, returned)
    error_codes = sorted(
        all_resources["payment_intent"]["nested"]["LastPaymentError"]["fields"]["code"]["enum"]
    )
    top = [name for name in resources if "." not in name]
    contract = {
        "_about": ABOUT,
        "api_version": API_VERSION,
        "source": {
            "params_and_resources": params_doc["source"],
            "fixtures": "stripe/openapi openapi/fixtures3.json",
        },
        "endpoints": endpoints,
        "params": _params(params_doc["params"], roots),
        "resources": resources,
        "error_codes": error_codes,
        "fixtures": {
            name: fixtures_doc["resources"][name] for name in top if name in fixtures_doc["resources"]
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(contract, indent=1, sort_keys=False) + "\n")
    print(
        f"{OUT}: {len(endpoints)} endpoints, {len(contract['params'])} param types, {len(resources)} resource types"
    )


def _by_class(resources: dict[str, Any]) -> dict[str, str]:
    """SDK class name → object name. Classes share names across namespaces (``Dispute`` is ``dispute`` and
    ``issuing.dispute``): the v1 core object wins, as the core services' annotations mean it."""
    out: dict[str, str] = {}
    for obj, spec in sorted(resources.items(), key=lambda item: ("." in item[0], item[0])):
        out.setdefault(spec["class"], obj)
    return out


def _inner(annotation: str) -> str:
    """``Optional['X']`` / ``'X'`` → ``X`` (quoted or not as written inside)."""
    text = annotation.strip()
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional[") : -1]
    if text.startswith("'") and text.endswith("'") and text.count("'") == 2:
        text = text[1:-1]
    return text


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/vendor-specs/stripe"))
