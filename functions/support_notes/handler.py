"""Consumer: payment facts (failed payment, refund booked, dispute opened/closed, order on hold, dunning) →
an internal note on each open Zendesk ticket of the customer and the organization's fields, once per event
(the kernel's once-only record on the event id; the notes also carry it, so a note is never added twice)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from shared.consumers import Consumer, Delivered, OncePer, consumer
from shared.errors import UnknownFields
from shared.observability import count, logger
from shared.order_to_cash.support import inform_support
from shared.outbound.factories import zendesk_support
from shared.settings import Env, EnvSettings


@dataclass(frozen=True)
class Settings(EnvSettings):
    lineage_table_name: str

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(lineage_table_name=env.required("LINEAGE_TABLE_NAME"))


class LineageHistory:
    """The hub's earlier facts about an id, from the lineage table (``o2c trace``'s)."""

    def __init__(self) -> None:
        from shared.aws import client
        from shared.lineage import LineageStore

        self._store = LineageStore(client("dynamodb"), Settings.from_env().lineage_table_name)

    def facts_about(self, the_id: str) -> list[dict[str, Any]]:
        return [entry.data for entry in self._store.entries_for(the_id)]


@cache
def _history() -> LineageHistory:
    return LineageHistory()


def _fields_missing(exc: UnknownFields) -> None:
    count("SupportFieldsMissing", provider="zendesk", reason="unknown_fields")
    logger.error(
        "Zendesk lacks the hub's organization fields (README, Zendesk)", extra={"fields": exc.fields}
    )


def inform(event: Delivered[Any]) -> None:
    update = inform_support(
        zendesk_support(),
        _history(),
        event.data,
        event_id=event.event_id,
        on_unknown_fields=_fields_missing,
    )
    logger.info(
        "support desk informed",
        extra={
            "fact": event.detail_type,
            "status": update.status,
            "tickets": list(update.tickets),
            "notes_added": update.notes_added,
        },
    )


#: the facts the support desk hears of (the queue's rule: ``infra.topology.SUPPORT_FACTS``)
INFORMED_OF = (
    "PaymentFailed",
    "DisputeOpened",
    "DisputeClosed",
    "RefundBooked",
    "DunningChanged",
    "OrderOnHold",
)

SUPPORT_NOTES = Consumer(
    "SupportNotes",
    handles=dict.fromkeys(INFORMED_OF, inform),
    once=OncePer("support-notes", key=lambda event: event.event_id, kind=lambda event: event.detail_type),
)

lambda_handler = consumer(SUPPORT_NOTES)
