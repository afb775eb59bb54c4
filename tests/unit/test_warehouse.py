"""The warehouse feed's projection (privacy), its partitioning, the local delivery (same layout and Parquet as
Firehose) and the saved queries on DuckDB."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.warehouse_projection.handler import Settings, make_handler
from infra.config import StageConfig
from localcloud.warehouse import deliver
from o2c_cli.sql import query_files
from shared.events.after_sale import ReconciliationException, RefundRequested
from shared.events.crm import OpportunityClosedWon
from shared.events.envelope import CanonicalEvent, EventData, new_event
from shared.events.orchestration import InvoicePaid
from shared.events.payments import PaymentFailed, RefundFailed, RefundSucceeded
from shared.money import Money
from shared.warehouse import COLUMNS, SAVED_QUERIES_BY_NAME, TYPE_FIELD, firehose_record, partition, project
from tests.unit.crm_fixtures import WON_AT, opportunity

#: Stripe's test card 4242 4242 4242 4242 (Luhn-valid): never in the warehouse
CARD = "4242424242424242"


def bus_event(event: CanonicalEvent) -> dict[str, Any]:
    """The event as EventBridge delivers it to a target."""
    return {
        "version": "0",
        "id": "b5f3d0c4-0000-4000-8000-000000000001",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "000000000000",
        "time": "2026-11-27T10:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(event.detail_json()),
    }


def canonical(data: EventData, at: datetime = WON_AT, source_event_id: str | None = None) -> dict[str, Any]:
    system = "stripe" if data.source == "o2c.payments" else "hubspot" if data.source == "o2c.crm" else "o2c"
    return bus_event(
        new_event(
            data,
            source_system=system,  # type: ignore[arg-type]
            correlation_id="corr-1",
            occurred_at=at,
            source_event_id=source_event_id,
        )
    )


def won(opportunity_id: str = "9876543210", at: datetime = WON_AT) -> dict[str, Any]:
    opp = opportunity(opportunity_id=opportunity_id)
    return canonical(
        OpportunityClosedWon(
            crmSystem="hubspot",
            opportunityId=opp.opportunityId,
            accountId="1234567",
            opportunity=opp,
            complete=True,
        ),
        at,
    )


def paid(opportunity_id: str, amount: int, at: datetime, currency: str = "EUR") -> dict[str, Any]:
    return canonical(
        InvoicePaid(
            opportunityId=opportunity_id,
            erpInvoiceId=f"inv-{opportunity_id}",
            erpPaymentId=f"pay-{opportunity_id}",
            paymentIntentId=f"pi_{opportunity_id}",
            amount=Money.of(amount, currency),
        ),
        at,
    )


def _texts(row: dict[str, Any]) -> str:
    return json.dumps(row)


# --- privacy -----------------------------------------------------------------------------------------------


def test_a_won_deal_keeps_ids_and_amounts_but_no_names_emails_or_addresses() -> None:
    row = project(won())
    assert row["opportunity_id"] == "9876543210" and row["crm_account_id"] == "1234567"
    assert row[TYPE_FIELD] == "OpportunityClosedWon"
    text = _texts(row)
    for personal in (
        "ap@acme.example",
        "Ada",
        "Buyer",
        "Acme GmbH",
        "Unter den Linden",
        "Berlin",
        "DE123456789",
    ):
        assert personal not in text, personal
    data = json.loads(row["data"])
    assert data["opportunity"]["contacts"] == [{"contactId": "501", "role": None}]
    assert data["opportunity"]["amount"] == {"amount": 2400000, "currency": "EUR"}
    assert "billingAddress" not in data["opportunity"]["account"]


def test_the_stage_setting_keeps_personal_data_but_never_card_data() -> None:
    row = project(won(), personal_data=True)
    data = json.loads(row["data"])
    assert data["opportunity"]["contacts"][0]["email"] == "ap@acme.example"
    assert data["opportunity"]["account"]["name"] == "Acme GmbH"
    failed = canonical(
        PaymentFailed(
            paymentIntentId="pi_1", amount=Money.of(1000, "USD"), failureMessage=f"card {CARD} declined"
        ),
    )
    failed["detail"]["data"]["card"] = {
        "last4": "4242",
        "exp_month": 12,
    }  # as a careless mapping would pass it
    for personal_data in (False, True):
        row = project(failed, personal_data=personal_data)
        assert CARD not in _texts(row)
        assert "************4242" in json.loads(row["data"])["failureMessage"]
        assert "card" not in json.loads(row["data"]) and "exp_month" not in row["data"]


def test_who_asked_for_a_refund_is_personal() -> None:
    event = canonical(
        RefundRequested(
            requestId="rq-1", paymentIntentId="pi_1", reason="duplicate", requestedBy="ada@acme.example"
        )
    )
    assert "ada@acme.example" not in _texts(project(event))
    assert json.loads(project(event, personal_data=True)["data"])["requestedBy"] == "ada@acme.example"


def test_config_takes_the_privacy_setting_from_cdk_context() -> None:
    assert StageConfig.from_context("dev", {}).warehouse_personal_data is False
    assert StageConfig.from_context("dev", {"warehousePersonalData": "true"}).warehouse_personal_data is True
    assert StageConfig.from_context("dev", {"warehousePersonalData": True}).warehouse_personal_data is True


# --- the columns the queries read ---------------------------------------------------------------------------


def test_rows_carry_the_amount_currency_and_reason_of_their_type() -> None:
    refund = project(
        canonical(
            RefundSucceeded(
                refundId="re_1", paymentIntentId="pi_1", amount=Money.of(2000, "EUR"), reason="duplicate"
            )
        )
    )
    assert (refund["amount"], refund["currency"], refund["reason"]) == (2000, "EUR", "duplicate")
    declined = project(
        canonical(
            PaymentFailed(
                paymentIntentId="pi_2",
                amount=Money.of(500, "USD"),
                failureCode="card_declined",
                declineCode="insufficient_funds",
            )
        )
    )
    assert (declined["reason"], declined["source_system"], declined["payment_intent_id"]) == (
        "insufficient_funds",
        "stripe",
        "pi_2",
    )
    exception = project(
        canonical(
            ReconciliationException(
                kind="amount_differs", detail="ERP 300.00, Stripe 200.00", opportunityId="o-1"
            )
        )
    )
    assert (exception["reason"], exception["opportunity_id"]) == ("amount_differs", "o-1")
    assert project(won())["occurred_at"] == "2026-11-27 10:15:00.000000"
    assert set(project(won())) == {n for n, _ in COLUMNS} | {TYPE_FIELD}


def test_rows_are_partitioned_by_type_and_the_day_they_are_delivered() -> None:
    row = project(paid("o-1", 100, WON_AT))
    assert (
        partition(row, datetime(2026, 12, 1, 23, 59, tzinfo=UTC)) == "events/type=InvoicePaid/dt=2026-12-01/"
    )


def test_the_firehose_transformation_returns_rows_and_rejects_what_is_not_an_event() -> None:
    good = {"recordId": "1", "data": base64.b64encode(json.dumps(won()).encode()).decode()}
    bad = {"recordId": "2", "data": base64.b64encode(b"not json").decode()}
    out = make_handler(Settings(personal_data=False))({"records": [good, bad]})["records"]
    assert [r["result"] for r in out] == ["Ok", "ProcessingFailed"]
    row = json.loads(base64.b64decode(out[0]["data"]))
    assert row["type"] == "OpportunityClosedWon" and "ap@acme.example" not in json.dumps(row)
    assert base64.b64decode(out[0]["data"]).endswith(b"\n")
    assert _transform(good, True)["result"] == "Ok"


# --- local delivery and the saved queries -------------------------------------------------------------------


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="warehouse")
        yield client


def _download(s3: Any, into: Path) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="warehouse").get("Contents", [])]
    for key in keys:
        (into / key).parent.mkdir(parents=True, exist_ok=True)
        (into / key).write_bytes(s3.get_object(Bucket="warehouse", Key=key)["Body"].read())
    return keys


def test_local_delivery_writes_snappy_parquet_in_firehoses_layout(s3: Any, tmp_path: Path) -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    bodies = [json.dumps(won("o-1")), json.dumps(paid("o-1", 100, WON_AT + timedelta(hours=2))), "garbage"]
    keys = deliver(s3, "warehouse", "local", bodies, personal_data=False, at=at)
    assert sorted(k.rsplit("/", 1)[0] for k in keys) == [
        "errors/processing-failed/dt=2026-12-01",
        "events/type=InvoicePaid/dt=2026-12-01",
        "events/type=OpportunityClosedWon/dt=2026-12-01",
    ]
    _download(s3, tmp_path)
    [parquet] = list((tmp_path / "events" / "type=InvoicePaid" / "dt=2026-12-01").glob("*.parquet"))
    assert parquet.read_bytes()[:4] == b"PAR1"
    import duckdb

    schema = duckdb.sql(
        f"SELECT name, type FROM parquet_schema('{parquet}') WHERE name <> 'duckdb_schema'"  # noqa: S608
    ).fetchall()
    assert [n for n, _ in schema] == [
        n for n, _ in COLUMNS
    ]  # the partition keys are in the key, not the file
    metadata = f"SELECT compression FROM parquet_metadata('{parquet}')"  # noqa: S608 - our own file
    codecs = {c for (c,) in duckdb.sql(metadata).fetchall()}
    assert codecs == {"SNAPPY"}
    result = query_files(tmp_path, "SELECT type, dt, amount FROM events ORDER BY type")
    assert result.rows == [
        ("InvoicePaid", "2026-12-01", 100),
        ("OpportunityClosedWon", "2026-12-01", 2400000),
    ]


def test_saved_queries_compute_their_figures_on_duckdb(s3: Any, tmp_path: Path) -> None:
    day = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    events = [
        won("o-1", day),
        paid("o-1", 10000, day + timedelta(hours=2)),
        won("o-2", day),
        paid("o-2", 30000, day + timedelta(hours=4)),
        won("o-3", day),  # not paid yet: not in time to cash
        canonical(
            RefundSucceeded(refundId="re_1", amount=Money.of(500, "EUR"), reason="duplicate"), day, "evt_r1"
        ),
        canonical(
            RefundSucceeded(refundId="re_2", amount=Money.of(700, "EUR"), reason="duplicate"), day, "evt_r2"
        ),
        canonical(RefundSucceeded(refundId="re_3", amount=Money.of(100, "EUR")), day, "evt_r3"),
        # Stripe reports re_3 again (refund.updated): one refund
        canonical(RefundSucceeded(refundId="re_3", amount=Money.of(100, "EUR")), day, "evt_r3_updated"),
        # a refund the hub was asked for: Stripe's refund has no reason, the request has
        canonical(
            RefundRequested(requestId="rq-9", paymentIntentId="pi_1", reason="duplicate", requestedBy="ops"),
            day,
        ),
        canonical(
            RefundSucceeded(refundId="re_5", amount=Money.of(50, "EUR"), requestId="rq-9"), day, "evt_r5"
        ),
        canonical(
            PaymentFailed(
                paymentIntentId="pi_9", amount=Money.of(9, "USD"), declineCode="insufficient_funds"
            ),
            day,
            "evt_f1",
        ),
        canonical(RefundFailed(refundId="re_4", failureReason="expired_or_canceled_card"), day, "evt_f2"),
        canonical(ReconciliationException(kind="amount_differs", detail="x", opportunityId="o-1"), day),
        canonical(ReconciliationException(kind="amount_differs", detail="y", opportunityId="o-2"), day),
    ]
    bodies = [json.dumps(e) for e in events]
    deliver(s3, "warehouse", "local", bodies, personal_data=False, at=day)
    # EventBridge redelivers a refund (another file, the next day): counted once
    deliver(s3, "warehouse", "local", bodies[5:6], personal_data=False, at=day + timedelta(days=1))
    _download(s3, tmp_path)

    def run(name: str) -> list[tuple[Any, ...]]:
        return query_files(tmp_path, SAVED_QUERIES_BY_NAME[name].render("events")).rows

    assert run("time-to-cash-by-month") == [("2026-11", "EUR", 2, 40000, 3.0, 4.0)]
    assert run("refunds-by-reason") == [("duplicate", "EUR", 3, 1250), ("unspecified", "EUR", 1, 100)]
    assert run("failures-by-provider") == [
        ("stripe", "PaymentFailed", "insufficient_funds", 1, 1),
        ("stripe", "RefundFailed", "expired_or_canceled_card", 1, 0),
    ]
    assert run("reconciliation-exceptions") == [("amount_differs", 2, 2)]


def test_sql_on_an_empty_warehouse_has_the_columns_and_no_rows(tmp_path: Path) -> None:
    result = query_files(tmp_path, SAVED_QUERIES_BY_NAME["refunds-by-reason"].render("events"))
    assert result.columns == ["reason", "currency", "refunds", "amount_minor"] and result.rows == []


def _transform(record: dict[str, Any], personal_data: bool) -> dict[str, Any]:
    return firehose_record(record, personal_data=personal_data)
