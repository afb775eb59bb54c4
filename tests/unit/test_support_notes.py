"""What the support desk is told about a payment fact: one note per open ticket with ids, amounts and codes
only (no card data, no e-mail, no names), and the organization's fields."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import UnknownFields
from shared.events.after_sale import RefundBooked
from shared.events.orchestration import OrderOnHold
from shared.events.payments import PaymentFailed
from shared.money import Money
from shared.order_to_cash.support import field_changes, inform_support, note_for


class Desk:
    def __init__(
        self, *, org: dict[str, Any] | None, users: list[dict[str, Any]], tickets: list[int]
    ) -> None:
        self.org, self.users, self.tickets = org, users, tickets
        self.notes: dict[int, list[str]] = {}
        self.fields: dict[str, Any] = {}
        self.known_fields = {"o2c_payment_status", "o2c_dunning", "o2c_open_disputes"}

    def find_organization(self, external_id: str) -> dict[str, Any] | None:
        return self.org if self.org and self.org["external_id"] == external_id else None

    def find_users(self, external_id: str) -> list[dict[str, Any]]:
        return [u for u in self.users if u["external_id"] == external_id]

    def open_tickets(
        self, *, organization_id: Any = None, user_ids: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        return [{"id": t, "status": "open"} for t in self.tickets] if (organization_id or user_ids) else []

    def add_internal_note(self, ticket_id: Any, body: str, *, reference: str) -> bool:
        kept = self.notes.setdefault(int(ticket_id), [])
        if any(reference in n for n in kept):
            return False
        kept.append(f"{body}\n\no2c-ref: {reference}")
        return True

    def update_organization_fields(self, organization_id: Any, fields: dict[str, Any]) -> None:
        missing = tuple(sorted(set(fields) - self.known_fields))
        if missing:
            raise UnknownFields("missing", fields=missing)
        self.fields.update(fields)


class History:
    """The hub's earlier facts, by the ids they carry."""

    def __init__(self, facts: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.facts = facts or {}
        self.asked: list[str] = []

    def facts_about(self, the_id: str) -> list[dict[str, Any]]:
        self.asked.append(the_id)
        return self.facts.get(the_id, [])


FAILED = {
    "paymentIntentId": "pi_3Pfail",
    "amount": {"amount": 123450, "currency": "EUR"},
    "failureCode": "card_declined",
    "declineCode": "insufficient_funds",
    "failureMessage": "Card 4242 4242 4242 4242 of ada@example.com declined",
    "erpCustomerId": "1042",
}


def test_a_failed_payment_note_holds_ids_amount_and_code_but_no_personal_or_card_data() -> None:
    note = note_for("PaymentFailed", FAILED)
    assert note == "Payment failed: 1234.50 EUR, reason insufficient_funds (payment pi_3Pfail)."
    assert "@" not in note and "4242" not in note


def test_a_card_number_in_an_id_is_masked_in_the_note() -> None:
    note = note_for(
        "RefundBooked", {"refundId": "4111111111111111", "amount": {"amount": 5, "currency": "JPY"}}
    )
    assert "4111111111111111" not in note and "************1111" in note


def test_each_open_ticket_gets_one_note_and_a_redelivery_adds_none() -> None:
    desk = Desk(
        org={"id": 7, "external_id": "1042"}, users=[{"id": 8, "external_id": "1042"}], tickets=[11, 12]
    )

    failed = PaymentFailed.parse(FAILED)
    first = inform_support(desk, History(), failed, event_id="evt-a")
    again = inform_support(desk, History(), failed, event_id="evt-a")

    assert (first.notes_added, again.notes_added) == (2, 0)
    assert {k: len(v) for k, v in desk.notes.items()} == {11: 1, 12: 1}
    assert desk.fields == {"o2c_payment_status": "payment_failed"}


def test_a_refund_finds_its_customer_in_the_earlier_facts_of_its_payment_or_deal() -> None:
    desk = Desk(org={"id": 7, "external_id": "1042"}, users=[], tickets=[11, 12])
    history = History(
        {"pi_1": [{"paymentIntentId": "pi_1"}, {"paymentIntentId": "pi_1", "erpCustomerId": "1042"}]}
    )
    booked = RefundBooked(
        refundId="re_1",
        paymentIntentId="pi_1",
        erpInvoiceId="3009",
        erpCreditMemoId="cm-1",
        erpRefundId="cr-1",
        amount=Money.of(2000, "USD"),
    )
    held = OrderOnHold(reason="payment_declined", opportunityId="deal-9", declineCode="do_not_honor")

    update = inform_support(desk, history, booked, event_id="evt-r")
    on_hold = inform_support(desk, History({"deal-9": [{"erpCustomerId": "1042"}]}), held, event_id="evt-h")

    assert update.status == "informed" and history.asked == ["pi_1"]
    assert on_hold.status == "informed" and on_hold.notes_added == 2
    assert desk.notes[11][0].startswith(
        "Refund booked: 20.00 USD (refund re_1, payment pi_1, credit memo cm-1)."
    )


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (OrderOnHold(reason="incomplete_account", opportunityId="1"), "no_customer"),
        (PaymentFailed.parse(FAILED), "not_in_support_desk"),
    ],
)
def test_a_customer_the_desk_does_not_know_is_skipped(data: Any, status: str) -> None:
    desk = Desk(org=None, users=[], tickets=[11])
    assert inform_support(desk, History(), data, event_id="e").status == status
    assert desk.notes == {}


def test_disputes_are_counted_open_and_closed_and_dunning_is_shown() -> None:
    opened = field_changes("DisputeOpened", {}, {"o2c_open_disputes": 1})
    closed = field_changes("DisputeClosed", {"outcome": "won"}, {"o2c_open_disputes": 0})
    assert opened == {"o2c_payment_status": "disputed", "o2c_open_disputes": 2}
    assert closed == {"o2c_payment_status": "dispute_won", "o2c_open_disputes": 0}
    assert field_changes("DunningChanged", {"state": None}, {}) == {"o2c_dunning": "current"}


def test_notes_still_reach_agents_when_the_organization_fields_are_missing() -> None:
    desk = Desk(org={"id": 7, "external_id": "1042"}, users=[], tickets=[11])
    desk.known_fields = set()
    told: list[UnknownFields] = []

    update = inform_support(
        desk, History(), PaymentFailed.parse(FAILED), event_id="e", on_unknown_fields=told.append
    )

    assert update.notes_added == 1 and update.fields == ()
    assert told and told[0].fields == ("o2c_payment_status",)
