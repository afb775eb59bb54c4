"""Stripe: ``Stripe-Signature`` verification and the mapping of the Stripe events the hub uses.

Signature scheme (stripe-python ``stripe/_webhook.py``): header ``t=<unix>,v1=<hex>[,v1=<hex>...]``, signed
payload ``"{t}.{raw body}"``, HMAC-SHA256 keyed with the endpoint secret; valid if ANY v1 matches ANY
active secret (secrets overlap while being rolled). Written here rather than calling the SDK because the
SDK's import would be paid on every cold start of the hottest function; a test checks this verifier
against the SDK's own ``WebhookSignature``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.events.envelope import CanonicalEvent, EventData, new_event
from shared.events.fraud import EarlyFraudWarningCreated, PaymentReviewClosed, PaymentReviewOpened
from shared.events.payments import (
    BillingInvoicePaid,
    BillingInvoicePaymentFailed,
    DisputeClosed,
    DisputeOpened,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentMethodSaved,
    PaymentVoided,
    PayoutPaid,
    PayoutReconciled,
    RefundFailed,
    RefundSettled,
    RefundSucceeded,
    SubscriptionUpdated,
)
from shared.ingress.guard import (
    ascii_token,
    check_correlation_id,
    check_id,
    header_timestamp,
    parse_json,
)
from shared.ingress.pipeline import Provider, ProviderEvent
from shared.ingress.web import Problem, WebhookRequest, bad_request, unauthorized
from shared.money import from_stripe

DEFAULT_TOLERANCE_S = 300
#: A Stripe-Signature holds a timestamp and one v1 per active secret; more items than this are not read.
MAX_SIGNATURE_ITEMS = 16
SIGNATURE_HEADER = "stripe-signature"

# Metadata keys the hub writes on the Stripe objects it creates, mapped to canonical link fields.
METADATA_LINKS = {
    "o2c_opportunity_id": "opportunityId",
    "o2c_erp_customer_id": "erpCustomerId",
    "o2c_erp_order_id": "erpOrderId",
    "o2c_erp_invoice_id": "erpInvoiceId",
}
CORRELATION_METADATA_KEY = "o2c_correlation_id"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature Stripe computes (used by tests, the demo and the sandbox)."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={sign(body, s, t)}" for s in secrets)])


def verify_signature(
    body: bytes, header: str | None, secrets: Sequence[str], *, tolerance_s: int, now: float
) -> None:
    if not header:
        raise unauthorized("missing_signature", "Stripe-Signature header is missing")
    timestamp: int | None = None
    candidates: list[bytes] = []
    for item in header.split(",")[:MAX_SIGNATURE_ITEMS]:
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = header_timestamp(value)
            if timestamp is None:
                raise unauthorized("malformed_signature", "Stripe-Signature timestamp is not a number")
        elif key == "v1":
            candidate = ascii_token(value)
            if candidate is not None:
                candidates.append(candidate)
    if timestamp is None or not candidates:
        raise unauthorized("malformed_signature", "Stripe-Signature has no timestamp or no v1 signature")
    if abs(now - timestamp) > tolerance_s:
        raise unauthorized(
            "stale_timestamp", f"Stripe-Signature timestamp is outside the {tolerance_s} s tolerance"
        )
    for secret in secrets:
        expected = sign(body, secret, timestamp).encode()
        # compare every candidate in constant time; no early exit on the first byte that differs
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise unauthorized("invalid_signature", "no Stripe-Signature v1 matches an active endpoint secret")


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's metadata; an invoice of a subscription also carries the subscription's."""
    details = (
        ((obj.get("parent") or {}).get("subscription_details") or {})
        if obj.get("object") == "invoice"
        else {}
    )
    return {**(details.get("metadata") or {}), **(obj.get("metadata") or {})}


def correlation_of(obj: dict[str, Any]) -> str | None:
    """The correlation id the hub wrote in the object's metadata (checked: bounded, no card number)."""
    try:
        value = _metadata(obj).get(CORRELATION_METADATA_KEY)
    except (AttributeError, TypeError):
        raise bad_request("malformed_event", "metadata must be an object") from None
    if value is None or value == "":
        return None
    return check_correlation_id(str(value) if isinstance(value, int) else value, "o2c_correlation_id")


def _links(obj: dict[str, Any]) -> dict[str, str]:
    metadata = _metadata(obj)
    return {field: str(metadata[key]) for key, field in METADATA_LINKS.items() if metadata.get(key)}


