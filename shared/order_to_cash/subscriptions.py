"""Subscription deals: a won deal whose CRM lines include recurring ones (``LineItem.recurring``) plus one-time
lines (services).

How such a deal is booked and paid (the state machine's order is unchanged up to the activation):

- the ERP sales order carries every line, each with its revenue recognition dates (NetSuite's item fields
  ``revRecStartDate``/``revRecEndDate``/``revRecTermInMonths``): a recurring line its first billing period from
  the contract's start, a service its delivery date (the deal's close date). The ERP builds its revenue
  schedules from them;
- the order (services and the subscription's first period, as the customer signed) is invoiced and paid by
  card as any deal is today;
- once it is paid and released (``CreateSubscription``, after ``ActivateOrder``), one Stripe subscription is
  created on the customer's Stripe customer, billed to the card the customer saved (``default_payment_method``)
  — one item per recurring line, its price made inline (``price_data``: the line's unit price, interval and
  quantity) — starting when the first period paid with the order ends: Stripe bills nothing before
  ``trial_end`` (Stripe's way to start billing at a date), then each period, ``subscription_cycle``. Its
  metadata links the deal, so each paid cycle is booked by the renewal path (``bookings.book_renewal``:
  a ``ren-<in_...>`` ERP invoice for the period, the payment applied) as any renewal;
- created once: the step looks for the deal's subscription on the customer first (metadata
  ``o2c_erp_order_id``), then creates under Idempotency-Keys derived from the order (``product:<order>:<line>``,
  ``subscription:<order>``), so a retried step (after a timeout, a redrive) never makes a second one.

A deal with no recurring line never enters any of this: it is booked exactly as before.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.crm.models import CrmOpportunity, LineItem, Recurring
from shared.order_to_cash.ports import Billing, RecurringItem

#: the metadata key of the deal's ERP order on its Stripe subscription (found by it on a retry)
ORDER_KEY = "o2c_erp_order_id"


def recurring_lines(opportunity: CrmOpportunity) -> list[LineItem]:
    return [line for line in opportunity.lines if line.recurring is not None]


def plan(opportunity: CrmOpportunity, today: date | None = None) -> Recurring | None:
    """The deal's subscription terms (its recurring lines'), or None for a deal with none. The recurring lines
    of one deal share one billing interval and start (one Stripe subscription bills them together: Stripe
    refuses items of different intervals); a deal that mixes them is refused (``InvalidRecord``: held for a
    person before anything is booked), and so is one whose first billing period is already over. The start
    is the contract's (the lines' billing start date), else the deal's close date, else ``today``."""
    from shared.errors import InvalidRecord

    lines = recurring_lines(opportunity)
    if not lines:
        return None
    intervals = {(line.recurring.interval, line.recurring.intervalCount) for line in lines if line.recurring}
    starts = {line.recurring.startDate for line in lines if line.recurring}
    if len(intervals) > 1 or len(starts) > 1:
        raise InvalidRecord(
            f"deal {opportunity.opportunityId}: its recurring lines have different billing intervals or start "
            "dates; one subscription bills them together"
        )
    first = lines[0].recurring
    assert first is not None
    now = today or datetime.now(UTC).date()
    start = first.startDate or opportunity.closeDate or now
    terms = first.replace(startDate=start)
    if period_end(start, terms) <= now:
        raise InvalidRecord(
            f"deal {opportunity.opportunityId}: its first billing period ({start} on) is already over; "
            "a subscription cannot start in the past"
        )
    return terms


def period_end(start: date, terms: Recurring) -> date:
    """The first day after one billing period from ``start`` (month ends kept: 31 Jan + 1 month = 28/29 Feb)."""
    if terms.interval == "day":
        return start + timedelta(days=terms.intervalCount)
    if terms.interval == "week":
        return start + timedelta(weeks=terms.intervalCount)
    months = terms.intervalCount * (12 if terms.interval == "year" else 1)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def period_months(terms: Recurring) -> int | None:
    if terms.interval == "month":
        return terms.intervalCount
    if terms.interval == "year":
        return 12 * terms.intervalCount
    return None


def rev_rec_dates(
    opportunity: CrmOpportunity, line: LineItem, terms: Recurring
) -> tuple[date, date, int | None]:
    """(start, end, term in months) of a line's revenue: a recurring line's first billing period (what the
    order bills), a service's delivery date (the deal's close date, else the contract's start)."""
    assert terms.startDate is not None
    if line.recurring is None:
        delivered = opportunity.closeDate or terms.startDate
        return delivered, delivered, None
    end = period_end(terms.startDate, terms)
    return terms.startDate, end - timedelta(days=1), period_months(terms)


def rev_rec_fields(opportunity: CrmOpportunity, line: LineItem, terms: Recurring | None) -> dict[str, Any]:
    """``OrderLine`` keyword arguments: a subscription deal's revenue recognition dates; none otherwise."""
    if terms is None:
        return {}
    start, end, months = rev_rec_dates(opportunity, line, terms)
    return {"rev_rec_start": start, "rev_rec_end": end, "rev_rec_term_months": months}


def create_subscription(
    billing: Billing,
    opportunity: CrmOpportunity,
    metadata: Mapping[str, str],
    order: Mapping[str, Any],
    payment: Mapping[str, Any],
    method: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The deal's one Stripe subscription (see the module's description), found or created."""
    from shared.errors import InvalidRecord

    terms = plan(opportunity)
    if terms is None or terms.startDate is None:
        return {"subscriptionId": None}
    customer_id = str(payment["paymentCustomerId"])
    order_id = str(order["erpOrderId"])
    existing = billing.find_subscription(customer_id=customer_id, key=ORDER_KEY, value=order_id)
    if existing is None:
        first_renewal = period_end(terms.startDate, terms)
        trial_end = int(
            datetime(first_renewal.year, first_renewal.month, first_renewal.day, tzinfo=UTC).timestamp()
        )
        moment = now or datetime.now(UTC)
        if trial_end <= moment.timestamp():
            raise InvalidRecord(
                f"deal {opportunity.opportunityId}: its first billing period ended on {first_renewal}; "
                "a subscription cannot start in the past"
            )
        items = []
        for line in recurring_lines(opportunity):
            product = billing.create_product(
                name=line.name,
                metadata={
                    **metadata,
                    "o2c_line_item_id": line.lineItemId,
                    **({"o2c_sku": line.sku} if line.sku else {}),
                },
                idempotency_key=f"product:{order['externalId']}:{line.lineItemId}",
            )
            # a line discount makes the amount less than quantity x price: then one unit at the line's amount
            whole = line.amount.amount == line.unitPrice.amount * line.quantity
            items.append(
                RecurringItem(
                    product_id=product,
                    unit_price=line.unitPrice if whole else line.amount,
                    quantity=line.quantity if whole else 1,
                    interval=terms.interval,
                    interval_count=terms.intervalCount,
                )
            )
        existing = billing.create_subscription(
            customer_id=customer_id,
            items=items,
            payment_method_id=str(method.get("paymentMethodId") or "") or None,
            trial_end=trial_end,
            metadata={**metadata, ORDER_KEY: order_id},
            idempotency_key=f"subscription:{order['externalId']}",
        )
    return {
        "subscriptionId": str(existing["id"]),
        "status": existing.get("status"),
        "interval": terms.interval,
        "intervalCount": terms.intervalCount,
        "contractStart": terms.startDate.isoformat(),
        "billingStartsAt": existing.get("trial_end"),
    }
