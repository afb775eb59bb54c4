"""What each after-sale fact waits for when it comes first, and which later fact releases it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.crm.models import Address
from shared.events.after_sale import DisputeRecorded, RenewalInvoiced
from shared.events.orchestration import InvoicePaid, OrderCreated
from shared.events.payments import DisputeClosed, DisputeOpened, RefundSucceeded
from shared.money import Money
from shared.order_to_cash.bookings import NotOurs, NotYetKnown, book_refund, record_dispute, settle_dispute
from shared.order_to_cash.pending import released_keys
from shared.outbound.avatax import RecordedReturn
from shared.outbound.netsuite import OrderLine


class NoInvoiceYet:
    def get_by_external_id(self, record_type: str, external_id: str, *, expand: bool = False) -> None:
        return None


class Payments:
    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return {"id": payment_intent_id, "metadata": {"o2c_correlation_id": "hubspot:42"}}


class SubscriptionPayments:
    """A renewal's PaymentIntent: no metadata; Stripe's invoice payments link it to its invoice."""

    def __init__(self, invoices: dict[str, str]) -> None:
        self.invoices = invoices

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return {"id": payment_intent_id, "metadata": {}}

    def invoice_of_payment(self, payment_intent_id: str) -> str | None:
        return self.invoices.get(payment_intent_id)

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        metadata = {"o2c_correlation_id": "hubspot:42"}
        return {"id": invoice_id, "parent": {"subscription_details": {"metadata": metadata}}}


class Ref:
    def __init__(self, id: str) -> None:
        self.id = id


class Erp:
    def __init__(self, invoices: dict[str, dict[str, Any]]) -> None:
        self.invoices = invoices
        self.credited: list[tuple[str, str]] = []

    def get_by_external_id(
        self, record_type: str, external_id: str, *, expand: bool = False
    ) -> dict[str, Any] | None:
        return self.invoices.get(external_id) if record_type == "invoice" else None

    def credit_invoice(self, invoice_id: str, *, external_id: str, **_: Any) -> Ref:
        self.credited.append((invoice_id, external_id))
        return Ref("cm1")

    def refund_credit_memo(self, credit_id: str, *, external_id: str, customer_id: str, **_: Any) -> Ref:
        assert (credit_id, customer_id) == ("cm1", "77")
        return Ref("cr1")

    def credit_memo_lines(self, credit_id: str) -> list[OrderLine]:
        eur = Money.of(420, "EUR")
        return [OrderLine(quantity=1, rate=eur, amount=eur, tax=Money.of(80, "EUR"), item_external_id="SUB")]

    def tax_customer(self, customer_id: str) -> tuple[str, Address]:
        return "cust-77", Address(country="DE")


class Tax:
    def __init__(self) -> None:
        self.returns: list[dict[str, Any]] = []

    def record_return(self, **kwargs: Any) -> RecordedReturn:
        self.returns.append(kwargs)
        tax = sum(line.tax.amount for line in kwargs["lines"])
        return RecordedReturn(
            kwargs["document_code"], "Committed", Money.of(-420, "EUR"), Money.of(-tax, "EUR")
        )


REFUND = RefundSucceeded(refundId="re_1", paymentIntentId="pi_1", amount=Money.of(500, "EUR"))
DISPUTE = DisputeOpened(
    disputeId="dp_1",
    chargeId="ch_1",
    paymentIntentId="pi_1",
    amount=Money.of(500, "EUR"),
    reason="fraudulent",
    status="needs_response",
)
DISPUTE_LOST = DisputeClosed(disputeId="dp_1", chargeId="ch_1", amount=Money.of(500, "EUR"), outcome="lost")


def test_a_refund_before_the_deals_invoice_waits_for_its_payment_to_be_applied() -> None:
    with pytest.raises(NotYetKnown) as caught:
        book_refund(NoInvoiceYet(), Payments(), REFUND, tax=Tax())
    assert caught.value.awaiting == "payment:pi_1"
    # quote-to-cash announces the applied payment with InvoicePaid: that releases it
    paid = InvoicePaid(
        opportunityId="42",
        erpInvoiceId="3009",
        erpPaymentId="77",
        paymentIntentId="pi_1",
        amount=Money.of(500, "EUR"),
    )
    assert "payment:pi_1" in released_keys(paid)


def test_a_dispute_before_the_deals_invoice_waits_for_its_payment_too() -> None:
    with pytest.raises(NotYetKnown) as caught:
        record_dispute(NoInvoiceYet(), Payments(), None, DISPUTE, lambda key, create: create())
    assert caught.value.awaiting == "payment:pi_1"


def test_a_disputes_outcome_before_the_dispute_waits_for_the_dispute_to_be_recorded() -> None:
    with pytest.raises(NotYetKnown) as caught:
        settle_dispute(NoInvoiceYet(), DISPUTE_LOST, tax=Tax())
    assert caught.value.awaiting == "dispute:dp_1"
    recorded = DisputeRecorded(
        disputeId="dp_1", erpInvoiceId="3009", erpDisputeHoldId="rma-1", amount=Money.of(500, "EUR")
    )
    assert released_keys(recorded) == ["dispute:dp_1"]


def test_a_renewal_releases_what_waits_for_its_payment_and_unrelated_facts_release_nothing() -> None:
    def renewal(payment_intent_id: str | None) -> RenewalInvoiced:
        return RenewalInvoiced(
            billingInvoiceId="in_9",
            erpInvoiceId="3010",
            erpPaymentId="78",
            erpCustomerId="1042",
            amount=Money.of(500, "EUR"),
            paymentIntentId=payment_intent_id,
        )

    assert released_keys(renewal("pi_9")) == ["payment:pi_9"]
    assert released_keys(renewal(None)) == []
    created = OrderCreated(
        opportunityId="42", erpOrderId="so-1", total=Money.of(500, "EUR"), tax=Money.of(0, "EUR")
    )
    assert released_keys(created) == []


def test_a_refund_of_a_renewal_payment_is_booked_against_that_cycles_invoice() -> None:
    erp, tax = Erp({"ren-in_7": {"id": "3009", "entity": {"id": "77"}, "externalId": "ren-in_7"}}), Tax()
    booked = book_refund(erp, SubscriptionPayments({"pi_1": "in_7"}), REFUND, tax=tax)
    assert erp.credited == [("3009", "cm-re_1")]
    assert (booked["erpInvoiceId"], booked["opportunityId"]) == ("3009", "42")  # the deal it renews
    # and the tax engine hears of it: a return of the credit memo's tax, referencing the invoice
    [returned] = tax.returns
    assert (returned["document_code"], returned["reference_code"]) == ("rtn-re_1", "ren-in_7")
    assert (
        booked["taxRefunded"] == {"amount": 80, "currency": "EUR"} and booked["taxReturnCode"] == "rtn-re_1"
    )


def test_a_refund_of_a_renewal_not_yet_invoiced_in_the_erp_waits_for_it() -> None:
    with pytest.raises(NotYetKnown) as caught:
        book_refund(Erp({}), SubscriptionPayments({"pi_1": "in_7"}), REFUND, tax=Tax())
    assert caught.value.awaiting == "payment:pi_1"  # RenewalInvoiced releases it


def test_a_refund_of_a_payment_the_hub_never_made_is_not_ours() -> None:
    with pytest.raises(NotOurs):
        book_refund(Erp({}), SubscriptionPayments({}), REFUND, tax=Tax())
