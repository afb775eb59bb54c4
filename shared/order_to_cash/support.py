"""The support desk sees payment facts where agents work: an internal note on each open ticket of the customer,
and the customer's organization fields (payment status, dunning, open disputes).

The customer is found in the support desk by ``external_id`` = the customer's ERP id (``erpCustomerId``,
which every payment the hub creates carries in its metadata as ``o2c_erp_customer_id``): the organization with
that external id, and the users with it (a customer who is a person). A fact that does not carry the customer
(a refund, a hold) finds it in the hub's own history (the lineage table ``o2c trace`` reads): the earlier
facts of its payment or deal that do (``PaymentCaptured``, ``CustomerSynced``). No vendor is asked.

Privacy: a note holds ids, amounts, statuses and the payment platform's codes, nothing else: no card data
(brand, last four, fingerprint, expiry), no names, no e-mail addresses, no free-text messages from the
payment platform; anything shaped like a card number is masked all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.events.envelope import EventData
from shared.money import Money
from shared.sensitive import mask_card_numbers

#: The organization fields an admin creates (README, Zendesk): key → type.
ORGANIZATION_FIELDS = {
    "o2c_payment_status": "text",
    "o2c_dunning": "text",
    "o2c_open_disputes": "integer",
}


class SupportDesk(Protocol):
    def find_organization(self, external_id: str) -> dict[str, Any] | None: ...
    def find_users(self, external_id: str) -> list[dict[str, Any]]: ...
    def open_tickets(
        self, *, organization_id: str | int | None = None, user_ids: tuple[str | int, ...] = ()
    ) -> list[dict[str, Any]]: ...
    def add_internal_note(self, ticket_id: str | int, body: str, *, reference: str) -> bool: ...
    def update_organization_fields(self, organization_id: str | int, fields: Mapping[str, Any]) -> None: ...


class History(Protocol):
    def facts_about(self, the_id: str) -> Sequence[Mapping[str, Any]]:
        """The ``data`` of the hub's earlier facts that carry ``the_id``."""
        ...


@dataclass(frozen=True)
class SupportUpdate:
    status: str  # informed | no_customer | not_in_support_desk
    customer: str | None = None
    tickets: tuple[int, ...] = ()
    notes_added: int = 0
    fields: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "customer": self.customer,
            "tickets": list(self.tickets),
            "notesAdded": self.notes_added,
            "fields": list(self.fields),
        }


def customer_of(data: Mapping[str, Any], history: History) -> str | None:
    """The fact's ERP customer id, else the one an earlier fact of its payment, then of its deal, carries;
    None when nothing says (a deal held before its customer was created)."""
    if data.get("erpCustomerId"):
        return str(data["erpCustomerId"])
    for key in ("paymentIntentId", "opportunityId"):
        if not data.get(key):
            continue
        for earlier in history.facts_about(str(data[key])):
            if earlier.get("erpCustomerId"):
                return str(earlier["erpCustomerId"])
    return None


def _money(value: Any) -> str:
    return Money.parse(value).format() if value else "the whole amount"


def _refs(data: Mapping[str, Any], *keys: tuple[str, str]) -> str:
    parts = [f"{label} {data[key]}" for key, label in keys if data.get(key)]
    return f" ({', '.join(parts)})" if parts else ""


