"""The ids an event carries are computed once (``shared.events.envelope.ids_of``): the event itself
(``CanonicalEvent.lineage_ids``) and the lineage that indexes it for ``o2c trace`` name the same ids."""

from __future__ import annotations

import json

from shared.events.crm import OpportunityClosedWon
from shared.events.envelope import new_event
from shared.lineage import entry_from_eventbridge
from tests.unit.crm_fixtures import WON_AT, opportunity


def test_an_event_and_its_lineage_entry_carry_the_same_ids() -> None:
    # Given a won deal: its account and contact ids sit inside the opportunity, with a tax id beside them
    deal = opportunity("hubspot", "9876543210")
    event = new_event(
        OpportunityClosedWon(
            crmSystem="hubspot",
            opportunityId="9876543210",
            accountId="1234567",
            opportunity=deal,
            complete=True,
        ),
        source_system="hubspot",
        correlation_id="hubspot:9876543210",
        occurred_at=WON_AT,
        source_event_id="hs-evt-1",
    )
    # When the lineage records it as EventBridge delivers it
    entry = entry_from_eventbridge(
        {"detail-type": event.detail_type, "source": event.source, "detail": json.loads(event.detail_json())}
    )

    # Then both name the same ids: nested ones too, the correlation and provider event ids, never the tax id
    assert set(entry.ids) == event.lineage_ids()
    assert {"9876543210", "1234567", "501", "701", "hubspot:9876543210", "hs-evt-1"} <= event.lineage_ids()
    assert "DE123456789" not in event.lineage_ids()
