"""Direct debit on the local cloud: a deal paid by SEPA Direct Debit or ACH is invoiced, debited under the
customer's mandate and paid only when the bank's answer comes, days later on Stripe's (sandbox) clock; a
debit that fails after ``processing`` sends the invoice to dunning, holds the order, shows in the CRM and
asks the customer for another method; an ACH payment returned after it succeeded is booked as a
chargeback, once."""

from __future__ import annotations

from typing import Any

from o2c_cli.crm_scenarios import hubspot_deal, hubspot_us_deal
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import records, save_bank_account, save_card, wait_until, waits
from tests.flow.test_after_sale_flow import erp_records, wait_for

FIVE_DAYS = 5 * 86400


def won(hub: Hub, deal_id: str) -> str:
    assert hub.cloud.sandboxes["hubspot"].win(deal_id)[0] == 200
    return f"hubspot-{deal_id}"


def intents_of(hub: Hub, deal_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]


def test_a_sepa_deal_is_invoiced_debited_and_paid_only_after_processing(hub: Hub) -> None:
    deal_id = hubspot_deal(hub.cloud.sandboxes["hubspot"])
    name = won(hub, deal_id)
    stripe = hub.cloud.sandboxes["stripe"]

    save_bank_account(hub, name, iban="DE89370400440532013000")
    wait_until(hub, name, state="WaitForDebitOutcome")
    [debit] = intents_of(hub, deal_id)
    # one debit of the whole invoice, captured automatically: a bank debit has no authorization to hold
    assert (debit["status"], debit["amount"], debit["currency"]) == ("processing", 3398640, "eur")
    assert debit["payment_method_types"] == ["sepa_debit"] and debit["capture_method"] != "manual"
    assert waits(hub, name).key == f"capture:{debit['id']}"
    # invoiced before the money is in; the order is not released to fulfilment yet
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["refName"] != "Paid In Full"
    [order] = records(hub, "salesOrder", externalId=name)
    assert not order.get("custbody_o2c_released")

    assert stripe.advance_clock(FIVE_DAYS) == [debit["id"]]  # the bank's answer, five days later
    state = wait_until(hub, name, status="SUCCEEDED")

    assert state.current_state == "Paid"
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["refName"] == "Paid In Full"
    assert len(records(hub, "customerPayment", externalId=f"pay-{debit['id']}")) == 1
    [order] = records(hub, "salesOrder", externalId=name)
    assert order["custbody_o2c_released"] is True
    assert hub.cloud.sandboxes["hubspot"].deal(deal_id)["properties"]["o2c_payment_status"] == "paid"


def test_a_sepa_debit_failing_after_processing_goes_to_dunning_and_hold_until_another_method_pays(
    hub: Hub,
) -> None:
    deal_id = hubspot_deal(hub.cloud.sandboxes["hubspot"])
    name = won(hub, deal_id)
    stripe, netsuite = hub.cloud.sandboxes["stripe"], hub.cloud.sandboxes["netsuite"]

    # Stripe's test IBAN that fails after processing (insufficient funds)
    save_bank_account(hub, name, iban="DE62370400440532013001")
    wait_until(hub, name, state="WaitForDebitOutcome")
    stripe.advance_clock(FIVE_DAYS)
    wait_until(hub, name, state="WaitForMethodAfterDebit")

    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    customer_id = str(invoice["entity"]["id"])
    assert invoice["status"]["refName"] != "Paid In Full"  # open, in dunning
    assert netsuite.record("customer", customer_id).get("custentity_o2c_dunning") == "past_due"
    hub.settle()
    [hold] = [e.data for e in trace(hub.target, deal_id) if e.detail_type == "OrderOnHold"]
    assert (hold["reason"], hold["declineCode"]) == ("debit_failed", "insufficient_funds")
    assert hub.cloud.sandboxes["hubspot"].deal(deal_id)["properties"]["o2c_payment_status"] == "debit_failed"
    [order] = records(hub, "salesOrder", externalId=name)
    assert not order.get("custbody_o2c_released")

    # the customer pays the open invoice by card instead: no second invoice, dunning over
    save_card(hub, name, "pm_card_visa", state="WaitForMethodAfterDebit")
    assert wait_until(hub, name, status="SUCCEEDED").current_state == "Paid"
    assert len(records(hub, "invoice", externalId=f"inv-{name}")) == 1
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["status"]["refName"] == "Paid In Full"
    assert not netsuite.record("customer", customer_id).get("custentity_o2c_dunning")
    assert sorted(p["status"] for p in intents_of(hub, deal_id)) == ["requires_payment_method", "succeeded"]
    assert hub.cloud.sandboxes["hubspot"].deal(deal_id)["properties"]["o2c_payment_status"] == "paid"


def test_an_ach_payment_returned_after_it_succeeded_is_booked_as_a_chargeback_once(hub: Hub) -> None:
    deal_id = hubspot_us_deal(hub.cloud.sandboxes["hubspot"], name="Contoso - ACH")
    name = won(hub, deal_id)
    stripe = hub.cloud.sandboxes["stripe"]
    save_bank_account(hub, name, account_number="000123456789", holder="Contoso Inc.")
    wait_until(hub, name, state="WaitForDebitOutcome")
    stripe.advance_clock(4 * 86400)
    wait_until(hub, name, status="SUCCEEDED")
    [debit] = intents_of(hub, deal_id)
    assert (debit["status"], debit["payment_method_types"]) == ("succeeded", ["us_bank_account"])

    # the bank returns the debit (R01, insufficient funds) after it succeeded: Stripe opens a dispute,
    # final at once
    dispute_id = stripe.open_dispute(debit["latest_charge"], reason="insufficient_funds")

    def booked(record_type: str) -> list[dict[str, Any]]:
        return erp_records(hub, record_type, f"dsp-{dispute_id}")

    wait_for(lambda: len(booked("creditMemo")) == 1)
    for event in [e for e in stripe.events() if e["data"]["object"].get("id") == dispute_id]:
        assert stripe.redeliver(event["id"])[0] == 200  # Stripe retries: nothing twice
    hub.settle()
    assert len(booked("returnAuthorization")) == 1 and len(booked("creditMemo")) == 1
    facts = [e for e in trace(hub.target, dispute_id)]
    assert [e.data["outcome"] for e in facts if e.detail_type == "DisputeSettled"] == ["lost"]
    assert len([e for e in facts if e.detail_type == "DisputeRecorded"]) == 1
    [task] = hub.cloud.sandboxes["hubspot"].tasks(deal_id)
    assert "returned" in task["properties"]["hs_task_subject"].lower()
