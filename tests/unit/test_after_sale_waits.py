"""What each after-sale fact waits for when it comes first, and which later fact releases it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.o2c.after_sale import NotYetKnown, book_refund, record_dispute, settle_dispute
from shared.o2c.pending import released_keys


class NoInvoiceYet:
    def get_by_external_id(self, record_type: str, external_id: str) -> None:
        return None


class Payments:
    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return {"id": payment_intent_id, "metadata": {"o2c_correlation_id": "hubspot:42"}}


REFUND = {"refundId": "re_1", "paymentIntentId": "pi_1", "amount": {"amount": 500, "currency": "EUR"}}
DISPUTE = {
    "disputeId": "dp_1",
    "paymentIntentId": "pi_1",
    "amount": {"amount": 500, "currency": "EUR"},
    "reason": "fraudulent",
}


def test_a_refund_before_the_deals_invoice_waits_for_its_payment_to_be_applied() -> None:
    with pytest.raises(NotYetKnown) as caught:
        book_refund(NoInvoiceYet(), Payments(), REFUND)
    assert caught.value.awaiting == "payment:pi_1"
    # quote-to-cash announces the applied payment with InvoicePaid: that releases it
    assert "payment:pi_1" in released_keys("InvoicePaid", {"paymentIntentId": "pi_1", "opportunityId": "42"})


def test_a_dispute_before_the_deals_invoice_waits_for_its_payment_too() -> None:
    with pytest.raises(NotYetKnown) as caught:
        record_dispute(NoInvoiceYet(), Payments(), None, DISPUTE, lambda key, create: create())
    assert caught.value.awaiting == "payment:pi_1"


def test_a_disputes_outcome_before_the_dispute_waits_for_the_dispute_to_be_recorded() -> None:
    with pytest.raises(NotYetKnown) as caught:
        settle_dispute(NoInvoiceYet(), {"disputeId": "dp_1", "outcome": "lost"})
    assert caught.value.awaiting == "dispute:dp_1"
    assert released_keys("DisputeRecorded", {"disputeId": "dp_1"}) == ["dispute:dp_1"]


def test_a_renewal_releases_what_waits_for_its_payment_and_unrelated_facts_release_nothing() -> None:
    assert released_keys("RenewalInvoiced", {"paymentIntentId": "pi_9"}) == ["payment:pi_9"]
    assert released_keys("RenewalInvoiced", {"paymentIntentId": None}) == []
    assert released_keys("OrderCreated", {"paymentIntentId": "pi_9"}) == []
