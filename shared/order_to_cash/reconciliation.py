"""Three-way reconciliation: CRM deal ↔ ERP order/invoice/credit memos/deposits ↔ payment platform
intents/refunds/payouts.

The day's facts come from the lineage (every fact the hub saw from each system); each is then checked
against the systems themselves (ERP records by external id, the payment platform's objects), so a record
changed or deleted behind the hub's back is caught. Every mismatch is reported by kind with the ids of
each side; a clean day reports none.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from shared.money import Money, from_major, from_stripe
from shared.order_to_cash import erp_ids
from shared.order_to_cash.ports import INVOICE_STATUS, Erp, Payments

KINDS = (
    "missing_in_erp",
    "missing_in_payments",
    "amount_differs",
    "currency_differs",
    "status_differs",
    "paid_not_applied",
    "deposited_not_paid",
    "payout_not_tied",
)


@dataclass(frozen=True)
class Mismatch:
    kind: str
    detail: str
    opportunityId: str | None = None
    erpOrderId: str | None = None
    erpInvoiceId: str | None = None
    paymentIntentId: str | None = None
    payoutId: str | None = None
    expected: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None


@dataclass
class Report:
    day: date
    deals: int = 0
    payments: int = 0
    refunds: int = 0
    payouts: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    def add(self, kind: str, detail: str, **ids: Any) -> None:
        assert kind in KINDS, kind
        self.mismatches.append(Mismatch(kind=kind, detail=detail, **ids))

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "deals": self.deals,
            "payments": self.payments,
            "refunds": self.refunds,
            "payouts": self.payouts,
            "exceptions": [asdict(m) for m in self.mismatches],
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def as_csv(self) -> str:
        out = io.StringIO()
        columns = list(Mismatch.__dataclass_fields__)
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for m in self.mismatches:
            row = asdict(m)
            for money_field in ("expected", "actual"):
                if row[money_field]:
                    row[money_field] = Money.parse(row[money_field]).format()
            writer.writerow(row)
        return out.getvalue()

    def as_table(self) -> str:
        lines = [
            f"reconciliation {self.day}: {self.deals} deal(s), {self.payments} payment(s), {self.refunds} "
            f"refund(s), {self.payouts} payout(s): {len(self.mismatches)} exception(s)"
        ]
        for m in self.mismatches:
            ids = " ".join(f"{k}={v}" for k, v in asdict(m).items() if k.endswith("Id") and v)
            lines.append(f"  {m.kind:<20} {ids}  {m.detail}")
        return "\n".join(lines)


def _erp_money(record: Mapping[str, Any], key: str, currency: str) -> Money:
    return from_major(Decimal(str(record.get(key) or 0)), currency)


def _erp_status(record: Mapping[str, Any]) -> str:
    """NetSuite's read-side ``status.id`` (invoice: A Open, B Paid In Full, D, E, V)."""
    status = record.get("status") or {}
    return str(status.get("id") if isinstance(status, dict) else status)


def reconcile(day: date, facts: Iterable[Mapping[str, Any]], *, erp: Erp, payments: Payments) -> Report:
    """``facts``: lineage entries (``detailType``, ``occurredAt``, ``data``) of the day and after."""
    facts = list(facts)
    report = Report(day=day)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for fact in facts:
        by_type.setdefault(str(fact["detailType"]), []).append(fact)
    todays = [
        f for f in by_type.get("OpportunityClosedWon", []) if str(f["occurredAt"]).startswith(day.isoformat())
    ]
    seen: set[str] = set()
    for won in todays:
        data = won["data"]
        key = erp_ids.sales_order(data["crmSystem"], data["opportunityId"])
        if key in seen:
            continue
        seen.add(key)
        report.deals += 1
        _reconcile_deal(report, data, facts, erp=erp, payments=payments)
    for payout in by_type.get("PayoutPaid", []):
        if str(payout["occurredAt"]).startswith(day.isoformat()):
            report.payouts += 1
            _reconcile_payout(report, payout["data"], facts, erp=erp, payments=payments)
    return report


