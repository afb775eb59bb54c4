"""NetSuiteErp after the sale, over HTTP against the NetSuite sandbox: refunds (credit memo + customer
refund), dispute holds (return authorizations) won and lost, renewal invoices, dunning, payouts as
deposits, SuiteQL reads — every write once per external id, also when retried or after a commit whose
reply timed out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from localcloud.sandboxes.avatax import AvaTaxSandbox
from localcloud.sandboxes.netsuite import NetSuiteSandbox
from shared.money import Money, from_major
from shared.outbound import InvalidRecord
from shared.outbound.avatax import ReturnLine
from shared.outbound.netsuite import ErpRef, NetSuiteErp, NetSuiteHttp, OrderLine
from tests.connectors.conftest import FakeSleep
from tests.connectors.test_avatax_connector import ACCOUNT_ID as AVATAX_ACCOUNT
from tests.connectors.test_avatax_connector import LICENSE_KEY
from tests.connectors.test_avatax_connector import connector as avatax_connector
from tests.connectors.test_netsuite_connector import (
    ACCOUNT,
    BERLIN,
    CURRENCY_IDS,
    eur,
    given_customer,
    given_order,
    new_sandbox,
    order_of,
    tba,
    unit,
)

REFUND_ITEM = "77"
FEES_ACCOUNT = "160"
DISPUTES_ACCOUNT = "161"


@pytest.fixture
def netsuite() -> Iterator[NetSuiteSandbox]:
    with new_sandbox() as sandbox:
        yield sandbox  # type: ignore[misc]


def after_sale_erp(sandbox: NetSuiteSandbox, sleep: FakeSleep | None = None, **http: Any) -> NetSuiteErp:
    client = NetSuiteHttp(sandbox.url, auth=tba(), sleep=sleep or FakeSleep(), **http)
    return NetSuiteErp(
        sandbox.url,
        account_id=ACCOUNT,
        auth=client.auth,
        http=client,
        currency_ids=CURRENCY_IDS,
        credit_item_id=REFUND_ITEM,
        dispute_account_id=DISPUTES_ACCOUNT,
        adjustment_account_id=FEES_ACCOUNT,
    )


def invoiced(connector: NetSuiteErp, *, paid: bool = True) -> tuple[ErpRef, ErpRef]:
    """(customer, invoice of 1469.06 EUR), paid by a Stripe payment unless ``paid`` is False."""
    customer = given_customer(connector)
    order = given_order(connector, customer)
    connector.activate_sales_order(order.id)
    invoice = connector.invoice_sales_order(order.id, external_id="inv-hs-deal-1001")
    if paid:
        connector.apply_customer_payment(
            "pi_paid", customer_id=customer.id, invoice_id=invoice.id, amount=eur("1469.06"), currency="EUR"
        )
    return customer, invoice


def renewal(connector: NetSuiteErp, customer: ErpRef, external_id: str, start: date, price: str) -> ErpRef:
    return connector.upsert_renewal_invoice(
        external_id,
        customer_id=customer.id,
        subsidiary_id="2",
        currency="EUR",
        lines=[
            OrderLine(item_external_id="PLT-1", quantity=1, rate=eur(price), amount=eur(price), tax=eur("0"))
        ],
        period_start=start,
        period_end=date(start.year + (start.month == 12), start.month % 12 + 1, 1),
        memo=f"Renewal {start:%Y-%m}",
    )


def transforms(sandbox: NetSuiteSandbox, target: str) -> int:
    return sum(r.endswith(f"!transform/{target}") for r in sandbox.requests)


# --- refunds --------------------------------------------------------------------------------------------


def test_a_partial_refund_recorded_twice_is_one_credit_memo_and_one_refund(netsuite: NetSuiteSandbox) -> None:
    # Given a paid invoice
    connector = after_sale_erp(netsuite)
    customer, invoice = invoiced(connector)

    # When a Stripe refund of 100.00 is recorded twice (a redelivered charge.refunded)
    for _ in range(2):
        credit = connector.credit_invoice(
            invoice.id, external_id="re_1AbC-cm", amount=eur("100.00"), memo="Stripe refund re_1AbC"
        )
        refund = connector.refund_credit_memo(
            credit.id, external_id="re_1AbC", customer_id=customer.id, amount=eur("100.00"), memo="re_1AbC"
        )

    # Then one credit memo (unapplied: the invoice was paid) and one customer refund using it; the 100.00 is
    # tax included: 234.56 x 100.00 / 1469.06 = 15.97 of it is VAT, spread over the invoice's lines like their
    # tax, the net 84.03 like their net amounts
    [memo] = netsuite.records("creditMemo")
    assert memo["id"] == credit.id and memo["createdFrom"]["id"] == invoice.id
    assert [
        (line["item"]["externalId"], line["amount"], line["tax1Amt"]) for line in memo["item"]["items"]
    ] == [("PLT-1", Decimal("68.06"), Decimal("12.93")), ("ONB-1", Decimal("15.97"), Decimal("3.04"))]
    assert memo["taxTotal"] == Decimal("15.97") and memo["subtotal"] == Decimal("84.03")
    assert memo["total"] == Decimal("100.00") and memo["apply"]["items"] == []
    assert memo["unapplied"] == 0 and memo["status"]["refName"] == "Fully Applied"
    [record] = netsuite.records("customerRefund")
    assert record["id"] == refund.id and record["total"] == Decimal("100.00")
    assert record["paymentOption"]["refName"] == "Stripe" and record["paymentOperation"]["id"] == "REFUND"
    assert record["apply"]["items"][0]["doc"]["id"] == credit.id
    assert netsuite.record("invoice", invoice.id)["status"]["refName"] == "Paid In Full"
    assert transforms(netsuite, "creditMemo") == 1


def test_a_refund_is_booked_with_no_record_read_twice(netsuite: NetSuiteSandbox) -> None:
    """Issue 16: booking a refund reads the invoice once (with its lines), looks for the credit memo once
    before the transform, and reads back no document number the hub does not use."""
    connector = after_sale_erp(netsuite)
    customer, invoice = invoiced(connector)
    before = len(netsuite.requests)

    found = connector.get_by_external_id("invoice", "inv-hs-deal-1001", expand=True)
    assert found is not None and found["item"]["items"]
    credit = connector.credit_invoice(
        invoice.id, external_id="cm-re_once", amount=eur("100.00"), memo="re_once", invoice=found
    )
    refund = connector.refund_credit_memo(
        credit.id, external_id="cr-re_once", customer_id=customer.id, amount=eur("100.00"), memo="re_once"
    )

    assert (credit.document_number, refund.document_number) == (None, None)
    assert [r.split("/v1/", 1)[1].split("/")[0] for r in netsuite.requests[before:]] == [
        "invoice",  # GET the invoice by external id, with its lines
        "creditMemo",  # GET cm-re_once: none yet
        "suiteql",  # what was credited before (the tax share)
        "invoice",  # POST !transform/creditMemo
        "customerRefund",  # PUT
    ]
    [memo] = netsuite.records("creditMemo")
    assert memo["id"] == credit.id and memo["total"] == Decimal("100.00")


def test_two_different_partial_refunds_are_two_credit_memos_and_two_refunds(
    netsuite: NetSuiteSandbox,
) -> None:
    connector = after_sale_erp(netsuite)
    customer, invoice = invoiced(connector)

    for ext, amount in (("re_first", "100.00"), ("re_second", "250.55")):
        credit = connector.credit_invoice(invoice.id, external_id=f"{ext}-cm", amount=eur(amount), memo=ext)
        connector.refund_credit_memo(
            credit.id, external_id=ext, customer_id=customer.id, amount=eur(amount), memo=ext
        )

    assert [m["total"] for m in netsuite.records("creditMemo")] == [Decimal("100.00"), Decimal("250.55")]
    assert [(r["externalId"], r["total"]) for r in netsuite.records("customerRefund")] == [
        ("re_first", Decimal("100.00")),
        ("re_second", Decimal("250.55")),
    ]


def test_credits_on_an_open_invoice_reduce_what_it_owes(netsuite: NetSuiteSandbox) -> None:
    # Given an invoice not paid yet
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector, paid=False)

    # When part of it is credited, then the rest in full
    connector.credit_invoice(invoice.id, external_id="cm-goodwill", amount=eur("69.06"), memo="Goodwill")
    after_partial = netsuite.record("invoice", invoice.id)
    connector.credit_invoice(invoice.id, external_id="cm-rest", amount=eur("1400.00"), memo=None)

    # Then each credit memo is applied to the invoice, which ends paid in full with nothing left to refund
    assert (
        after_partial["amountRemaining"] == Decimal("1400.00")
        and after_partial["status"]["refName"] == "Open"
    )
    final = netsuite.record("invoice", invoice.id)
    assert final["amountRemaining"] == 0 and final["status"]["refName"] == "Paid In Full"
    assert [m["unapplied"] for m in netsuite.records("creditMemo")] == [0, 0]


def test_partial_refunds_reverse_the_invoice_s_tax_in_proportion_and_in_full_when_they_add_up(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a paid invoice of 1234.50 + 234.56 VAT = 1469.06 EUR
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector)

    # When it is refunded in three parts that add up to all of it
    for n, amount in enumerate(("333.33", "333.33", "802.40"), 1):
        connector.credit_invoice(invoice.id, external_id=f"re_{n}-cm", amount=eur(amount), memo=None)

    # Then each credit memo carries its share of the VAT (cumulatively rounded), and together exactly the
    # invoice's VAT: the rounding residue is on the last
    memos = netsuite.records("creditMemo")
    assert [m["taxTotal"] for m in memos] == [Decimal("53.22"), Decimal("53.22"), Decimal("128.12")]
    assert sum(m["taxTotal"] for m in memos) == Decimal("234.56")
    assert sum(m["total"] for m in memos) == Decimal("1469.06")


def test_a_full_credit_keeps_the_invoice_lines_and_their_tax(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector)

    connector.credit_invoice(invoice.id, external_id="re_full-cm", amount=eur("1469.06"), memo=None)

    [memo] = netsuite.records("creditMemo")
    assert [line["item"]["externalId"] for line in memo["item"]["items"]] == ["PLT-1", "ONB-1"]
    assert memo["taxTotal"] == Decimal("234.56") and memo["unapplied"] == Decimal("1469.06")


def test_a_credit_memo_committed_whose_reply_timed_out_is_found_not_created_again(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a paid invoice, and NetSuite that commits the next write but answers too late
    sleep = FakeSleep()
    connector = after_sale_erp(netsuite, sleep, timeout_s=0.2)
    _, invoice = invoiced(connector)
    netsuite.commit_then_timeout_next(1, delay_s=0.45)

    # When the refund's credit memo is written (the transform times out after committing)
    credit = connector.credit_invoice(invoice.id, external_id="re_slow-cm", amount=eur("10.00"), memo=None)

    # Then the connector found the credit memo the timed-out request made: exactly one
    assert [m["id"] for m in netsuite.records("creditMemo")] == [credit.id]
    assert transforms(netsuite, "creditMemo") == 1 and len(sleep.waits) == 1


def test_a_credit_above_the_invoice_total_is_refused(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector)

    with pytest.raises(InvalidRecord):
        connector.credit_invoice(invoice.id, external_id="too-much", amount=eur("1469.07"), memo=None)
    assert netsuite.records("creditMemo") == []


def kwd(value: str) -> Money:
    return from_major(value, "KWD")


def test_a_kwd_partial_refund_of_a_taxed_invoice_is_booked_in_what_netsuite_holds(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a KWD invoice (KWD has 3 decimals in ISO 4217, NetSuite keeps it to 2) of 123.45 + 6.17 tax and
    # 10.00 + 0.50 tax = 140.12 KWD
    connector = after_sale_erp(netsuite)
    customer = given_customer(connector, "cust-kwd", currency="KWD")
    order = order_of(
        connector,
        "so-kwd-1",
        customer.id,
        unit("PLT-1", kwd("123.45"), kwd("6.17")),
        unit("ONB-1", kwd("10.00"), kwd("0.50")),
        currency="KWD",
    )
    connector.activate_sales_order(order.id)
    invoice = connector.invoice_sales_order(order.id, external_id="inv-kwd-1")

    # When Stripe refunds 33.330 KWD of it (Stripe's KWD amounts end in 0 fils), then the rest
    connector.credit_invoice(invoice.id, external_id="re_kwd1-cm", amount=kwd("33.330"), memo=None)
    connector.credit_invoice(invoice.id, external_id="re_kwd2-cm", amount=kwd("106.790"), memo=None)

    # Then NetSuite took both credit memos: 6.67 x 33.33 / 140.12 = 1.5866 KWD of tax is booked as 1.59 (not
    # 1.587, which NetSuite refuses), every line in whole hundredths; together they reverse exactly the
    # invoice's 6.67 of tax and its 140.12
    first, rest = netsuite.records("creditMemo")
    assert first["total"] == Decimal("33.33") and first["taxTotal"] == Decimal("1.59")
    for memo in (first, rest):
        for line in memo["item"]["items"]:
            for field in ("amount", "tax1Amt"):
                assert line[field] == line[field].quantize(Decimal("0.01"))
    assert first["taxTotal"] + rest["taxTotal"] == Decimal("6.67")
    assert first["total"] + rest["total"] == Decimal("140.12")
    assert netsuite.record("invoice", invoice.id)["amountRemaining"] == 0

    # And the tax engine's return of the first credit memo sends NetSuite's figures (AvaTax takes KWD to 3
    # decimals; these are whole hundredths) and records exactly the tax NetSuite reversed
    lines = connector.credit_memo_lines(first["id"])
    with AvaTaxSandbox(account_id=AVATAX_ACCOUNT, license_key=LICENSE_KEY) as avatax:
        recorded = avatax_connector(avatax).record_return(
            document_code="rtn-re_kwd1",
            reference_code="inv-kwd-1",
            customer_code="cust-kwd",
            date=date(2026, 12, 1),
            tax_date=date(2026, 11, 27),
            ship_to=BERLIN,
            lines=[
                ReturnLine(str(n), line.amount, line.tax, line.quantity, line.item_external_id)
                for n, line in enumerate(lines, 1)
            ],
            currency="KWD",
            reason="Stripe refund re_kwd1",
        )
        [sent] = avatax.transactions
    assert [
        (Decimal(line["amount"]), Decimal(line["taxOverride"]["taxAmount"])) for line in sent["lines"]
    ] == [(-line["amount"], -line["tax1Amt"]) for line in first["item"]["items"]]
    assert recorded.total_tax == kwd("-1.59") and recorded.total_amount == kwd("-31.74")


# --- disputes -------------------------------------------------------------------------------------------


def test_a_dispute_won_leaves_nothing_booked(netsuite: NetSuiteSandbox) -> None:
    # Given a paid invoice under dispute (the hold opened twice: a redelivered charge.dispute.created)
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector)
    hold = connector.open_dispute_hold(
        invoice.id, external_id="dp_1Won", amount=eur("1469.06"), memo="Dispute dp_1Won"
    )
    assert (
        connector.open_dispute_hold(invoice.id, external_id="dp_1Won", amount=eur("1469.06"), memo=None)
        == hold
    )
    [rma] = netsuite.records("returnAuthorization")
    assert rma["status"]["refName"] == "Pending Approval" and rma["total"] == Decimal("1469.06")

    # When it is won (twice)
    assert connector.settle_dispute("dp_1Won", outcome="won") is None
    assert connector.settle_dispute("dp_1Won", outcome="won") is None

    # Then the hold is closed, no credit and no refund exist, the invoice is as it was
    assert netsuite.record("returnAuthorization", hold.id)["status"]["refName"] == "Closed"
    assert netsuite.records("creditMemo") == [] and netsuite.records("customerRefund") == []
    assert netsuite.record("invoice", invoice.id)["status"]["refName"] == "Paid In Full"
    with pytest.raises(InvalidRecord):
        connector.settle_dispute("dp_1Won", outcome="lost")


def test_a_dispute_lost_becomes_one_credit_memo_and_one_refund(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    customer, invoice = invoiced(connector)
    hold = connector.open_dispute_hold(
        invoice.id, external_id="dp_1Lost", amount=eur("500.00"), memo="Dispute dp_1Lost"
    )

    first = connector.settle_dispute("dp_1Lost", outcome="lost")
    again = connector.settle_dispute("dp_1Lost", outcome="lost")

    assert first == again and first is not None and first.external_id == "dp_1Lost-cm"
    [memo] = netsuite.records("creditMemo")
    assert memo["createdFrom"]["id"] == hold.id and memo["total"] == Decimal("500.00")
    # the chargeback takes back VAT in proportion: 234.56 x 500.00 / 1469.06 = 79.83
    assert memo["taxTotal"] == Decimal("79.83")
    assert memo["memo"] == "Dispute dp_1Lost" and memo["unapplied"] == 0
    [refund] = netsuite.records("customerRefund")
    assert refund["externalId"] == "dp_1Lost-rf" and refund["customer"]["id"] == customer.id
    assert refund["account"]["id"] == DISPUTES_ACCOUNT and refund["total"] == Decimal("500.00")
    assert netsuite.record("returnAuthorization", hold.id)["status"]["refName"] == "Refunded"
    assert transforms(netsuite, "creditMemo") == 1
    with pytest.raises(InvalidRecord):
        connector.settle_dispute("dp_1Lost", outcome="won")


def test_a_chargeback_of_the_whole_charge_after_a_partial_refund_reverses_only_the_tax_left(
    netsuite: NetSuiteSandbox,
) -> None:
    # Given a paid invoice (234.56 VAT) of which 469.06 was refunded
    connector = after_sale_erp(netsuite)
    _, invoice = invoiced(connector)
    connector.credit_invoice(invoice.id, external_id="re_part-cm", amount=eur("469.06"), memo=None)

    # When the bank takes back the whole 1469.06 and the dispute is lost
    connector.open_dispute_hold(invoice.id, external_id="dp_1All", amount=eur("1469.06"), memo=None)
    connector.settle_dispute("dp_1All", outcome="lost")

    # Then the credit memos together reverse the invoice's VAT once, not more
    memos = netsuite.records("creditMemo")
    assert [m["total"] for m in memos] == [Decimal("469.06"), Decimal("1469.06")]
    assert sum(m["taxTotal"] for m in memos) == Decimal("234.56")


# --- renewals and dunning ---------------------------------------------------------------------------------


def test_a_renewal_invoice_is_written_once_per_external_id(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    customer = given_customer(connector)

    first = renewal(connector, customer, "in_1Renew", date(2025, 3, 1), "99.00")
    again = renewal(connector, customer, "in_1Renew", date(2025, 3, 1), "99.00")

    assert first == again
    [invoice] = netsuite.records("invoice")
    assert (invoice["startDate"], invoice["endDate"], invoice["tranDate"]) == (
        "2025-03-01",
        "2025-04-01",
        "2025-03-01",
    )
    assert len(invoice["item"]["items"]) == 1 and invoice["amountRemaining"] == Decimal("99.00")

    # once paid, a redelivered "invoice the period" leaves it as it is
    connector.apply_customer_payment(
        "in_1Renew-pay", customer_id=customer.id, invoice_id=first.id, amount=eur("99.00"), currency="EUR"
    )
    assert renewal(connector, customer, "in_1Renew", date(2025, 3, 1), "120.00") == first
    assert netsuite.record("invoice", first.id)["total"] == Decimal("99.00")
    assert len(netsuite.records("invoice")) == 1


def test_dunning_is_set_and_cleared_on_the_customer(netsuite: NetSuiteSandbox) -> None:
    connector = after_sale_erp(netsuite)
    customer = given_customer(connector)

    connector.mark_dunning(customer.id, state="past_due")
    connector.mark_dunning(customer.id, state="past_due")
    assert netsuite.record("customer", customer.id)["custentity_o2c_dunning"] == "past_due"

    connector.mark_dunning(customer.id, state=None)
    assert netsuite.record("customer", customer.id)["custentity_o2c_dunning"] is None
    with pytest.raises(ValueError):
        connector.mark_dunning(customer.id, state="Past Due!")


# --- payouts ----------------------------------------------------------------------------------------------


def test_a_payout_deposit_equals_the_payout_to_the_cent(netsuite: NetSuiteSandbox) -> None:
    # Given three paid renewal invoices (three Stripe payments)
    connector = after_sale_erp(netsuite)
    customer = given_customer(connector)
    payments = []
    for n, price in enumerate(("99.00", "249.50", "1000.01"), 1):
        invoice = renewal(connector, customer, f"in_{n}", date(2025, n, 1), price)
        payment = connector.apply_customer_payment(
            f"ch_{n}", customer_id=customer.id, invoice_id=invoice.id, amount=eur(price), currency="EUR"
        )
        payments.append((payment.id, eur(price)))
    other = [("Stripe fees po_1", eur("-41.23")), ("Refund re_9", eur("-20.00"))]
    payout = eur("1287.28")  # 1348.51 - 41.23 - 20.00

    # When the payout is deposited (twice: a redelivered payout.paid)
    for _ in range(2):
        deposit = connector.upsert_deposit(
            "po_1",
            subsidiary_id="2",
            currency="EUR",
            account_id="1",
            payments=payments,
            other=other,
            total=payout,
        )

    # Then one deposit whose total is the payout, the fees and the refund as cash back lines
    [record] = netsuite.records("deposit")
    assert record["id"] == deposit.id and record["total"] == Decimal("1287.28")
    assert [p["id"] for p in record["payment"]["items"]] == [p for p, _ in payments]
    assert [(c["memo"], c["amount"], c["account"]["id"]) for c in record["cashback"]["items"]] == [
        ("Stripe fees po_1", Decimal("41.23"), FEES_ACCOUNT),
        ("Refund re_9", Decimal("20.00"), FEES_ACCOUNT),
    ]
    assert record["other"]["items"] == []
    assert {p["status"]["refName"] for p in netsuite.records("customerPayment")} == {"Deposited"}

    # And a deposit whose lines miss the payout by a cent is refused before anything is sent
    puts = sum(r.startswith("PUT /services/rest/record/v1/deposit") for r in netsuite.requests)
    with pytest.raises(InvalidRecord):
        connector.upsert_deposit(
            "po_2", subsidiary_id="2", currency="EUR", account_id=None, payments=payments, other=other,
            total=eur("1287.29"),
        )  # fmt: skip
    assert sum(r.startswith("PUT /services/rest/record/v1/deposit") for r in netsuite.requests) == puts
    assert len(netsuite.records("deposit")) == 1


# --- reconciliation reads -----------------------------------------------------------------------------------


def test_suiteql_lists_transactions_page_by_page(netsuite: NetSuiteSandbox) -> None:
    # Given five renewal invoices, one a month, and a credit memo
    connector = after_sale_erp(netsuite)
    customer = given_customer(connector)
    invoices = [renewal(connector, customer, f"in_m{m}", date(2025, m, 1), "10.00") for m in range(1, 6)]
    connector.credit_invoice(invoices[0].id, external_id="cm_m1", amount=eur("1.00"), memo=None)

    # When the invoices are listed two to a page
    everything = connector.list_records("invoice", page_size=2)
    recent = connector.list_records("invoice", since=date(2025, 3, 1), page_size=2)
    one = connector.list_records("invoice", external_id="in_m4")

    # Then every invoice comes back, in order, with exact totals and ISO dates; filters apply
    assert [r["externalId"] for r in everything] == [f"in_m{m}" for m in range(1, 6)]
    assert everything[0]["total"] == Decimal("10.00") and everything[0]["currency"] == "EUR"
    assert everything[0]["tranDate"] == date(2025, 1, 1) and everything[0]["status"] == "A"
    assert [r["tranId"] for r in recent] == [i.document_number for i in invoices[2:]]
    assert [r["id"] for r in one] == [invoices[3].id]
    [credit] = connector.list_records("creditMemo")
    assert credit["externalId"] == "cm_m1" and credit["createdFrom"] == invoices[0].id
    assert connector.list_records("creditMemo", created_from=invoices[1].id) == []
    # one query by the credit memo (what was credited before), then one per page
    assert (
        sum(r == "POST /services/rest/query/v1/suiteql" for r in netsuite.requests) == 1 + 3 + 2 + 1 + 1 + 1
    )
