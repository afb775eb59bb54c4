"""Stripe's published contract (``vendor-specs/stripe/stripe-contract.json``, API 2026-10-28.endive, cut
from Stripe's own SDK by ``scripts/extract_stripe_contract.py``) and the check of every request against it.

Every API request the sandbox serves is first read against its endpoint's request-parameter shape
(``PaymentIntentCreateParams``, ``InvoicePaymentListParams``, ...), nested hashes included, before anything
runs or is stored under an Idempotency-Key, and refused as Stripe refuses it (400 ``invalid_request_error``):

- a parameter the endpoint does not have: ``parameter_unknown``, ``Received unknown parameter: <name>``
  (``<name>`` in bracket notation: ``payment_method_options[card][invented]``);
- a required one missing: ``parameter_missing``, ``Missing required param: <name>.``;
- ``""`` where the parameter cannot be unset: ``parameter_invalid_string_empty`` (a string) or
  ``parameter_invalid_empty`` (anything else), in Stripe's words;
- not an integer: ``parameter_invalid_integer``, ``Invalid integer: <value>``;
- a value outside the enum: ``Invalid <name>: must be one of a, b, or c``; a bad boolean ``Invalid boolean:
  <value>``, a non-hash ``Invalid object``, a non-list ``Invalid array`` (Stripe sends no ``code`` for these:
  its error-code list has none).

The resource modules keep their own, stricter checks (what the sandbox does not implement is refused there).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from localcloud.sandboxes.stripe.errors import ApiError, _invalid

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "vendor-specs" / "stripe" / "stripe-contract.json"


@functools.cache
def contract() -> dict[str, Any]:
    """The committed contract file, parsed once."""
    return dict(json.loads(CONTRACT_PATH.read_text()))


@functools.cache
def _routes() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    routes = []
    for endpoint in contract()["endpoints"]:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(endpoint["path"]))
        routes.append((endpoint["method"], re.compile(f"^{pattern}$"), endpoint))
    # literal paths first: /v1/customers/search before /v1/customers/{customer}
    routes.sort(key=lambda route: route[2]["path"].count("{"))
    return routes


def endpoint(method: str, path: str) -> dict[str, Any] | None:
    """The contract's endpoint for a request (``{"method", "path", "params", "returns", "kind"}``)."""
    for route_method, pattern, found in _routes():
        if route_method == method and pattern.match(path):
            return found
    return None


def check_version(requested: str | None, served: str) -> None:
    """A ``Stripe-Version`` header Stripe does not know is refused as Stripe refuses it; a version Stripe knows
    but the sandbox does not speak (it answers in ``served`` only) is refused too, rather than answered in
    another version's shapes. No header: the account's default version, ``served``."""
    if requested is None or requested == served:
        return
    known = contract()["params"]["WebhookEndpointCreateParams"]["api_version"]["alts"][0]["enum"]
    if requested not in known:
        raise _invalid(f"Invalid Stripe API version: {requested}")
    raise _invalid(
        f"The Stripe sandbox answers in API version {served} only, and this request asks for {requested}."
    )


def check_request(method: str, path: str, params: dict[str, Any]) -> None:
    """Refuse ``params`` (decoded form body or query string) as Stripe would for this endpoint; a request to
    an endpoint the contract does not have is 404 ``Unrecognized request URL``."""
    found = endpoint(method, path)
    if found is None:
        raise _invalid(f"Unrecognized request URL ({method}: {path}).", status=404)
    _check_hash(found["params"], params, prefix=None)


def _check_hash(shape: str, value: dict[str, Any], prefix: str | None) -> None:
    fields = contract()["params"][shape]
    for name in value:
        if name not in fields:
            full = _name(prefix, name)
            raise _invalid(f"Received unknown parameter: {full}", param=full, code="parameter_unknown")
    for name, spec in fields.items():
        if spec["required"] and name not in value:
            full = _name(prefix, name)
            raise _invalid(f"Missing required param: {full}.", param=full, code="parameter_missing")
    for name, item in value.items():
        _check_value(fields[name], item, _name(prefix, name))


def _check_value(spec: dict[str, Any], value: Any, name: str) -> None:
    if value == "":
        if spec.get("empty"):
            return
        string = any(alt["type"] == "string" and "enum" not in alt for alt in spec["alts"])
        raise _invalid(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to unset a "
            f"parameter; however '{name}' cannot be unset. You should remove '{name}' from your request or "
            "supply a non-empty value.",
            param=name,
            code="parameter_invalid_string_empty" if string else "parameter_invalid_empty",
        )
    errors: list[ApiError] = []
    for alt in spec["alts"]:
        try:
            _check_type(alt, value, name)
            return
        except ApiError as exc:
            errors.append(exc)
    if not errors:
        return
    # The most telling refusal: a type error (integer, object, ...) over "not in the enum" when both apply.
    typed = [e for e in errors if not str(e).startswith(f"Invalid {name}: must be one of")]
    raise (typed or errors)[0]


def _check_type(alt: dict[str, Any], value: Any, name: str) -> None:
    kind = alt.get("type")
    if "anyOf" in alt:
        _check_value({"alts": alt["anyOf"]}, value, name)
    elif kind == "object":
        if not isinstance(value, dict):
            raise _invalid("Invalid object", param=name)
        if alt.get("ref") in contract()["params"]:
            _check_hash(alt["ref"], value, name)
    elif kind == "hash":
        if not isinstance(value, dict):
            raise _invalid("Invalid object", param=name)
    elif kind == "array":
        if not isinstance(value, list):
            raise _invalid("Invalid array", param=name)
        for index, item in enumerate(value):
            _check_value({"alts": [alt["items"]]}, item, f"{name}[{index}]")
    elif not isinstance(value, str):
        raise _invalid(f"Invalid {_TYPE_WORDS.get(str(kind), 'string')}", param=name)
    elif kind == "integer":
        if not re.fullmatch(r"-?[0-9]+", value):
            raise _invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
        if "enum" in alt and int(value) not in alt["enum"]:
            raise _invalid(f"Invalid {name}: must be one of {_one_of(alt['enum'])}", param=name)
    elif kind == "boolean":
        if value not in ("true", "false"):
            raise _invalid(f"Invalid boolean: {value}", param=name)
        if "enum" in alt and (value == "true") not in alt["enum"]:
            raise _invalid(f"Invalid {name}: must be one of {_one_of(alt['enum'])}", param=name)
    elif kind in ("number", "decimal"):
        if not re.fullmatch(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", value):
            raise _invalid(f"Invalid {_TYPE_WORDS[kind]}: {value}", param=name)
    elif kind == "string" and "enum" in alt and value not in alt["enum"]:
        raise _invalid(f"Invalid {name}: must be one of {_one_of(alt['enum'])}", param=name)


_TYPE_WORDS = {"integer": "integer", "boolean": "boolean", "number": "float", "decimal": "decimal"}


def _one_of(values: list[Any]) -> str:
    words = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + ", or " + words[-1]


def _name(prefix: str | None, name: str) -> str:
    return name if prefix is None else f"{prefix}[{name}]"
