"""The terms of a subscription deal, read from its CRM lines: one interval and start for its one Stripe
subscription, the first billing period (month ends kept), and the revenue dates each ERP order line gets."""

from __future__ import annotations

from datetime import date

import pytest

from shared.crm.models import Account, CrmOpportunity, LineItem, Recurring
from shared.errors import InvalidRecord
from shared.money import Money
from shared.order_to_cash import subscriptions


def line(line_id: str, recurring: Recurring | None = None) -> LineItem:
    price = Money.of(10000, "EUR")
    return LineItem(
        lineItemId=line_id, name=line_id, quantity=1, unitPrice=price, amount=price, recurring=recurring
    )


def deal(*lines: LineItem, close: date | None = date(2026, 11, 30)) -> CrmOpportunity:
    return CrmOpportunity(
        crmSystem="hubspot",
        opportunityId="77",
        name="deal",
        stage="closedwon",
        closeDate=close,
        amount=Money.of(10000 * len(lines), "EUR"),
        account=Account(accountId="a", name="A"),
        lines=lines,
    )


def test_a_services_only_deal_has_no_subscription_and_no_revenue_dates() -> None:
    services = deal(line("onboarding"), line("training"))
    assert subscriptions.plan(services) is None
    assert subscriptions.rev_rec_fields(services, services.lines[0], None) == {}


def test_recurring_lines_of_different_intervals_cannot_share_one_subscription() -> None:
    mixed = deal(
        line("seats", Recurring(interval="month", startDate=date(2027, 1, 1))),
        line("platform", Recurring(interval="year", startDate=date(2027, 1, 1))),
    )
    with pytest.raises(InvalidRecord, match="different billing intervals"):
        subscriptions.plan(mixed)


def test_a_contract_whose_first_period_is_over_is_held_before_anything_is_booked() -> None:
    late = deal(line("seats", Recurring(interval="month", startDate=date(2026, 1, 1))), line("onboarding"))
    with pytest.raises(InvalidRecord, match="already over"):
        subscriptions.plan(late, today=date(2026, 11, 30))


def test_the_start_is_the_contracts_else_the_close_date() -> None:
    undated = deal(line("platform", Recurring(interval="year")), line("onboarding"))
    terms = subscriptions.plan(undated, today=date(2026, 11, 30))
    assert terms is not None and terms.startDate == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("start", "interval", "count", "end"),
    [
        (date(2027, 1, 31), "month", 1, date(2027, 2, 28)),  # no 31 February: the month's last day
        (date(2028, 2, 29), "year", 1, date(2029, 2, 28)),
        (date(2027, 1, 15), "month", 3, date(2027, 4, 15)),
        (date(2027, 1, 1), "week", 2, date(2027, 1, 15)),
    ],
)
def test_the_first_billing_period(start: date, interval: str, count: int, end: date) -> None:
    terms = Recurring(interval=interval, intervalCount=count, startDate=start)  # type: ignore[arg-type]
    assert subscriptions.period_end(start, terms) == end


def test_revenue_dates_of_each_line() -> None:
    contract = deal(
        line("platform", Recurring(interval="year", startDate=date(2027, 1, 1), termMonths=12)),
        line("onboarding"),
    )
    terms = subscriptions.plan(contract, today=date(2026, 11, 30))
    assert terms is not None
    platform, onboarding = contract.lines
    assert subscriptions.rev_rec_dates(contract, platform, terms) == (
        date(2027, 1, 1),
        date(2027, 12, 31),
        12,
    )
    assert subscriptions.rev_rec_dates(contract, onboarding, terms) == (
        date(2026, 11, 30),
        date(2026, 11, 30),
        None,
    )