def _id(value: Any) -> str | None:
    """Stripe fields may hold an id or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _payment_intent_succeeded(pi: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PaymentCaptured(
        paymentIntentId=pi["id"],
        chargeId=_id(pi.get("latest_charge")),
        paymentCustomerId=_id(pi.get("customer")),
        amount=from_stripe(pi["amount"], pi["currency"]),
        amountReceived=from_stripe(pi.get("amount_received", pi["amount"]), pi["currency"]),
        **_links(pi),
    )


def _payment_intent_failed(pi: dict[str, Any], _event: dict[str, Any]) -> EventData:
    error = pi.get("last_payment_error") or {}
    # Only codes and Stripe's message: last_payment_error.payment_method (card details) is never read.
    return PaymentFailed(
        paymentIntentId=pi["id"],
        paymentCustomerId=_id(pi.get("customer")),
        amount=from_stripe(pi["amount"], pi["currency"]),
        failureCode=error.get("code"),
        declineCode=error.get("decline_code"),
        failureMessage=error.get("message"),
        paymentMethodType=_method_type(pi, error),
        **_links(pi),
    )


def _method_type(pi: dict[str, Any], error: dict[str, Any]) -> str | None:
    """The failed attempt's PaymentMethod type (only its ``type``: nothing else of it is read), else the
    PaymentIntent's single allowed type."""
    method = error.get("payment_method")
    if isinstance(method, dict) and isinstance(method.get("type"), str):
        return str(method["type"])
    types = pi.get("payment_method_types") or []
    return str(types[0]) if len(types) == 1 else None


