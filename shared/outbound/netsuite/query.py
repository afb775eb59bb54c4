"""The NetSuite client's reconciliation reads: transactions by SuiteQL (``POST /services/rest/query/v1/suiteql``,
``Prefer: transient``), every page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from shared.errors import InvalidRecord
from shared.outbound.netsuite.model import (
    _decimal,
    _external_id,
    _internal_id,
)
from shared.outbound.netsuite.records import NetSuiteRecords

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
# SuiteQL ``transaction.type`` of each transaction record type.
TRANSACTION_TYPES: Mapping[str, str] = {
    "salesOrder": "SalesOrd",
    "invoice": "CustInvc",
    "customerPayment": "CustPymt",
    "creditMemo": "CustCred",
    "customerRefund": "CustRfnd",
    "deposit": "Deposit",
    "returnAuthorization": "RtnAuth",
}
SUITEQL_PAGE_LIMIT = 1000  # NetSuite's largest page
_SUITEQL_COLUMNS = (
    "id, externalid, tranid, total, taxtotal, currency, status, createdfrom, "
    "TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate"
)


class NetSuiteQuery(NetSuiteRecords):
    """``NetSuiteRecords`` with SuiteQL reads."""

    def list_records(
        self,
        record_type: str,
        *,
        since: date | None = None,
        external_id: str | None = None,
        created_from: str | None = None,
        page_size: int = SUITEQL_PAGE_LIMIT,
    ) -> list[dict[str, Any]]:
        """Transactions of one type (dated ``since`` or later; with ``external_id``; made from the transaction
        ``created_from``), by SuiteQL, every page: ``[{"id", "externalId", "tranId", "total": Decimal,
        "taxTotal": Decimal, "currency": ISO code, "status", "createdFrom": id, "tranDate": date}]`` in internal
        id order."""
        if record_type not in TRANSACTION_TYPES:
            raise ValueError(f"{record_type!r} is not a transaction record type")
        if not 1 <= page_size <= SUITEQL_PAGE_LIMIT:
            raise ValueError(f"page_size is 1 to {SUITEQL_PAGE_LIMIT}")
        where = [f"type = '{TRANSACTION_TYPES[record_type]}'"]
        if since is not None:
            where.append(f"trandate >= TO_DATE('{since.isoformat()}', 'YYYY-MM-DD')")
        if external_id is not None:
            where.append(f"externalid = '{_external_id(external_id)}'")  # the pattern admits no quote
        if created_from is not None:
            where.append(f"createdfrom = '{_internal_id(created_from, 'transaction')}'")  # digits only
        # SuiteQL over REST takes no bind parameters: every value above is from a fixed map, an ISO date or
        # an external id (letters, digits, _ and -), so none can leave its quotes.
        conditions = " AND ".join(where)
        query = f"SELECT {_SUITEQL_COLUMNS} FROM transaction WHERE {conditions} ORDER BY id"  # noqa: S608
        currencies = {v: k for k, v in self._currency_ids.items()}
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = self._http.request(
                "POST",
                SUITEQL_PATH,
                query={"limit": str(page_size), "offset": str(offset)},
                json={"q": query},
                retry=True,  # a query, not a write
                headers={"Prefer": "transient"},
            ).body
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise InvalidRecord("SuiteQL: unexpected response shape")
            for item in body["items"]:
                rows.append(_suiteql_row(item, currencies))
            if not body.get("hasMore"):
                return rows
            offset += page_size


def _suiteql_row(item: Any, currencies: Mapping[str, str]) -> dict[str, Any]:
    """One SuiteQL row (lower-case columns, values mostly strings) as the connector's dict."""
    if not isinstance(item, dict):
        raise InvalidRecord("SuiteQL: a row is not an object")
    total = item.get("total")
    tax = item.get("taxtotal")
    day = item.get("trandate")
    currency = item.get("currency")
    return {
        "id": str(item.get("id")),
        "externalId": item.get("externalid"),
        "tranId": item.get("tranid"),
        "total": None if total in (None, "") else _decimal(total),
        "taxTotal": None if tax in (None, "") else _decimal(tax),
        "createdFrom": None if item.get("createdfrom") in (None, "") else str(item["createdfrom"]),
        "currency": currencies.get(str(currency), str(currency)) if currency is not None else None,
        "status": item.get("status"),
        "tranDate": date.fromisoformat(str(day)) if day else None,
    }
