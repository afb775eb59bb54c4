"""Given a sample Stripe event, When normalised, Then the canonical fact a finance user expects comes out."""

import json

import jsonschema
import pytest

from shared.events.payments import BillingInvoicePaid, PayoutPaid, PayoutReconciled
from shared.events.schemas import schema_for
from shared.inbound.stripe import MAPPINGS, normalise_event
from shared.money import Money
from tests.conftest import STRIPE_SAMPLES, stripe_sample

EXPECTED = {
    "payment_intent.succeeded": ("PaymentCaptured", "amountReceived", Money.of(125000, "USD")),
    "payment_intent.amount_capturable_updated": (
        "PaymentAuthorized",
        "amountCapturable",
        Money.of(125000, "USD"),
    ),
    "payment_intent.payment_failed": ("PaymentFailed", "amount", Money.of(125000, "USD")),
    "charge.refunded": ("RefundSettled", "amountRefunded", Money.of(25000, "USD")),
    "charge.dispute.created": ("DisputeOpened", "amount", Money.of(125000, "USD")),
    "invoice.paid": ("BillingInvoicePaid", "amountPaid", Money.of(9900, "EUR")),
    "invoice.payment_failed": ("BillingInvoicePaymentFailed", "amountDue", Money.of(9900, "EUR")),
    "customer.subscription.updated": ("SubscriptionUpdated", None, None),
    "payout.paid": ("PayoutPaid", "amount", Money.of(1187500, "USD")),
    "payout.reconciliation_completed": ("PayoutReconciled", "amount", Money.of(1187500, "USD")),
    "payment_intent.succeeded.jpy": ("PaymentCaptured", "amountReceived", Money.of(50000, "JPY")),
    "payment_intent.succeeded.kwd": ("PaymentCaptured", "amountReceived", Money.of(12340, "KWD")),
    "setup_intent.succeeded": ("PaymentMethodSaved", None, None),
    "payment_intent.canceled": ("PaymentVoided", "amount", Money.of(125000, "USD")),
    "refund.created": ("RefundSucceeded", "amount", Money.of(25000, "USD")),
    "refund.updated": ("RefundSucceeded", "amount", Money.of(10000, "USD")),
    "refund.failed": ("RefundFailed", "amount", Money.of(5000, "USD")),
    "charge.dispute.closed": ("DisputeClosed", "amount", Money.of(125000, "USD")),
    "review.opened": ("PaymentReviewOpened", None, None),
    "review.closed": ("PaymentReviewClosed", None, None),
    "radar.early_fraud_warning.created": ("EarlyFraudWarningCreated", None, None),
}


def test_every_event_type_the_hub_uses_has_a_sample_and_an_expectation() -> None:
    sampled = {stripe_sample(name)["type"] for name in EXPECTED}
    assert sampled == set(MAPPINGS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_maps_to_canonical_event(name: str) -> None:
    event = stripe_sample(name)
    detail_type, money_field, money = EXPECTED[name]

    [canonical] = normalise_event(event, correlation_id="req-1")

    assert canonical.detail_type == detail_type
    assert canonical.source == "o2c.payments"
    assert canonical.metadata.sourceEventId == event["id"]
    assert canonical.metadata.sourceSystem == "stripe"
    assert canonical.metadata.occurredAt.timestamp() == event["created"]
    if money_field:
        assert getattr(canonical.data, money_field) == money
    # the published detail validates against the generated JSON Schema
    jsonschema.validate(json.loads(canonical.detail_json()), schema_for(detail_type))


def test_links_and_correlation_come_from_the_metadata_the_hub_wrote() -> None:
    [canonical] = normalise_event(stripe_sample("payment_intent.succeeded"), correlation_id="req-1")
    assert canonical.metadata.correlationId == "corr-deal-006Dn00000DemoOpp1"
    assert {"pi_3DemoAbc123", "ch_3DemoAbc123", "cus_DemoCustomer1", "006Dn00000DemoOpp1", "SO-1001"} <= (
        canonical.lineage_ids()
    )


def test_without_hub_metadata_the_request_correlation_id_is_used() -> None:
    [canonical] = normalise_event(stripe_sample("payout.paid"), correlation_id="req-42")
    assert canonical.metadata.correlationId == "req-42"


def test_the_same_stripe_event_always_gets_the_same_canonical_event_id() -> None:
    event = stripe_sample("charge.refunded")
    first = normalise_event(event, "a")[0].metadata.eventId
    assert normalise_event(event, "b")[0].metadata.eventId == first


def test_a_renewals_service_period_is_its_lines_not_the_invoices_own() -> None:
    # Given a subscription cycle invoice as Stripe sends it: period_start/period_end are the period that
    # just ended, the line's period is the month the invoice bills
    event = stripe_sample("invoice.paid")
    invoice = event["data"]["object"]
    [line] = invoice["lines"]["data"]
    assert (
        invoice["period_end"] == line["period"]["start"] and invoice["period_start"] < invoice["period_end"]
    )

    # When normalised
    [canonical] = normalise_event(event, "req-1")

    # Then the renewal's period is the line's, and no PaymentIntent is invented (an Invoice has none)
    data = canonical.data
    assert isinstance(data, BillingInvoicePaid) and data.periodStart and data.periodEnd
    assert (data.periodStart.timestamp(), data.periodEnd.timestamp()) == (
        line["period"]["start"],
        line["period"]["end"],
    )
    assert data.paymentIntentId is None


def test_a_payout_says_whether_stripe_has_reconciled_it() -> None:
    [paid] = normalise_event(stripe_sample("payout.paid"), "req-1")
    [reconciled] = normalise_event(stripe_sample("payout.reconciliation_completed"), "req-1")
    assert isinstance(paid.data, PayoutPaid) and isinstance(reconciled.data, PayoutReconciled)
    assert (paid.detail_type, paid.data.automatic, paid.data.reconciliationStatus) == (
        "PayoutPaid",
        True,
        "in_progress",
    )
    assert (reconciled.detail_type, reconciled.data.payoutId) == ("PayoutReconciled", paid.data.payoutId)


def test_unused_event_types_map_to_nothing() -> None:
    assert normalise_event(stripe_sample("customer.created"), "req-1") == []


def test_no_card_data_reaches_the_canonical_event() -> None:
    for path in STRIPE_SAMPLES.glob("*.json"):
        for canonical in normalise_event(json.loads(path.read_text()), "req-1"):
            text = canonical.detail_json()
            for card_field in ("last4", "exp_month", "exp_year", "fingerprint", "9995", "4242"):
                assert card_field not in text, (path.name, card_field)
