"""Stripe's request parameters: form bodies and query strings in bracket notation, and the checks of
single parameters (unknown ones refused as Stripe refuses them, integers, booleans, metadata).

GET query strings are read in bracket notation as form bodies are (``payment[type]=x``, ``expand[0]=x``);
``expand`` is checked and applied to every reply by ``expand`` (Stripe's ``expand[]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from localcloud.sandboxes.stripe.errors import _invalid

_COMMON_PARAMS = frozenset({"expand"})


def decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: ``a[b][c]=v`` → nested dicts, ``a[0]=v`` / ``a[]=v`` → lists."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _invalid("Invalid request body: not UTF-8") from None
    return _nest(pairs)


def _nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket notation decoded (see ``decode_form``): also a GET's query string, which Stripe reads the
    same way (``payment[type]=payment_intent`` → ``{"payment": {"type": "payment_intent"}}``)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise _invalid(f"Invalid parameter name: {key}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for index, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if index == len(parts) - 1:
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise _invalid(f"Invalid array or hash: {key}", param=parts[0])
                node = child
    return _lists(root)


def _lists(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _lists(value)
            if value and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
        out[key] = value
    return out


def _only(params: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    for name in params:
        if name not in allowed:
            raise _invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")
    return params


def _opt_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {name}", param=name)
    return value


def _int(params: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return default
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value):
        raise _invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    return int(value)


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=name)
    return bool(value == "true")


def _list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"Invalid array: {name}", param=name)
    return list(value)


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata rules: up to 50 keys, keys up to 40 characters, values up to 500; "" unsets."""
    value = params.get("metadata")
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid("Invalid object", param="metadata")
    if len(value) > 50:
        raise _invalid("Metadata can have up to 50 keys.", param="metadata")
    for key, item in value.items():
        if len(key) > 40 or len(item) > 500:
            raise _invalid(
                "Metadata keys are up to 40 characters and values up to 500.",
                param=f"metadata[{key[:40]}]",
            )
    return {k: v for k, v in value.items() if v != ""}
