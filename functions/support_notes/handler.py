"""Consumer: payment facts (failed payment, refund booked, dispute opened/closed, order on hold, dunning) →
an internal note on each open Zendesk ticket of the customer and the organization's fields, once per event
(Powertools idempotency on the event id; the notes also carry it, so a note is never added twice)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.consumers import sqs_consumer
from shared.errors import UnknownFields
from shared.observability import count, logger
from shared.order_to_cash.support import inform_support
from shared.outbound.factories import zendesk_support


class LineageHistory:
    """The hub's earlier facts about an id, from the lineage table (``o2c trace``'s)."""

    def __init__(self) -> None:
        import os

        from shared.aws import client
        from shared.lineage import LineageStore

        self._store = LineageStore(client("dynamodb"), os.environ["LINEAGE_TABLE_NAME"])

    def facts_about(self, the_id: str) -> list[dict[str, Any]]:
        return [entry.data for entry in self._store.entries_for(the_id)]


@cache
def _history() -> LineageHistory:
    return LineageHistory()


@cache
def _once() -> Any:
    from shared.aws import client
    from shared.idempotency import OnceOnly

    return OnceOnly("support-notes", client=client("dynamodb")).wrap(lambda delivery, work: work())


def _fields_missing(exc: UnknownFields) -> None:
    count("SupportFieldsMissing", provider="zendesk", reason="unknown_fields")
    logger.error(
        "Zendesk lacks the hub's organization fields (README, Zendesk)", extra={"fields": exc.fields}
    )


def inform(record: SQSRecord) -> None:
    event = json.loads(record.body)
    detail_type, metadata, data = event["detail-type"], event["detail"]["metadata"], event["detail"]["data"]
    logger.set_correlation_id(metadata["correlationId"])

    def work() -> dict[str, Any]:
        update = inform_support(
            zendesk_support(),
            _history(),
            detail_type,
            data,
            event_id=metadata["eventId"],
            on_unknown_fields=_fields_missing,
        )
        return update.as_dict()

    outcome = _once()(delivery={"id": metadata["eventId"], "type": detail_type}, work=work)
    logger.info(
        "support desk informed",
        extra={
            "fact": detail_type,
            "status": outcome.get("status"),
            "tickets": outcome.get("tickets"),
            "notes_added": outcome.get("notesAdded"),
        },
    )


lambda_handler = sqs_consumer(inform)
