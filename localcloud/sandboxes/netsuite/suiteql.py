"""SuiteQL over REST (``POST /services/rest/query/v1/suiteql?limit=&offset=``, header ``Prefer: transient``,
body ``{"q"}``): the subset ``SELECT <columns> FROM transaction WHERE type = '<SalesOrd|CustInvc|CustPymt|
CustCred|CustRfnd|Deposit|RtnAuth>' [AND trandate >= TO_DATE('YYYY-MM-DD', 'YYYY-MM-DD')] [AND externalid =
'...'] [AND createdfrom = '<id>'] [ORDER BY id]``; columns ``id, externalid, tranid, total, taxtotal, currency,
status, createdfrom, trandate`` or
``TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate``. ``status`` is the transaction's status id (invoice A/B, ...).
Pages: ``limit`` <= 1000, ``offset`` a multiple of it; ``{"items", "count", "hasMore", "offset",
"totalResults"}``."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from localcloud.sandboxes.base import Reply, Request, json_reply
from localcloud.sandboxes.netsuite.account import Account
from localcloud.sandboxes.netsuite.common import SUITEQL_PATH, TRANSACTION_TYPES, body_object, invalid

_SUITEQL_COLUMNS = (
    "id",
    "externalid",
    "tranid",
    "total",
    "taxtotal",
    "currency",
    "status",
    "createdfrom",
    "trandate",
)


class SuiteQL(Account):
    def _suiteql(self, request: Request, match: re.Match[str]) -> Reply:
        if (request.headers.get("Prefer") or "").strip().lower() != "transient":
            raise invalid("SuiteQL requests need the header Prefer: transient.", "INVALID_PARAMETER")
        try:
            limit = int(request.query.get("limit", "1000"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            raise invalid("limit and offset are whole numbers.", "INVALID_PARAMETER") from None
        if not 1 <= limit <= 1000 or offset < 0 or offset % limit:
            raise invalid("limit is 1 to 1000; offset is a multiple of limit.", "INVALID_PARAMETER")
        body = body_object(request.json())
        if not isinstance(body.get("q"), str):
            raise invalid('The body is {"q": "<SuiteQL>"}.', "INVALID_PARAMETER")
        columns, conditions = _parse_suiteql(body["q"])
        rows = []
        for record_type in dict.fromkeys(TRANSACTION_TYPES.values()):
            if conditions.get("type") not in (
                None,
                *[k for k, v in TRANSACTION_TYPES.items() if v == record_type],
            ):
                continue
            for record in self._records[record_type].values():
                if "since" in conditions and record["tranDate"] < conditions["since"]:
                    continue
                if "externalid" in conditions and record.get("externalId") != conditions["externalid"]:
                    continue
                if (
                    "createdfrom" in conditions
                    and (record.get("createdFrom") or {}).get("id") != conditions["createdfrom"]
                ):
                    continue
                rows.append((int(record["id"]), _suiteql_row(record_type, record, columns)))
        rows.sort(key=lambda row: row[0])
        page = [row for _, row in rows[offset : offset + limit]]
        return json_reply(
            200,
            {
                "links": [{"rel": "self", "href": f"{self.url}{SUITEQL_PATH}?limit={limit}&offset={offset}"}],
                "count": len(page),
                "hasMore": offset + limit < len(rows),
                "items": page,
                "offset": offset,
                "totalResults": len(rows),
            },
        )


_SUITEQL = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+transaction(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+id(?:\s+ASC)?)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SUITEQL_COLUMN = re.compile(
    r"\s*(?:TO_CHAR\(\s*trandate\s*,\s*'YYYY-MM-DD'\s*\)\s+AS\s+(?P<alias>\w+)|(?P<name>\w+))\s*(?:,|$)",
    re.IGNORECASE,
)
_SUITEQL_CONDITIONS = (
    ("type", re.compile(r"^type\s*=\s*'(\w+)'$", re.IGNORECASE)),
    (
        "since",
        re.compile(
            r"^trandate\s*>=\s*TO_DATE\(\s*'(\d{4}-\d{2}-\d{2})'\s*,\s*'YYYY-MM-DD'\s*\)$", re.IGNORECASE
        ),
    ),
    ("externalid", re.compile(r"^externalid\s*=\s*'([^']*)'$", re.IGNORECASE)),
    ("createdfrom", re.compile(r"^createdfrom\s*=\s*'(\d+)'$", re.IGNORECASE)),
)


def _parse_suiteql(query: str) -> tuple[list[tuple[str, bool]], dict[str, str]]:
    """The subset the connector sends: columns as (name, formatted ISO date?) and the WHERE conditions."""
    unsupported = invalid(
        f"Invalid search query. Detailed unprocessed description follows. {query[:120]}", "INVALID_PARAMETER"
    )
    match = _SUITEQL.match(query)
    if match is None:
        raise unsupported
    columns: list[tuple[str, bool]] = []
    text, position = match.group("columns"), 0
    while position < len(text):
        column = _SUITEQL_COLUMN.match(text, position)
        if column is None or column.end() == position:
            raise unsupported
        position = column.end()
        name = (column.group("alias") or column.group("name")).lower()
        if name not in _SUITEQL_COLUMNS:
            raise unsupported
        columns.append((name, column.group("alias") is not None))
    conditions: dict[str, str] = {}
    where = match.group("where")
    for part in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if where else []:
        for key, pattern in _SUITEQL_CONDITIONS:
            found = pattern.match(part.strip())
            if found is not None and key not in conditions:
                conditions[key] = found.group(1)
                break
        else:
            raise unsupported
    return columns, conditions


def _suiteql_row(record_type: str, record: dict[str, Any], columns: list[tuple[str, bool]]) -> dict[str, Any]:
    """A SuiteQL row as NetSuite gives it: lower-case columns, ids as strings, empty values left out,
    ``trandate`` in the account's date format (M/D/YYYY) unless formatted by ``TO_CHAR``."""
    status = record.get("status")
    day = date.fromisoformat(record["tranDate"])
    values: dict[str, Any] = {
        "id": record["id"],
        "externalid": record.get("externalId"),
        "tranid": record.get("tranId"),
        "total": None if record.get("total") is None else str(record["total"]),
        "taxtotal": None if record.get("taxTotal") is None else str(record["taxTotal"]),
        "currency": record["currency"]["id"],
        "createdfrom": (record.get("createdFrom") or {}).get("id"),
        "status": status["id"] if isinstance(status, dict) else None,
    }
    row: dict[str, Any] = {"links": []}
    for name, iso in columns:
        if name == "trandate":
            row[name] = day.isoformat() if iso else f"{day.month}/{day.day}/{day.year}"
        elif values.get(name) is not None:
            row[name] = values[name]
    return row
