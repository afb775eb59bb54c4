"""Stripe's ``expand[]`` request parameter (https://docs.stripe.com/api/expanding_objects, https://docs.stripe.com/expand),
on every endpoint, checked against the resources of Stripe's published contract
(``vendor-specs/stripe/stripe-contract.json``: a field typed ``expandable`` holds an id Stripe can replace with
its object).

- A path names a field of the returned object; dots go further into what it names (``payment_intent.customer``
  on a charge expands the PaymentIntent, then its Customer). Nested objects (``payment`` of an InvoicePayment)
  and lists (``{"object": "list", "data": [...]}``) are gone through on the way.
- On a list or search endpoint the path starts at the list: ``data.source`` expands the ``source`` of every item;
  ``source`` alone is refused, with Stripe's hint to try ``data.source``.
- At most four levels (``data.payments.data.payment`` is four): ``You cannot expand more than 4 levels of a
  property.``
- A path to a field the object does not have, or to one that is not expandable (``metadata``, ``amount``, a
  nested object): 400 ``invalid_request_error`` ``This property cannot be expanded (<path>).``
- A field that is null stays null; an expanded field is the object as ``GET`` returns it.
- Fields Stripe includes only when asked (``payments`` of an Invoice) are expandable where the sandbox serves
  them (``_INCLUDABLE``: the resource's own handler adds them); another such list is refused by name rather than
  answered without it.

Paths are checked before the request runs (an invalid one stores nothing under an Idempotency-Key), and applied
to the reply after it ran, so a replayed reply is the expanded one, as on Stripe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.sandboxes.stripe.contract import contract, endpoint
from localcloud.sandboxes.stripe.errors import _invalid

MAX_DEPTH = 4
#: Lists Stripe returns only when expanded, and which the sandbox serves: (resource, field).
_INCLUDABLE = frozenset({("invoice", "payments")})
_LIST = "<list>"  # the type of a list object: its one expandable way in is ``data``


def expansions(method: str, path: str, params: dict[str, Any]) -> list[list[str]]:
    """The request's ``expand`` paths, split at the dots, each checked against what the endpoint returns;
    refused as Stripe refuses them. ``params`` has passed the contract check (``expand`` is a list of
    strings)."""
    requested = params.get("expand") or []
    found = endpoint(method, path)
    if not requested or found is None:
        return []
    returns, kind = str(found["returns"]), str(found["kind"])
    top: tuple[str, str | None] = (_LIST, returns) if kind in ("list", "search_result") else (returns, None)
    paths: list[list[str]] = []
    for raw in requested:
        segments = raw.split(".")
        if len(segments) > MAX_DEPTH:
            raise _invalid("You cannot expand more than 4 levels of a property.")
        if "" in segments or not _valid(top, segments):
            message = f"This property cannot be expanded ({raw})."
            if top[0] == _LIST and _valid(top, ["data", *segments]) and len(segments) < MAX_DEPTH:
                message += f" You may want to try expanding 'data.{raw}' instead."
            raise _invalid(message)
        paths.append(segments)
    return paths


def _valid(at: tuple[str, str | None], segments: list[str]) -> bool:
    """Whether ``segments`` lead, from a value of type ``at``, to an expandable field."""
    kind, ref = at
    name, rest = segments[0], segments[1:]
    if kind == _LIST:  # a list object: only its items go further
        return name == "data" and bool(rest) and ref is not None and _valid((ref, None), rest)
    fields = contract()["resources"].get(kind)
    if fields is None or name not in fields:
        return False
    for alt in fields[name]["alts"]:
        item = alt["items"] if alt["type"] == "array" else alt
        if item["type"] == "expandable":
            if not rest or _valid((item["ref"], None), rest):
                return True
        elif item["type"] == "object" and item.get("ref") and rest:
            if _valid((item["ref"], None), rest):
                return True
        elif item["type"] == "list":
            if not rest and (kind, name) in _INCLUDABLE:
                return True
            if rest and _valid((_LIST, item.get("ref")), rest):
                return True
    return False


def expand(
    reply: dict[str, Any], paths: list[list[str]], find: Callable[[str], dict[str, Any] | None]
) -> None:
    """Apply checked ``paths`` to ``reply`` in place; ``find(id)`` is the object with that id as ``GET``
    returns it (None: the sandbox has no such object, the id stays)."""
    for segments in paths:
        _apply(reply, segments, find)


def _apply(node: dict[str, Any], segments: list[str], find: Callable[[str], dict[str, Any] | None]) -> None:
    name, rest = segments[0], segments[1:]
    if node.get("object") in ("list", "search_result") and name == "data":
        for item in node.get("data") or []:
            if isinstance(item, dict) and rest:
                _apply(item, rest, find)
        return
    if name not in node:
        return
    value = node[name]
    if isinstance(value, list):
        node[name] = value = [_expanded(item, find) for item in value]
        for item in value:
            if isinstance(item, dict) and rest:
                _apply(item, rest, find)
        return
    value = _expanded(value, find)
    node[name] = value
    if isinstance(value, dict) and rest:
        _apply(value, rest, find)


def _expanded(value: Any, find: Callable[[str], dict[str, Any] | None]) -> Any:
    if isinstance(value, str):
        found = find(value)
        return value if found is None else found
    return value
