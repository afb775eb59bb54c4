"""The quote-to-cash step that records the invoiced sale in the tax engine (``steps.record_sale``), against
the AvaTax sandbox: what AvaTax reports as owed is the tax the ERP invoiced, with the quote's lines and
address; an invoice that is not what was quoted is refused, not recorded."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from shared.crm.models import LineItem
from shared.errors import InvalidRecord
from shared.money import Money
from shared.order_to_cash import steps
from shared.order_to_cash.step_errors import BusinessRejection, classified
from shared.outbound.avatax import AvaTax
from tests.unit.crm_fixtures import opportunity


@pytest.fixture
def avatax() -> Iterator[AvaTaxSandbox]:
    with AvaTaxSandbox(account_id="2000123456", license_key="K") as sandbox:
        yield sandbox  # type: ignore[misc]


def engine(sandbox: AvaTaxSandbox) -> AvaTax:
    return AvaTax(sandbox.url, account_id="2000123456", license_key=lambda: "K", company_code="O2C")


def invoice(net: str = "24000.00", tax: str = "4560.00") -> dict[str, Any]:
    return {
        "erpInvoiceId": "88",
        "externalId": "inv-hubspot-9876543210",
        "documentNumber": "INV-88",
        "tranDate": "2026-11-30",
        "lines": [
            {
                "number": 1,
                "amount": {"amount": int(Decimal(net) * 100), "currency": "EUR"},
                "tax": {"amount": int(Decimal(tax) * 100), "currency": "EUR"},
                "quantity": 12,
            }
        ],
    }


CUSTOMER = {"externalId": "hubspot-1234567", "erpCustomerId": "9"}


def test_the_sale_is_recorded_with_the_invoiced_tax_once(avatax: AvaTaxSandbox) -> None:
    first = steps.record_sale(engine(avatax), opportunity(), CUSTOMER, invoice())
    again = steps.record_sale(engine(avatax), opportunity(), CUSTOMER, invoice())

    assert first == again
    assert first["taxDocumentCode"] == "inv-hubspot-9876543210" and first["status"] == "Committed"
    assert first["taxRecorded"] == {"amount": 456000, "currency": "EUR"}
    [sale] = avatax.documents
    assert (sale["type"], sale["date"], sale["customerCode"]) == (
        "SalesInvoice",
        "2026-11-30",
        "hubspot-1234567",
    )
    [line] = sale["lines"]
    assert (line["lineAmount"], line["quantity"], line["itemCode"]) == (Decimal("24000.00"), 12, "Platform")


def test_invoiced_tax_that_differs_from_the_engine_s_is_recorded_and_the_difference_reported(
    avatax: AvaTaxSandbox,
) -> None:
    # the ERP invoiced 16 % where AvaTax's German rate is 19 %: AvaTax records what was charged
    out = steps.record_sale(engine(avatax), opportunity(), CUSTOMER, invoice(tax="3840.00"))

    assert out["taxRecorded"] == {"amount": 384000, "currency": "EUR"}
    assert out["taxCalculated"] == {"amount": 456000, "currency": "EUR"}
    [sale] = avatax.documents
    assert sale["totalTax"] == Decimal("3840.00")


def test_an_invoice_that_is_not_what_was_quoted_is_refused_not_recorded(avatax: AvaTaxSandbox) -> None:
    with pytest.raises(InvalidRecord, match="line 1"):
        steps.record_sale(engine(avatax), opportunity(), CUSTOMER, invoice(net="23000.00"))
    with pytest.raises(BusinessRejection):  # as the state machine sees it: a person looks (NeedsAttention)
        classified(steps.record_sale)(engine(avatax), opportunity(), CUSTOMER, invoice(net="23000.00"))
    assert avatax.documents == []


def test_a_kwd_invoice_is_recorded_at_the_erp_s_precision_without_its_rounding_line(
    avatax: AvaTaxSandbox,
) -> None:
    # Given a KWD deal of 1,234.567 KWD: NetSuite holds 2 of KWD's 3 decimals (1,234.570) and the order has a
    # non-taxable cash-rounding line (Stripe takes multiples of 10 fils)
    deal = opportunity(currency="KWD").replace(
        amount=Money.of(1234567, "KWD"),
        lines=(
            LineItem(
                lineItemId="701",
                name="Platform",
                quantity=1,
                unitPrice=Money.of(1234567, "KWD"),
                amount=Money.of(1234567, "KWD"),
            ),
        ),
    )
    kwd = {
        **invoice(),
        "lines": [
            {
                "number": 1,
                "amount": Money.of(1234570, "KWD").dump(),
                "tax": Money.of(234570, "KWD").dump(),
            },
            {
                "number": 2,
                "amount": Money.of(-10, "KWD").dump(),
                "tax": Money.of(0, "KWD").dump(),
                "rounding": True,
            },
        ],
    }

    out = steps.record_sale(engine(avatax), deal, CUSTOMER, kwd)

    # Then AvaTax records the sold line as invoiced, and the rounding is no sale
    assert out["taxRecorded"] == {"amount": 234570, "currency": "KWD"}
    [sale] = avatax.documents
    assert [(line["lineAmount"], line["tax"]) for line in sale["lines"]] == [
        (Decimal("1234.570"), Decimal("234.570"))
    ]
