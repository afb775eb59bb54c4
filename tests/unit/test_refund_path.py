"""One refund path for ``o2c refund`` and ``POST /v1/refunds`` (``shared.order_to_cash.refunds``): the request built
from the payment's lineage, and where it stands read back from the lineage."""

from __future__ import annotations

from typing import Any

import pytest

from shared.lineage import LineageEntry
from shared.order_to_cash.refunds import UnknownPayment, refund_request, refund_status


def entry(detail_type: str, data: dict[str, Any], correlation: str = "hubspot:1") -> LineageEntry:
    ids = tuple(v for k, v in data.items() if k.endswith("Id") and isinstance(v, str))
    return LineageEntry(
        event_id=f"{detail_type}-{len(ids)}-{sorted(ids)}",
        detail_type=detail_type,
        source="o2c.payments",
        occurred_at="2026-12-01T10:00:00+00:00",
        correlation_id=correlation,
        source_system="stripe",
        source_event_id=None,
        ids=ids,
        data=data,
    )


CAPTURED = entry(
    "PaymentCaptured",
    {
        "paymentIntentId": "pi_1",
        "amount": {"amount": 30000, "currency": "EUR"},
        "amountReceived": {"amount": 30000, "currency": "EUR"},
    },
)


def test_a_refund_request_joins_its_payments_flow_in_the_payments_currency() -> None:
    event = refund_request(
        [CAPTURED], "pi_1", "25.00", reason="requested_by_customer", by="api:x", request_id="rr_1"
    )
    assert event.detail_type == "RefundRequested"
    assert event.metadata.correlationId == "hubspot:1"
    assert event.data.dump()["amount"] == {"amount": 2500, "currency": "EUR"}
    with pytest.raises(UnknownPayment):
        refund_request([], "pi_2", None, reason="duplicate", by="x", request_id="rr_2")
    with pytest.raises(ValueError):
        refund_request([CAPTURED], "pi_1", "1.001", reason="duplicate", by="x", request_id="rr_3")


def test_a_refund_is_requested_then_succeeded_then_booked() -> None:
    requested = entry(
        "RefundRequested",
        {"requestId": "rr_1", "paymentIntentId": "pi_1", "amount": {"amount": 2500, "currency": "EUR"}},
    )
    succeeded = entry(
        "RefundSucceeded",
        {
            "refundId": "re_1",
            "requestId": "rr_1",
            "paymentIntentId": "pi_1",
            "amount": {"amount": 2500, "currency": "EUR"},
        },
    )
    booked = entry(
        "RefundBooked",
        {
            "refundId": "re_1",
            "erpInvoiceId": "9",
            "erpCreditMemoId": "cm9",
            "erpRefundId": "rf9",
            "amount": {"amount": 2500, "currency": "EUR"},
        },
    )
    lineage: dict[str, list[LineageEntry]] = {}

    def entries_for(the_id: str) -> list[LineageEntry]:
        return lineage.get(the_id, [])

    assert refund_status(entries_for, "rr_1") is None
    lineage["rr_1"] = [requested]
    status = refund_status(entries_for, "rr_1")
    assert status is not None and (status.status, status.stripe_refund_id) == ("requested", None)
    lineage["rr_1"].append(succeeded)
    status = refund_status(entries_for, "rr_1")
    assert status is not None and (status.status, status.stripe_refund_id) == ("succeeded", "re_1")
    lineage["re_1"] = [succeeded, booked]
    status = refund_status(entries_for, "rr_1")
    assert status is not None and (status.status, status.erp_credit_memo_id) == ("booked", "cm9")
    failed = entry(
        "RefundFailed",
        {"refundId": "not-created:rr_2", "requestId": "rr_2", "failureReason": "charge_already_refunded"},
    )
    lineage["rr_2"] = [entry("RefundRequested", {"requestId": "rr_2", "paymentIntentId": "pi_1"}), failed]
    status = refund_status(entries_for, "rr_2")
    assert status is not None and (status.status, status.failure_reason) == (
        "failed",
        "charge_already_refunded",
    )


def test_an_api_orders_payment_leads_to_the_invoice_quote_to_cash_booked_and_to_no_crm_deal() -> None:
    from shared.api.resources import OrderIn
    from shared.api.services import order_opportunity
    from shared.crm.closed_won import deal_correlation_id
    from shared.order_to_cash import erp_ids
    from shared.order_to_cash.bookings import deal_of, order_of
    from tests.unit.test_api import ORDER

    opportunity = order_opportunity(OrderIn.model_validate(ORDER), "ord_1")
    metadata = {"o2c_correlation_id": deal_correlation_id("api", "ord_1")}  # what the payment carries
    order = order_of(metadata)
    assert order is not None
    # the ERP invoice create_invoice made for the order (inv-<order external id>) is the one a refund credits
    written = erp_ids.invoice_of_order(erp_ids.sales_order(opportunity.crmSystem, opportunity.opportunityId))
    assert erp_ids.invoice(*order) == written
    assert deal_of(metadata) is None  # no CRM task or payment status for an API order
    assert deal_of({"o2c_correlation_id": "hubspot:9"}) == ("hubspot", "9")