def _reconcile_deal(
    report: Report, won: Mapping[str, Any], facts: list[Mapping[str, Any]], *, erp: Erp, payments: Payments
) -> None:
    opportunity = won["opportunity"]
    opp_id, crm = won["opportunityId"], won["crmSystem"]
    currency = opportunity["amount"]["currency"]
    crm_net = sum(int(line["amount"]["amount"]) for line in opportunity.get("lines", []))
    ids: dict[str, Any] = {"opportunityId": opp_id}
    order: Mapping[str, Any] | None = erp.get_by_external_id("salesOrder", erp_ids.sales_order(crm, opp_id))
    if order is None:
        if won.get("complete"):
            report.add("missing_in_erp", "a complete won deal has no ERP sales order", **ids)
        return
    ids["erpOrderId"] = str(order["id"])
    order_currency = (
        str(
            (order.get("currency") or {}).get("refName")
            or (order.get("currency") or {}).get("id")
            or currency
        )
        if isinstance(order.get("currency"), dict)
        else str(order.get("currency") or currency)
    )
    if order_currency.upper() != currency.upper() and len(order_currency) == 3:
        report.add("currency_differs", f"CRM {currency}, ERP order {order_currency}", **ids)
        return
    created = [
        f["data"]
        for f in facts
        if f["detailType"] == "OrderCreated" and str(f["data"].get("erpOrderId")) == str(order["id"])
    ]
    rounded = [c for c in created if (c.get("rounding") or {}).get("amount")]
    if rounded and order.get("total") is not None:
        # a cash-rounded order (KWD to 10 fils): its lines are at NetSuite's precision plus a rounding line,
        # so the ERP total is checked against what the hub decided to charge
        erp_total = _erp_money(order, "total", currency)
        charged = Money.parse(rounded[0]["total"])
        if erp_total != charged:
            report.add(
                "amount_differs",
                "ERP order total and the rounded total the hub charges differ",
                expected=charged.dump(),
                actual=erp_total.dump(),
                **ids,
            )
    erp_net = (
        _erp_money(order, "subtotal", currency) if order.get("subtotal") is not None and not rounded else None
    )
    if erp_net is not None and erp_net.amount != crm_net:
        report.add(
            "amount_differs",
            "CRM deal lines and ERP order subtotal differ",
            expected=Money.of(crm_net, currency).dump(),
            actual=erp_net.dump(),
            **ids,
        )
    invoice: Mapping[str, Any] | None = erp.get_by_external_id("invoice", erp_ids.invoice(crm, opp_id))
    captured = [
        f["data"]
        for f in facts
        if f["detailType"] == "PaymentCaptured" and f["data"].get("opportunityId") == opp_id
    ]
    if invoice is None:
        if captured:
            report.add(
                "missing_in_erp",
                "the payment was captured but the ERP has no invoice",
                paymentIntentId=captured[0]["paymentIntentId"],
                **ids,
            )
        return
    ids["erpInvoiceId"] = str(invoice["id"])
    invoice_total = _erp_money(invoice, "total", currency)
    if not captured:
        if _erp_status(invoice) == INVOICE_STATUS["paidInFull"]:
            report.add("missing_in_payments", "the ERP invoice is paid but no payment was captured", **ids)
        return
    report.payments += 1
    intent_id = captured[0]["paymentIntentId"]
    ids["paymentIntentId"] = intent_id
    intent: Mapping[str, Any] = payments.retrieve_payment_intent(intent_id)
    received = from_stripe(int(intent.get("amount_received") or 0), str(intent["currency"]))
    if received.currency != invoice_total.currency:
        report.add(
            "currency_differs", f"invoice {invoice_total.currency}, payment {received.currency}", **ids
        )
    elif received.amount != invoice_total.amount:
        report.add(
            "amount_differs",
            "ERP invoice total and captured amount differ",
            expected=invoice_total.dump(),
            actual=received.dump(),
            **ids,
        )
    if intent.get("status") != "succeeded":
        report.add(
            "status_differs", f"payment is {intent.get('status')} but the deal recorded a capture", **ids
        )
    payment: Mapping[str, Any] | None = erp.get_by_external_id("customerPayment", erp_ids.payment(intent_id))
    open_or_paid = {INVOICE_STATUS["open"], INVOICE_STATUS["paidInFull"]}
    if payment is None or _erp_status(invoice) not in open_or_paid:
        report.add("paid_not_applied", "the captured payment is not applied to the ERP invoice", **ids)
    refunds = {
        f["data"]["refundId"]: f["data"]
        for f in facts
        if f["detailType"] == "RefundSucceeded" and f["data"].get("paymentIntentId") == intent_id
    }
    for refund_id, refund in refunds.items():
        report.refunds += 1
        credit: Mapping[str, Any] | None = erp.get_by_external_id(
            "creditMemo", erp_ids.credit_memo(refund_id)
        )
        if credit is None:
            report.add("missing_in_erp", f"refund {refund_id} has no ERP credit memo", **ids)
        elif _erp_money(credit, "total", currency).amount != int(refund["amount"]["amount"]):
            report.add(
                "amount_differs",
                f"refund {refund_id} and its credit memo differ",
                expected=refund["amount"],
                actual=_erp_money(credit, "total", currency).dump(),
                **ids,
            )


def _reconcile_payout(
    report: Report, payout: Mapping[str, Any], facts: list[Mapping[str, Any]], *, erp: Erp, payments: Payments
) -> None:
    payout_id = payout["payoutId"]
    amount = Money.parse(payout["amount"])
    stripe_payout: Mapping[str, Any] = payments.retrieve_payout(payout_id)
    deposit: Mapping[str, Any] | None = erp.get_by_external_id("deposit", erp_ids.deposit(payout_id))
    if stripe_payout.get("status") != "paid" and deposit is not None:
        report.add(
            "deposited_not_paid",
            f"payout is {stripe_payout.get('status')} but the ERP has a deposit",
            payoutId=payout_id,
        )
        return
    if deposit is None:
        not_tied = [
            f
            for f in facts
            if f["detailType"] == "ReconciliationException" and f["data"].get("payoutId") == payout_id
        ]
        kind = "payout_not_tied" if not_tied else "missing_in_erp"
        report.add(kind, "the payout has no ERP deposit", payoutId=payout_id, expected=amount.dump())
        return
    deposited = _erp_money(deposit, "total", amount.currency)
    if deposited.amount != amount.amount:
        report.add(
            "amount_differs",
            "ERP deposit and payout differ",
            payoutId=payout_id,
            expected=amount.dump(),
            actual=deposited.dump(),
        )