def _payment_intent_capturable(pi: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PaymentAuthorized(
        paymentIntentId=pi["id"],
        paymentCustomerId=_id(pi.get("customer")),
        amountCapturable=from_stripe(pi["amount_capturable"], pi["currency"]),
        amount=from_stripe(pi["amount"], pi["currency"]),
        **_links(pi),
    )


def _charge_refunded(charge: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return RefundSettled(
        chargeId=charge["id"],
        paymentIntentId=_id(charge.get("payment_intent")),
        paymentCustomerId=_id(charge.get("customer")),
        chargeAmount=from_stripe(charge["amount"], charge["currency"]),
        amountRefunded=from_stripe(charge["amount_refunded"], charge["currency"]),
        fullyRefunded=bool(charge.get("refunded")),
        **_links(charge),
    )


def _dispute_created(dispute: dict[str, Any], _event: dict[str, Any]) -> EventData:
    evidence = dispute.get("evidence_details") or {}
    return DisputeOpened(
        disputeId=dispute["id"],
        chargeId=_id(dispute["charge"]) or "",
        paymentIntentId=_id(dispute.get("payment_intent")),
        amount=from_stripe(dispute["amount"], dispute["currency"]),
        reason=dispute.get("reason") or "general",
        status=dispute.get("status") or "needs_response",
        evidenceDueBy=_ts(evidence.get("due_by")),
        **_links(dispute),
    )


def _subscription_of(invoice: dict[str, Any]) -> str | None:
    # API 2025-03-31+: invoice.parent.subscription_details.subscription; before: invoice.subscription
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _paid_by(invoice: dict[str, Any]) -> str | None:
    """The PaymentIntent that paid the invoice, when the invoice carries its ``payments`` (Stripe includes
    them only when expanded: an event's invoice does not). Since API 2025-03-31.basil an Invoice has no
    ``payment_intent``; the consumer asks ``GET /v1/invoice_payments?invoice=`` when this is None."""
    payments = ((invoice.get("payments") or {}).get("data")) or []
    for payment in payments:
        if payment.get("status") == "paid":
            intent = _id((payment.get("payment") or {}).get("payment_intent"))
            if intent:
                return intent
    return None


def _service_period(invoice: dict[str, Any]) -> tuple[int | None, int | None]:
    """The period the invoice bills: its subscription lines' ``period`` (earliest start, latest end), else
    every line's. Not ``invoice.period_start/period_end``: for a subscription cycle those are the period
    that just ended (Stripe: "use the line item period to get the service period for each price")."""
    lines = [line for line in ((invoice.get("lines") or {}).get("data") or []) if line.get("period")]
    subscription_lines = [
        line for line in lines if (line.get("parent") or {}).get("type") == "subscription_item_details"
    ]
    chosen = subscription_lines or lines
    if not chosen:
        return None, None
    return min(int(line["period"]["start"]) for line in chosen), max(
        int(line["period"]["end"]) for line in chosen
    )


def _invoice_paid(invoice: dict[str, Any], _event: dict[str, Any]) -> EventData:
    start, end = _service_period(invoice)
    return BillingInvoicePaid(
        billingInvoiceId=invoice["id"],
        subscriptionId=_subscription_of(invoice),
        paymentCustomerId=_id(invoice.get("customer")),
        paymentIntentId=_paid_by(invoice),
        amountPaid=from_stripe(invoice["amount_paid"], invoice["currency"]),
        billingReason=invoice.get("billing_reason"),
        periodStart=_ts(start),
        periodEnd=_ts(end),
        **_links(invoice),
    )


def _invoice_payment_failed(invoice: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return BillingInvoicePaymentFailed(
        billingInvoiceId=invoice["id"],
        subscriptionId=_subscription_of(invoice),
        paymentCustomerId=_id(invoice.get("customer")),
        amountDue=from_stripe(invoice["amount_due"], invoice["currency"]),
        attemptCount=int(invoice.get("attempt_count") or 0),
        nextPaymentAttempt=_ts(invoice.get("next_payment_attempt")),
        billingReason=invoice.get("billing_reason"),
        **_links(invoice),
    )


def _subscription_updated(sub: dict[str, Any], event: dict[str, Any]) -> EventData:
    previous = (event.get("data") or {}).get("previous_attributes") or {}
    period_end = sub.get("current_period_end")
    if period_end is None:  # API 2025-03-31+: the period lives on the subscription items
        items = (sub.get("items") or {}).get("data") or [{}]
        period_end = items[0].get("current_period_end")
    return SubscriptionUpdated(
        subscriptionId=sub["id"],
        paymentCustomerId=_id(sub.get("customer")),
        status=sub["status"],
        previousStatus=previous.get("status"),
        cancelAtPeriodEnd=bool(sub.get("cancel_at_period_end")),
        currentPeriodEnd=_ts(period_end),
        **_links(sub),
    )


def _payout_paid(payout: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PayoutPaid(
        payoutId=payout["id"],
        amount=from_stripe(payout["amount"], payout["currency"]),
        arrivalDate=_ts(payout["arrival_date"]) or datetime.now(UTC),
        method=payout.get("method") or "standard",
        balanceTransactionId=_id(payout.get("balance_transaction")),
        automatic=payout.get("automatic"),
        reconciliationStatus=payout.get("reconciliation_status"),
        **_links(payout),
    )


def _payout_reconciled(payout: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PayoutReconciled(
        payoutId=payout["id"],
        amount=from_stripe(payout["amount"], payout["currency"]),
        arrivalDate=_ts(payout["arrival_date"]) or datetime.now(UTC),
        balanceTransactionId=_id(payout.get("balance_transaction")),
        **_links(payout),
    )


def _setup_intent_succeeded(seti: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PaymentMethodSaved(
        setupIntentId=seti["id"],
        paymentMethodId=_id(seti["payment_method"]) or "",
        paymentCustomerId=_id(seti.get("customer")),
        **_links(seti),
    )


def _payment_intent_canceled(pi: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return PaymentVoided(
        paymentIntentId=pi["id"],
        paymentCustomerId=_id(pi.get("customer")),
        amount=from_stripe(pi["amount"], pi["currency"]),
        cancellationReason=pi.get("cancellation_reason"),
        **_links(pi),
    )


def _refund(refund: dict[str, Any], _event: dict[str, Any]) -> EventData | None:
    """refund.created / refund.updated / refund.failed: one refund's outcome (pending ones wait)."""
    common = {
        "refundId": refund["id"],
        "chargeId": _id(refund.get("charge")),
        "paymentIntentId": _id(refund.get("payment_intent")),
        "amount": from_stripe(refund["amount"], refund["currency"]),
        "requestId": (refund.get("metadata") or {}).get("o2c_refund_request_id"),
        **_links(refund),
    }
    if refund.get("status") == "succeeded":
        return RefundSucceeded(reason=refund.get("reason"), **common)
    if refund.get("status") in {"failed", "canceled"}:
        return RefundFailed(failureReason=refund.get("failure_reason") or refund.get("status"), **common)
    return None


def _dispute_closed(dispute: dict[str, Any], _event: dict[str, Any]) -> EventData | None:
    if dispute.get("status") not in {"won", "lost"}:
        return None  # warning_closed and the like: nothing for the ERP
    return DisputeClosed(
        disputeId=dispute["id"],
        chargeId=_id(dispute["charge"]) or "",
        paymentIntentId=_id(dispute.get("payment_intent")),
        amount=from_stripe(dispute["amount"], dispute["currency"]),
        outcome=dispute["status"],
        **_links(dispute),
    )


def _review(review: dict[str, Any], event: dict[str, Any]) -> EventData:
    if event["type"] == "review.opened":
        return PaymentReviewOpened(
            reviewId=review["id"],
            chargeId=_id(review.get("charge")),
            paymentIntentId=_id(review.get("payment_intent")),
            reason=review.get("opened_reason") or review.get("reason") or "rule",
            **_links(review),
        )
    return PaymentReviewClosed(
        reviewId=review["id"],
        chargeId=_id(review.get("charge")),
        paymentIntentId=_id(review.get("payment_intent")),
        closedReason=review.get("closed_reason") or review.get("reason"),
        **_links(review),
    )


def _early_fraud_warning(warning: dict[str, Any], _event: dict[str, Any]) -> EventData:
    return EarlyFraudWarningCreated(
        earlyFraudWarningId=warning["id"],
        chargeId=_id(warning["charge"]) or "",
        paymentIntentId=_id(warning.get("payment_intent")),
        fraudType=warning.get("fraud_type") or "misc",
        actionable=bool(warning["actionable"]),
        **_links(warning),
    )


Mapper = Callable[[dict[str, Any], dict[str, Any]], EventData | None]

#: The Stripe event types the hub uses; every other type is answered ``ignored``.
MAPPINGS: dict[str, Mapper] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "payment_intent.amount_capturable_updated": _payment_intent_capturable,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_payment_failed,
    "customer.subscription.updated": _subscription_updated,
    "payout.paid": _payout_paid,
    "payout.reconciliation_completed": _payout_reconciled,
    "setup_intent.succeeded": _setup_intent_succeeded,
    "payment_intent.canceled": _payment_intent_canceled,
    "refund.created": _refund,
    "refund.updated": _refund,
    "refund.failed": _refund,
    "charge.dispute.closed": _dispute_closed,
    "review.opened": _review,
    "review.closed": _review,
    "radar.early_fraud_warning.created": _early_fraud_warning,
}


#: Stripe ids: a prefix (``evt_``, ``pi_``, ``ch_`` ...) and letters, digits, underscores; at most 255.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]+")
EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]+")
EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")


def parse_event(body: bytes) -> dict[str, Any]:
    event = parse_json(body)
    if not isinstance(event, dict):
        raise bad_request("malformed_event", "a Stripe event is a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or not isinstance(event_type, str):
        raise bad_request("malformed_event", "a Stripe event needs an 'id' (evt_...) and a 'type'")
    check_id(event_id, "Stripe event id", pattern=EVENT_ID)
    if not EVENT_TYPE.fullmatch(event_type):
        raise bad_request("malformed_event", "a Stripe event type is lower-case words and dots")
    if not isinstance(obj, dict):
        raise bad_request("malformed_event", "a Stripe event needs 'data.object'")
    created = event.get("created")
    if created is not None and (type(created) is not int or not 0 <= created < 2**37):
        # Stripe's ``created``: a Unix timestamp, an integer (a list or a string here crashed the mapping)
        raise bad_request("malformed_event", "a Stripe event's 'created' is a Unix timestamp")
    if "id" in obj:
        check_id(obj["id"], "Stripe object id", pattern=STRIPE_ID)
    return event


def normalise_event(event: dict[str, Any], correlation_id: str) -> list[CanonicalEvent]:
    """Canonical events for a parsed Stripe event ([] for types the hub does not use)."""
    mapper = MAPPINGS.get(event["type"])
    if mapper is None:
        return []
    obj = event["data"]["object"]
    try:
        data = mapper(obj, event)
    except Exception as exc:  # noqa: BLE001 - a pure mapping of the payload: any failure is the payload's
        raise bad_request(
            "unmappable_event",
            f"{event['type']} {event['id']} lacks a field the hub needs: {type(exc).__name__}",
        ) from None
    if data is None:
        return []
    return [
        new_event(
            data,
            source_system="stripe",
            correlation_id=correlation_of(obj) or correlation_id,
            occurred_at=_ts(event.get("created")),
            source_event_id=event["id"],
        )
    ]


class StripeProvider(Provider):
    name = "stripe"

    def __init__(
        self,
        secrets: Callable[[], Sequence[str]],
        *,
        tolerance_s: int = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = secrets
        self._tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        verify_signature(
            request.body,
            request.header(SIGNATURE_HEADER),
            self._secrets(),
            tolerance_s=self._tolerance_s,
            now=self._clock(),
        )

    def parse(self, request: WebhookRequest) -> list[ProviderEvent]:
        event = parse_event(request.body)
        correlation_id = correlation_of(event["data"]["object"])
        return [
            ProviderEvent(id=event["id"], type=event["type"], payload=event, correlation_id=correlation_id)
        ]

    def selects(self, event: ProviderEvent) -> bool:
        return event.type in MAPPINGS

    def normalise(self, event: ProviderEvent, correlation_id: str) -> list[CanonicalEvent]:
        return normalise_event(event.payload, correlation_id)


__all__ = ["MAPPINGS", "Problem", "StripeProvider", "signature_header", "verify_signature"]