def note_for(detail_type: str, data: Mapping[str, Any]) -> str:
    """The note's text: ids, amounts, statuses and codes only."""
    payment = ("paymentIntentId", "payment")
    if detail_type == "PaymentFailed":
        code = data.get("declineCode") or data.get("failureCode") or "unknown"
        text = (
            f"Payment failed: {_money(data.get('amount'))}, reason {code}"
            + _refs(data, payment, ("erpOrderId", "order"), ("erpInvoiceId", "invoice"))
            + "."
        )
    elif detail_type == "RefundBooked":
        text = (
            f"Refund booked: {_money(data.get('amount'))}"
            + _refs(data, ("refundId", "refund"), payment, ("erpCreditMemoId", "credit memo"))
            + "."
        )
    elif detail_type == "DisputeOpened":
        due = f", evidence due {str(data['evidenceDueBy'])[:10]}" if data.get("evidenceDueBy") else ""
        text = (
            f"Dispute opened: {_money(data.get('amount'))}, reason {data.get('reason', 'unknown')}{due}"
            + _refs(data, ("disputeId", "dispute"), payment)
            + "."
        )
    elif detail_type == "DisputeClosed":
        text = (
            f"Dispute closed: {data.get('outcome', 'unknown')}, {_money(data.get('amount'))}"
            + _refs(data, ("disputeId", "dispute"), payment)
            + "."
        )
    elif detail_type == "OrderOnHold":
        missing = data.get("missingFields") or []
        extra = f", missing {', '.join(str(m) for m in missing)}" if missing else ""
        decline = f", decline code {data['declineCode']}" if data.get("declineCode") else ""
        text = (
            f"Order on hold: {data.get('reason', 'unknown')}{decline}{extra}"
            + _refs(data, ("opportunityId", "deal"), ("erpOrderId", "order"), payment)
            + "."
        )
    elif detail_type == "DunningChanged":
        state = data.get("state") or "current again"
        text = f"Dunning: {state}" + _refs(data, ("billingInvoiceId", "billing invoice")) + "."
    else:
        raise ValueError(f"no support note for {detail_type}")
    return mask_card_numbers(text)


def field_changes(detail_type: str, data: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The organization fields the fact changes, from their current values."""
    disputes = _int(current.get("o2c_open_disputes"))
    if detail_type == "PaymentFailed":
        return {"o2c_payment_status": "payment_failed"}
    if detail_type == "RefundBooked":
        return {"o2c_payment_status": "refunded"}
    if detail_type == "DisputeOpened":
        return {"o2c_payment_status": "disputed", "o2c_open_disputes": disputes + 1}
    if detail_type == "DisputeClosed":
        return {
            "o2c_payment_status": f"dispute_{data.get('outcome', 'closed')}"[:60],
            "o2c_open_disputes": max(0, disputes - 1),
        }
    if detail_type == "OrderOnHold":
        return {"o2c_payment_status": "order_on_hold"}
    if detail_type == "DunningChanged":
        return {"o2c_dunning": str(data.get("state") or "current")}
    return {}


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else 0
    except (TypeError, ValueError):
        return 0


def inform_support(
    desk: SupportDesk,
    history: History,
    fact: EventData,
    *,
    event_id: str,
    on_unknown_fields: Any = None,
) -> SupportUpdate:
    """One note per open ticket of the customer (referenced by ``event_id``, so a redelivery adds none) and
    the organization's fields. ``on_unknown_fields(exc)`` is told when the account lacks the fields: the notes
    are still added (they matter most to the agent), the fields wait for the admin."""
    from shared.errors import UnknownFields

    detail_type, data = type(fact).detail_type, fact.dump()
    customer = customer_of(data, history)
    if customer is None:
        return SupportUpdate("no_customer")
    org = desk.find_organization(customer)
    users = desk.find_users(customer)
    if org is None and not users:
        return SupportUpdate("not_in_support_desk", customer)
    tickets = desk.open_tickets(
        organization_id=org["id"] if org else None, user_ids=tuple(u["id"] for u in users)
    )
    note = note_for(detail_type, data)
    added = sum(1 for t in tickets if desk.add_internal_note(t["id"], note, reference=event_id))
    changed: dict[str, Any] = {}
    if org is not None:
        changed = field_changes(detail_type, data, org.get("organization_fields") or {})
        if changed:
            try:
                desk.update_organization_fields(org["id"], changed)
            except UnknownFields as exc:
                if on_unknown_fields is None:
                    raise
                on_unknown_fields(exc)
                changed = {}
    return SupportUpdate(
        "informed",
        customer,
        tickets=tuple(int(t["id"]) for t in tickets),
        notes_added=added,
        fields=tuple(sorted(changed)),
    )
