"""The warehouse feed: every canonical event as one flat row, with no card data and no more personal data
than the warehouse's queries need.

On AWS the bus's warehouse rule delivers each event to a Kinesis Data Firehose stream whose transformation
Lambda (``functions/warehouse_projection``) runs ``project`` on it; Firehose partitions the rows by
``type`` (the detail-type, extracted with JQ from the row) and the day it delivers them (``dt``), converts
them to Parquet through the Glue table whose columns are ``COLUMNS`` and writes them to the warehouse
bucket. Locally the same rule targets a queue that ``localcloud/warehouse.py`` drains through this very
``project`` into the same layout. ``SAVED_QUERIES`` are the named Athena queries of the stack and what
``o2c sql --saved`` runs on the local files.

Privacy (issue 18): a row keeps ids, amounts, currencies, statuses and reasons. Personal data (names,
e-mail addresses, phone numbers, postal addresses, tax ids, domains) is dropped from ``data`` unless the
stage says ``warehousePersonalData: true``; card data is never kept: card fields are dropped and anything
shaped like a card number is masked (``shared.sensitive``), whatever the setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.sensitive import mask_card_numbers

#: The Glue table's columns (name, Hive type), in the order of the Parquet files. ``occurred_at`` is written
#: as ``yyyy-MM-dd HH:mm:ss.SSSSSS`` (UTC), the timestamp format Hive's and OpenX's JSON SerDes both read.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("source", "string"),
    ("occurred_at", "timestamp"),
    ("correlation_id", "string"),
    ("causation_id", "string"),
    ("source_system", "string"),
    ("source_event_id", "string"),
    ("schema_version", "string"),
    ("opportunity_id", "string"),
    ("crm_account_id", "string"),
    ("erp_customer_id", "string"),
    ("payment_customer_id", "string"),
    ("payment_intent_id", "string"),
    ("request_id", "string"),
    ("refund_id", "string"),
    ("amount", "bigint"),
    ("currency", "string"),
    ("reason", "string"),
    ("data", "string"),
)
#: Partition keys, in the prefix's order: the event's detail-type, and the UTC day it was delivered.
PARTITION_KEYS: tuple[tuple[str, str], ...] = (("type", "string"), ("dt", "string"))
#: The row's field Firehose's JQ query reads the ``type`` partition from (the partition key is not a column
#: of the Parquet file: it is in the object's key, as Hive partitions are).
TYPE_FIELD = "type"
#: Where the files land (Firehose's ``Prefix``; locally the same with the values filled in).
PREFIX = "events/type=!{partitionKeyFromQuery:type}/dt=!{timestamp:yyyy-MM-dd}/"
ERROR_PREFIX = "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
#: The Glue table's name (its database is per stage).
TABLE_NAME = "events"

#: Keys holding personal data (anywhere in ``data``): dropped unless the stage's setting keeps them.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "email",
        "firstName",
        "lastName",
        "phone",
        "billingAddress",
        "shippingAddress",
        "street",
        "city",
        "postalCode",
        "taxId",
        "domain",
        "requestedBy",
    }
)
#: Keys that hold card data in any payment API's objects: never kept, whatever the setting.
CARD_KEYS = frozenset(
    {
        "card",
        "cardNumber",
        "number",
        "pan",
        "cvc",
        "cvv",
        "expMonth",
        "expYear",
        "exp_month",
        "exp_year",
        "last4",
        "fingerprint",
        "paymentMethodDetails",
        "payment_method_details",
    }
)
#: The amount a row carries: the first of these fields the event has (a Money object).
_AMOUNT_FIELDS = ("amountReceived", "amount", "total", "amountPaid", "amountDue", "amountRefunded", "actual")
#: The reason a row carries, by the fields events name it in (refund reason, decline, hold, exception kind).
_REASON_FIELDS = ("reason", "declineCode", "failureCode", "failureReason", "kind", "outcome", "billingReason")


def _clean(value: Any, personal_data: bool) -> Any:
    if isinstance(value, dict):
        return {
            k: _clean(v, personal_data)
            for k, v in value.items()
            if k not in CARD_KEYS and (personal_data or k not in PERSONAL_KEYS)
        }
    if isinstance(value, list):
        return [_clean(v, personal_data) for v in value]
    if isinstance(value, str):
        return mask_card_numbers(value)
    return value


def _timestamp(value: str) -> str:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _text(value: Any) -> str | None:
    return mask_card_numbers(str(value)) if value not in (None, "") else None


def project(event: dict[str, Any], *, personal_data: bool = False) -> dict[str, Any]:
    """One EventBridge event (``detail-type``, ``source``, ``detail`` = the canonical envelope) as one
    warehouse row: ``COLUMNS`` plus the ``type`` partition field."""
    detail = event.get("detail") or {}
    metadata = detail.get("metadata") or {}
    data = detail.get("data") or {}
    # A claim-checked event carries a pointer instead of its data: the row keeps the envelope's ids.
    data = {} if "claimCheck" in data else data
    opportunity: dict[str, Any] = data["opportunity"] if isinstance(data.get("opportunity"), dict) else {}
    money = next((data[f] for f in _AMOUNT_FIELDS if isinstance(data.get(f), dict)), None)
    if money is None and isinstance(opportunity.get("amount"), dict):
        money = opportunity["amount"]  # a won deal: the deal's amount
    reason = next((data[f] for f in _REASON_FIELDS if data.get(f) not in (None, "")), None)
    account: dict[str, Any] = opportunity["account"] if isinstance(opportunity.get("account"), dict) else {}
    occurred = metadata.get("occurredAt") or event.get("time")
    row: dict[str, Any] = {
        "event_id": _text(metadata.get("eventId") or event.get("id")),
        "source": _text(event.get("source")),
        "occurred_at": _timestamp(occurred) if occurred else None,
        "correlation_id": _text(metadata.get("correlationId")),
        "causation_id": _text(metadata.get("causationId")),
        "source_system": _text(metadata.get("sourceSystem")),
        "source_event_id": _text(metadata.get("sourceEventId")),
        "schema_version": _text(metadata.get("schemaVersion")),
        "opportunity_id": _text(data.get("opportunityId")),
        "crm_account_id": _text(data.get("accountId") or account.get("accountId")),
        "erp_customer_id": _text(data.get("erpCustomerId")),
        "payment_customer_id": _text(data.get("paymentCustomerId")),
        "payment_intent_id": _text(data.get("paymentIntentId")),
        "request_id": _text(data.get("requestId")),
        "refund_id": _text(data.get("refundId")),
        "amount": int(money["amount"]) if money and isinstance(money.get("amount"), int) else None,
        "currency": _text(money.get("currency")) if money else None,
        "reason": _text(reason),
        "data": json.dumps(_clean(data, personal_data), sort_keys=True, separators=(",", ":")),
        TYPE_FIELD: str(event.get("detail-type") or "unknown"),
    }
    return row


def partition(row: dict[str, Any], delivered_at: datetime) -> str:
    """The key prefix a row lands under: ``PREFIX`` with its type and the UTC day of delivery."""
    day = delivered_at.astimezone(UTC).strftime("%Y-%m-%d")
    return f"events/type={row[TYPE_FIELD]}/dt={day}/"


def personal_data_setting(value: str | None) -> bool:
    """The stage setting (``WAREHOUSE_PERSONAL_DATA``): only ``true`` keeps personal data."""
    return (value or "").strip().lower() == "true"


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    #: SQL that runs unchanged on Athena (Trino) and DuckDB, on ``e``: the events without redeliveries.
    sql: str

    def render(self, events_table: str) -> str:
        """The query on ``events_table``, starting from its events without redeliveries (``e``)."""
        return (_DISTINCT + self.sql).replace("{events}", events_table)


#: Every query starts from the events without redeliveries (EventBridge and Firehose deliver at least once:
#: the same event may land twice, in one file or two). One fact may also come as two events (Stripe reports a
#: refund in ``refund.created`` and ``refund.updated``): the queries count business ids (refund_id, ...).
_DISTINCT = (
    "WITH e AS (SELECT DISTINCT event_id, type, occurred_at, source_system, opportunity_id, "
    "payment_intent_id, request_id, refund_id, amount, currency, reason FROM {events})\n"
)

SAVED_QUERIES: tuple[SavedQuery, ...] = (
    SavedQuery(
        "time-to-cash-by-month",
        "Won deals paid, by month of payment and currency: how many, the cash, the hours from won to paid",
        "SELECT substr(CAST(paid.paid_at AS VARCHAR), 1, 7) AS month, paid.currency AS currency,\n"
        "  count(*) AS deals, sum(paid.amount) AS cash_minor,\n"
        "  round(avg(date_diff('second', won.won_at, paid.paid_at)) / 3600.0, 2) AS avg_hours_to_cash,\n"
        "  round(max(date_diff('second', won.won_at, paid.paid_at)) / 3600.0, 2) AS max_hours_to_cash\n"
        "FROM (SELECT opportunity_id, min(occurred_at) AS won_at FROM e\n"
        "      WHERE type = 'OpportunityClosedWon' GROUP BY opportunity_id) AS won\n"
        "JOIN (SELECT opportunity_id, currency, min(occurred_at) AS paid_at, sum(amount) AS amount FROM e\n"
        "      WHERE type = 'InvoicePaid' GROUP BY opportunity_id, currency) AS paid\n"
        "  ON won.opportunity_id = paid.opportunity_id\n"
        "GROUP BY substr(CAST(paid.paid_at AS VARCHAR), 1, 7), paid.currency\n"
        "ORDER BY month, currency",
    ),
    SavedQuery(
        "refunds-by-reason",
        "Refunds that reached the customer, by reason (the one asked of the hub, else Stripe's) and currency: "
        "how many and how much",
        "SELECT coalesce(asked.reason, refund.reason, 'unspecified') AS reason, refund.currency AS currency,\n"
        "  count(*) AS refunds, sum(refund.amount) AS amount_minor\n"
        "FROM (SELECT refund_id, min(request_id) AS request_id, min(reason) AS reason,\n"
        "             min(currency) AS currency, max(amount) AS amount\n"
        "      FROM e WHERE type = 'RefundSucceeded' GROUP BY refund_id) AS refund\n"
        "LEFT JOIN (SELECT request_id, min(reason) AS reason FROM e\n"
        "           WHERE type = 'RefundRequested' GROUP BY request_id) AS asked\n"
        "  ON refund.request_id = asked.request_id\n"
        "GROUP BY coalesce(asked.reason, refund.reason, 'unspecified'), refund.currency\n"
        "ORDER BY 1, 2",
    ),
    SavedQuery(
        "failures-by-provider",
        "Failed payments, refunds and renewal charges, by provider, kind and reason",
        "SELECT source_system AS provider, type AS failure, coalesce(reason, 'unspecified') AS reason,\n"
        "  count(*) AS failures, count(DISTINCT payment_intent_id) AS payments\n"
        "FROM e WHERE type IN ('PaymentFailed', 'RefundFailed', 'BillingInvoicePaymentFailed')\n"
        "GROUP BY source_system, type, coalesce(reason, 'unspecified')\n"
        "ORDER BY provider, failure, reason",
    ),
    SavedQuery(
        "reconciliation-exceptions",
        "What three-way reconciliation found, by kind: how many exceptions, on how many deals",
        "SELECT coalesce(reason, 'unspecified') AS kind, count(*) AS exceptions,\n"
        "  count(DISTINCT opportunity_id) AS deals\n"
        "FROM e WHERE type = 'ReconciliationException'\n"
        "GROUP BY coalesce(reason, 'unspecified')\n"
        "ORDER BY kind",
    ),
)
SAVED_QUERIES_BY_NAME = {q.name: q for q in SAVED_QUERIES}


def firehose_record(record: dict[str, Any], *, personal_data: bool) -> dict[str, Any]:
    """One Firehose transformation record: its data (base64 of the EventBridge event) → the row, as one JSON
    line, ``Ok``; a record that is not an event → ``ProcessingFailed`` with its data as it came (Firehose
    writes it under the error prefix: nothing is lost)."""
    import base64

    try:
        event = json.loads(base64.b64decode(record["data"]))
        if not isinstance(event, dict) or "detail-type" not in event:
            raise ValueError("not an EventBridge event")
        row = project(event, personal_data=personal_data)
    except (ValueError, KeyError, TypeError):
        return {"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]}
    body = (json.dumps(row, separators=(",", ":")) + "\n").encode()
    return {"recordId": record["recordId"], "result": "Ok", "data": base64.b64encode(body).decode("ascii")}
