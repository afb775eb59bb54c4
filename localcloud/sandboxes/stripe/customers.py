"""Customers.

- ``POST /v1/customers``, ``GET /v1/customers/search?query=metadata['k']:'v' AND email:'x'``,
  ``GET /v1/customers/{id}``
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _COMMON_PARAMS, _int, _metadata, _only, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call

_CUSTOMER_PARAMS = _COMMON_PARAMS | {"name", "email", "description", "phone", "metadata", "address"}


_CLAUSE = re.compile(
    r"""\s*(?:(?P<meta>metadata\[(?P<q>['"])(?P<mkey>.*?)(?P=q)\])|(?P<field>[a-z_]+))\s*"""
    r"""(?P<op>[:~])\s*(?P<vq>['"])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)\s*""",
    re.DOTALL,
)


def _search_filter(query: str) -> Callable[[dict[str, Any]], bool]:
    """A subset of Stripe's search query language for customers: ``field:'v'``, ``field~'v'``,
    ``metadata['k']:'v'``, joined by all-AND or all-OR."""
    clauses: list[tuple[str | None, str | None, str, str]] = []
    joins: set[str] = set()
    pos = 0
    while True:
        match = _CLAUSE.match(query, pos)
        if match is None:
            raise _invalid(f"Invalid search query: {query!r}", param="query")
        value = re.sub(r"\\(.)", r"\1", match.group("value"))
        clauses.append((match.group("mkey"), match.group("field"), match.group("op"), value))
        pos = match.end()
        if pos >= len(query):
            break
        join = re.match(r"(AND|OR)\s+", query[pos:], re.IGNORECASE)
        if join is None:
            raise _invalid(f"Invalid search query: {query!r}", param="query")
        joins.add(join.group(1).upper())
        pos += join.end()
    if len(joins) > 1:
        raise _invalid("Search queries cannot mix AND and OR", param="query")

    def test(obj: dict[str, Any], clause: tuple[str | None, str | None, str, str]) -> bool:
        meta_key, field_name, op, value = clause
        if meta_key is not None:
            actual = (obj.get("metadata") or {}).get(meta_key)
        elif field_name in ("email", "name", "phone", "description", "created"):
            actual = obj.get(field_name)
        else:
            raise _invalid(f"Field {field_name!r} is not searchable", param="query")
        if actual is None:
            return False
        if op == ":":
            return str(actual).lower() == value.lower() if field_name == "email" else str(actual) == value
        return value.lower() in str(actual).lower()

    combine = any if joins == {"OR"} else all
    for clause in clauses:  # validate fields now, not on the first object
        test({}, clause)
    return lambda obj: combine(test(obj, clause) for clause in clauses)


class CustomersMixin(StripeState):
    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._customers.values()))

    def _create_customer(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = _only(call.params, _CUSTOMER_PARAMS)
        metadata = _metadata(params)
        with self._lock:
            customer: dict[str, Any] = {
                "id": new_id("cus", 14),
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": int(time.time()),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": _opt_str(params, "description"),
                "discount": None,
                "email": _opt_str(params, "email"),
                "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": None,
                    "footer": None,
                    "rendering_options": None,
                },
                "livemode": False,
                "metadata": metadata,
                "name": _opt_str(params, "name"),
                "next_invoice_sequence": 1,
                "phone": _opt_str(params, "phone"),
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
            self._customers[customer["id"]] = customer
            return copy.deepcopy(customer)

    def _search_customers(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        query = call.params.get("query")
        if not query:
            raise _invalid("Missing required param: query.", param="query", code="parameter_missing")
        matches = _search_filter(str(query))
        limit = _int(call.params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid("limit must be between 1 and 100", param="limit", code="parameter_invalid_integer")
        with self._lock:
            found = [c for c in self._customers.values() if matches(c)]
        found.sort(key=lambda c: c["created"], reverse=True)  # Stripe: newest first
        return {
            "object": "search_result",
            "data": copy.deepcopy(found[:limit]),
            "has_more": len(found) > limit,
            "next_page": None,
            "url": "/v1/customers/search",
        }

    def _get_customer(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            customer = self._customers.get(match.group(1))
            if customer is None:
                raise _missing("customer", match.group(1))
            return copy.deepcopy(customer)

    def _customer_param(self, params: dict[str, Any]) -> str | None:
        customer = _opt_str(params, "customer")
        if customer is not None and customer not in self._customers:
            raise _missing("customer", customer, param="customer")
        return customer
