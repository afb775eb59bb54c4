"""The ERP's outbound events, signed with Standard Webhooks v1 (``webhook-id`` / ``webhook-timestamp`` /
``webhook-signature``).

The ERP (NetSuite: a SuiteScript user-event script, or any Standard Webhooks sender) posts
``{"type": "invoice.posted", "timestamp": "...", "data": {...}}``; amounts are decimal strings in the
record's currency and become integer minor units here. ``webhook-id`` is stable across retries: it is
the idempotency key. Verification is checked in tests against the ``standardwebhooks`` reference
implementation.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.events.envelope import CanonicalEvent, EventData, new_event
from shared.events.erp import (
    CreditMemoRecorded,
    CustomerPaymentApplied,
    DepositCreated,
    InvoicePosted,
    RefundRecorded,
    SalesOrderStatusChanged,
)
from shared.inbound.signatures import standard_webhooks_v1
from shared.ingress.guard import (
    MAX_ID_LENGTH,
    ascii_token,
    check_correlation_id,
    check_id,
    header_timestamp,
    parse_json,
)
from shared.ingress.pipeline import Provider, ProviderEvent
from shared.ingress.web import Problem, WebhookRequest, bad_request, unauthorized
from shared.money import Money, from_major

TOLERANCE_S = 300
MAX_SIGNATURES = 16
#: ``webhook-id`` (Standard Webhooks: ``msg_...``): the idempotency key and a lineage id, so bounded.
MESSAGE_ID = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_ID_LENGTH}}}")
#: ERP record ids (NetSuite internal ids are numbers; other ERPs use short codes).
RECORD_ID = re.compile(r"[A-Za-z0-9_.:-]+")
#: The largest amount the hub accepts from the ERP, in major units (a quadrillion).
MAX_MAJOR_AMOUNT = Decimal(10) ** 15


def verify_standard_webhook(
    request: WebhookRequest, secrets: Sequence[str], *, now: float, tolerance_s: int = TOLERANCE_S
) -> None:
    msg_id, timestamp, signatures = (
        request.header(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not msg_id or not timestamp or not signatures:
        raise unauthorized(
            "missing_signature", "webhook-id, webhook-timestamp and webhook-signature are required"
        )
    ts = header_timestamp(timestamp)
    if ts is None:
        raise unauthorized("malformed_signature", "webhook-timestamp is not a number")
    if abs(now - ts) > tolerance_s:
        raise unauthorized("stale_timestamp", f"webhook-timestamp is outside the {tolerance_s} s window")
    if not MESSAGE_ID.fullmatch(msg_id):
        raise unauthorized(
            "malformed_signature", f"webhook-id must be 1 to {MAX_ID_LENGTH} of [A-Za-z0-9_.:-]"
        )
    offered = [
        token
        for s in signatures.split()[:MAX_SIGNATURES]
        if s.startswith("v1,") and (token := ascii_token(s.partition(",")[2])) is not None
    ]
    for secret in secrets:
        expected = standard_webhooks_v1(secret, msg_id, ts, request.body).partition(",")[2].encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise unauthorized("invalid_signature", "no v1 webhook-signature matches an active secret")


def _money(data: dict[str, Any], key: str = "amount") -> Money:
    value, currency = data[key], data["currency"]
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal) or not isinstance(currency, str):
        raise ValueError(f"{key} must be a decimal string and currency a code")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise ValueError(f"{key} is not a decimal") from exc
    if not amount.is_finite() or abs(amount) >= MAX_MAJOR_AMOUNT:
        raise ValueError(f"{key} is not a finite amount below {MAX_MAJOR_AMOUNT:.0E}")
    return from_major(amount, currency)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _common(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "erpCustomerId": data.get("customerId"),
        "subsidiaryId": data.get("subsidiaryId"),
        "opportunityId": data.get("opportunityId"),
    }


MAPPINGS: dict[str, Callable[[dict[str, Any]], EventData]] = {
    "invoice.posted": lambda d: InvoicePosted(
        erpInvoiceId=d["invoiceId"],
        erpOrderId=d.get("salesOrderId"),
        documentNumber=d.get("tranId"),
        amount=_money(d),
        dueDate=_date(d.get("dueDate")),
        **_common(d),
    ),
    "customer_payment.applied": lambda d: CustomerPaymentApplied(
        erpPaymentId=d["paymentId"],
        erpInvoiceIds=[str(i) for i in d.get("invoiceIds", [])],
        amount=_money(d),
        paymentIntentId=d.get("paymentIntentId"),
        **_common(d),
    ),
    "credit_memo.recorded": lambda d: CreditMemoRecorded(
        erpCreditMemoId=d["creditMemoId"], erpInvoiceId=d.get("invoiceId"), amount=_money(d), **_common(d)
    ),
    "customer_refund.recorded": lambda d: RefundRecorded(
        erpRefundId=d["refundId"],
        erpCreditMemoId=d.get("creditMemoId"),
        amount=_money(d),
        refundId=d.get("paymentRefundId"),
        **_common(d),
    ),
    "sales_order.status_changed": lambda d: SalesOrderStatusChanged(
        erpOrderId=d["salesOrderId"], status=d["status"], previousStatus=d.get("previousStatus"), **_common(d)
    ),
    "deposit.created": lambda d: DepositCreated(
        erpDepositId=d["depositId"], amount=_money(d), payoutId=d.get("payoutId"), **_common(d)
    ),
}


def _correlation(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return check_correlation_id(value if isinstance(value, str) else repr(value)[:300], "data.correlationId")


def _check_record_ids(data: EventData) -> None:
    """Every id the fact carries becomes a lineage key: bounded, plain characters, no card number."""
    for name, value in data.dump().items():
        if name.endswith("Id") and value is not None:
            check_id(value, f"data.{name}", pattern=RECORD_ID)
        elif name.endswith("Ids") and isinstance(value, list):
            for item in value:
                check_id(item, f"data.{name}", pattern=RECORD_ID)


class ErpProvider(Provider):
    name = "erp"

    def __init__(
        self, secrets: Callable[[], Sequence[str]], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secrets = secrets
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        verify_standard_webhook(request, self._secrets(), now=self._clock())

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        payload = parse_json(request.body, parse_float=Decimal)
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("type"), str)
            or not isinstance(payload.get("data"), dict)
        ):
            raise bad_request("malformed_event", 'an ERP event is {"type": ..., "data": {...}}')
        msg_id = request.header("webhook-id") or ""
        return [
            ProviderEvent(
                id=msg_id,
                type=payload["type"],
                payload=payload,
                correlation_id=_correlation(payload["data"].get("correlationId")),
            )
        ]

    def selects(self, event: ProviderEvent) -> bool:
        return event.type in MAPPINGS

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        try:
            data = MAPPINGS[event.type](event.payload["data"])
            _check_record_ids(data)
        except Problem:
            raise
        except Exception as exc:  # noqa: BLE001 - a pure mapping of the payload: any failure is the payload's
            raise bad_request(
                "unmappable_event", f"{event.type} lacks a field the hub needs: {exc}"
            ) from None
        occurred = event.payload.get("timestamp")
        try:
            occurred_at = datetime.fromisoformat(occurred) if isinstance(occurred, str) else None
        except ValueError:
            occurred_at = None
        return [
            new_event(
                data,
                source_system="erp",
                correlation_id=correlation_id,
                occurred_at=occurred_at or datetime.now(UTC),
                source_event_id=event.id,
            )
        ]
