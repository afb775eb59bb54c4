"""Bounds on what a sender controls: JSON bodies, provider ids and header values.

Every check here is total: whatever the input (huge numbers, non-ASCII, lone surrogates, 100k-deep
nesting, wrong types) it either returns or raises ``Problem`` (400/401), never another exception, so a
hostile or careless request is a 4xx and never a 5xx that tells the provider to retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from shared.ingress.web import Problem, bad_request
from shared.sensitive import contains_card_number

#: Deepest nesting a provider body may have (Stripe objects nest ~6 levels; HubSpot arrays 2).
MAX_JSON_DEPTH = 32
#: Longest provider id the hub accepts (Stripe documents ids of up to 255 characters).
MAX_ID_LENGTH = 255
#: Correlation ids: printable ASCII without spaces, at most this long.
MAX_CORRELATION_LENGTH = 255
_CORRELATION = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Header values a verifier parses as a number: ASCII digits only, so no ``int()`` surprise (whitespace,
#: ``_``, Unicode digits) and nothing large enough to overflow a float comparison.
_TIMESTAMP = re.compile(r"^[0-9]{1,15}$")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(
    body: bytes, *, max_depth: int = MAX_JSON_DEPTH, parse_float: Callable[[str], Any] = float
) -> Any:
    """The body as JSON, or 400: not UTF-8, not JSON, ``NaN``/``Infinity``, a float that overflows,
    nesting deeper than ``max_depth``, or a string (key or value) that is not valid Unicode (a lone
    surrogate such as ``"\\ud800"`` cannot be published or stored)."""
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=parse_float)
    except RecursionError:
        raise bad_request("too_deep", f"JSON nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError, TypeError):
        raise bad_request("malformed_json", "body is not valid JSON") from None
    _check_tree(value, max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, int):
            if not -(2**63) <= node < 2**63:
                raise bad_request("malformed_json", "a JSON integer is out of range (64 bits)")
        elif isinstance(node, float):
            if node != node or node in (float("inf"), float("-inf")):
                raise bad_request("malformed_json", "a JSON number is out of range")
        elif isinstance(node, Decimal):
            if not node.is_finite():
                raise bad_request("malformed_json", "a JSON number is out of range")
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise bad_request("too_deep", f"JSON nests deeper than {max_depth} levels")
            items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            for key, child in items:
                if key is not None:
                    _check_text(key)
                stack.append((child, depth + 1))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("malformed_json", "a JSON string is not valid Unicode (lone surrogate)") from None


def check_id(value: object, what: str, *, pattern: re.Pattern[str], max_length: int = MAX_ID_LENGTH) -> str:
    """A provider id the hub will key records on: a string (or integer) of at most ``max_length``
    characters matching ``pattern``, and nothing shaped like a card number. Otherwise 400."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request("invalid_id", f"{what} must be a string")
    text = str(value) if isinstance(value, str) else _int_text(value, what)
    if not text or len(text) > max_length:
        raise bad_request("invalid_id", f"{what} must be 1 to {max_length} characters")
    if not pattern.fullmatch(text):
        raise bad_request("invalid_id", f"{what} has characters a {what} cannot have")
    if contains_card_number(text):
        raise sensitive_id(what)
    return text


def _int_text(value: int, what: str) -> str:
    if value < 0 or value >= 10**MAX_ID_LENGTH:
        raise bad_request("invalid_id", f"{what} is out of range")
    return str(value)


def check_correlation_id(value: str, what: str = "correlation id") -> str:
    """A correlation id from outside (a header, provider metadata): printable ASCII, bounded, no card
    number. Otherwise 400 — it would be logged and stored under every event of the flow."""
    if isinstance(value, str) and len(value) <= 4 * MAX_CORRELATION_LENGTH and contains_card_number(value):
        raise sensitive_id(what)
    if not isinstance(value, str) or not _CORRELATION.fullmatch(value):
        raise bad_request(
            "invalid_correlation_id",
            f"{what} must be 1 to {MAX_CORRELATION_LENGTH} printable ASCII characters",
        )
    return value


def sensitive_id(what: str) -> Problem:
    return bad_request("sensitive_id", f"{what} looks like a payment card number; refused, not stored")


def header_timestamp(value: str | None) -> int | None:
    """A numeric timestamp header as an int, or None when it is not 1-15 ASCII digits."""
    if value is None or not _TIMESTAMP.fullmatch(value):
        return None
    return int(value)


def ascii_token(value: str) -> bytes | None:
    """A signature candidate as bytes for ``hmac.compare_digest`` (which refuses non-ASCII ``str``);
    None when it is not ASCII, so it simply matches nothing."""
    return value.encode("ascii") if value.isascii() else None
