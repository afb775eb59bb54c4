"""The NetSuite sandbox holds writes to NetSuite's record contract (``vendor-specs/netsuite/records.json``) and
answers refusals with NetSuite's error body; the hub reads NetSuite's own status ids."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import urllib3

from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared.order_to_cash.reconciliation import reconcile
from shared.outbound.netsuite import dumps
from tests.connectors.test_netsuite_after_sale import after_sale_erp, invoiced
from tests.connectors.test_netsuite_connector import eur, new_sandbox, tba


@pytest.fixture
def netsuite() -> Iterator[NetSuiteSandbox]:
    with new_sandbox() as sandbox:
        yield sandbox  # type: ignore[misc]


def put(sandbox: NetSuiteSandbox, path: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    """A signed ``PUT`` as any NetSuite client sends it, the validation headers as given."""
    url = f"{sandbox.url}/services/rest/record/v1{path}"
    response = urllib3.PoolManager().request(
        "PUT",
        url,
        body=dumps(body),
        headers={"Content-Type": "application/json", **headers, **tba().headers("PUT", url)},
    )
    return response.status, json.loads(response.data) if response.data else None


def customer_body(**extra: Any) -> dict[str, Any]:
    return {"companyName": "Acme GmbH", "subsidiary": {"id": "2"}, "currency": {"id": "4"}, **extra}


STRICT = {"X-NetSuite-PropertyNameValidation": "Error", "X-NetSuite-PropertyValueValidation": "Error"}


def test_an_invented_body_field_is_refused_with_netsuite_s_error(netsuite: NetSuiteSandbox) -> None:
    status, body = put(netsuite, "/customer/eid:c-1", customer_body(loyaltyTier="gold"), **STRICT)

    assert status == 400
    assert body["title"] == "Bad Request" and body["status"] == 400 and body["type"].startswith("https://")
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == "INVALID_FIELD" and detail["o:errorPath"] == "loyaltyTier"
    assert "loyaltyTier" in detail["detail"]
    assert netsuite.records("customer") == []


def test_an_invented_sublist_field_is_refused(netsuite: NetSuiteSandbox) -> None:
    address = {"addressBookAddress": {"city": "Berlin", "planet": "Earth"}}
    status, body = put(
        netsuite, "/customer/eid:c-1", customer_body(addressBook={"items": [address]}), **STRICT
    )

    assert status == 400
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == "INVALID_FIELD"
    assert detail["o:errorPath"] == "addressBook.items[0].addressBookAddress.planet"


def test_a_sublist_the_record_does_not_have_is_refused(netsuite: NetSuiteSandbox) -> None:
    # the deposit's cash-back sublist is "cashback"; "cashBack" is not a field of a deposit
    status, body = put(
        netsuite,
        "/deposit/eid:po_1",
        {"subsidiary": {"id": "2"}, "currency": {"id": "4"}, "cashBack": {"items": []}},
        **STRICT,
    )
    assert status == 400 and body["o:errorDetails"][0]["o:errorPath"] == "cashBack"


def test_a_bad_select_id_and_a_read_only_field_are_refused(netsuite: NetSuiteSandbox) -> None:
    status, _ = put(netsuite, "/customer/eid:c-1", customer_body(), **STRICT)
    assert status == 204
    customer_id = netsuite.record("customer", "eid:c-1")["id"]
    order = {
        "entity": {"id": customer_id},
        "subsidiary": {"id": "2"},
        "currency": {"id": "4"},
        "item": {"items": [{"item": {"id": "77"}, "quantity": 1, "rate": 10, "amount": 10}]},
    }

    # orderStatus takes A or B only: "C" (cancelled) is the read-side status, not a settable value
    status, body = put(netsuite, "/salesOrder/eid:so-1", {**order, "orderStatus": {"id": "C"}}, **STRICT)
    assert status == 400
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == "INVALID_FLD_VALUE" and detail["o:errorPath"] == "orderStatus"

    # status is NetSuite's to set
    status, body = put(netsuite, "/salesOrder/eid:so-1", {**order, "status": {"id": "A"}}, **STRICT)
    assert status == 400 and body["o:errorDetails"][0]["o:errorPath"] == "status"
    assert netsuite.records("salesOrder") == []

    # with validation off NetSuite drops what it does not know, and the rest is written
    status, _ = put(
        netsuite,
        "/salesOrder/eid:so-1",
        {**order, "shippingPriority": "high"},
        **{"X-NetSuite-PropertyNameValidation": "Ignore"},
    )
    assert status == 204
    [written] = netsuite.records("salesOrder")
    assert "shippingPriority" not in written and written["status"]["refName"] == "Pending Approval"


def test_an_amount_finer_than_the_currency_precision_is_refused(netsuite: NetSuiteSandbox) -> None:
    # KWD has 3 decimals in ISO 4217; a NetSuite currency has 0 or 2
    assert put(netsuite, "/customer/eid:c-1", customer_body(currency={"id": "6"}), **STRICT)[0] == 204
    order = {
        "entity": {"id": netsuite.record("customer", "eid:c-1")["id"]},
        "subsidiary": {"id": "1"},
        "currency": {"id": "6"},
        "item": {"items": [{"item": {"id": "77"}, "quantity": 1, "rate": "12.345", "amount": "12.345"}]},
    }
    status, body = put(netsuite, "/salesOrder/eid:so-kwd", order, **STRICT)

    assert status == 400 and body["o:errorDetails"][0]["o:errorCode"] == "INVALID_FLD_VALUE"
    assert "precision 2" in body["o:errorDetails"][0]["detail"]
    # 12.34 KWD is fine
    order["item"]["items"][0].update(rate="12.34", amount="12.34")
    assert put(netsuite, "/salesOrder/eid:so-kwd", order, **STRICT)[0] == 204


def test_a_custom_field_the_account_does_not_define_is_refused(netsuite: NetSuiteSandbox) -> None:
    status, body = put(netsuite, "/customer/eid:c-1", customer_body(custentity_vip=True), **STRICT)
    assert status == 400 and body["o:errorDetails"][0]["o:errorCode"] == "INVALID_FIELD"
    # the hub's own custom entity field is defined in the account (the hub's setup)
    status, _ = put(netsuite, "/customer/eid:c-2", customer_body(custentity_o2c_dunning="past_due"), **STRICT)
    assert status == 204


class PaidIntents:
    """Stripe, for reconciliation: every payment intent succeeded for the amount the test gives."""

    def __init__(self, amount: int, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def retrieve_payment_intent(self, intent_id: str) -> dict[str, Any]:
        return {
            "id": intent_id,
            "status": "succeeded",
            "amount_received": self.amount,
            "currency": self.currency,
        }


def test_a_captured_deal_paid_in_netsuite_reconciles_without_exceptions(netsuite: NetSuiteSandbox) -> None:
    # Given a deal invoiced and paid in NetSuite (invoice status B, Paid In Full) and captured in Stripe
    connector = after_sale_erp(netsuite)
    customer, invoice = invoiced(connector, paid=False)
    connector.apply_customer_payment(
        "pay-pi_1", customer_id=customer.id, invoice_id=invoice.id, amount=eur("1469.06"), currency="EUR"
    )
    assert netsuite.record("invoice", invoice.id)["status"]["id"] == "B"
    won = {
        "detailType": "OpportunityClosedWon",
        "occurredAt": "2026-12-01T10:00:00Z",
        "data": {
            "crmSystem": "hs",
            "opportunityId": "deal-1001",
            "complete": True,
            "opportunity": {
                "amount": {"amount": 146906, "currency": "EUR"},
                "lines": [
                    {"amount": {"amount": 100000, "currency": "EUR"}},
                    {"amount": {"amount": 23450, "currency": "EUR"}},
                ],
            },
        },
    }
    captured = {
        "detailType": "PaymentCaptured",
        "occurredAt": "2026-12-01T10:05:00Z",
        "data": {"opportunityId": "deal-1001", "paymentIntentId": "pi_1"},
    }

    # When the day is reconciled
    report = reconcile(date(2026, 12, 1), [won, captured], erp=connector, payments=PaidIntents(146906, "eur"))

    # Then nothing is reported: the payment is applied (NetSuite's B is "paid in full")
    assert report.mismatches == [], report.as_table()
    assert report.payments == 1
