"""Quote-to-cash on the local cloud: a won deal in a CRM sandbox becomes one Step Functions execution that
books the ERP (NetSuite sandbox), the tax engine and Stripe (sandbox), waits where a person or a webhook
must act, and ends paid, cancelled or on hold — never twice, never silently."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from o2c_cli.crm_scenarios import hubspot_deal, hubspot_stage, hubspot_us_deal, salesforce_opportunity
from o2c_cli.main import main
from o2c_cli.stripe_client import send as send_stripe
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import big_deal, records, save_card, wait_until, waits


def won(hub: Hub, **deal: Any) -> tuple[str, str]:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox, **deal)
    assert sandbox.win(deal_id)[0] == 200
    return deal_id, f"hubspot-{deal_id}"


def detail_types(hub: Hub, the_id: str) -> list[str]:
    hub.settle()
    return [e.detail_type for e in trace(hub.target, the_id)]


def test_hubspot_deal_is_carried_to_a_paid_invoice(hub: Hub) -> None:
    deal_id, name = won(hub)

    save_card(hub, name)
    state = wait_until(hub, name, status="SUCCEEDED")

    assert state.current_state == "Paid"
    [order] = records(hub, "salesOrder", externalId=f"hubspot-{deal_id}")
    [invoice] = records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}")
    assert order["custbody_o2c_released"] is True
    assert (
        invoice["status"]["refName"] == "Paid In Full" and str(invoice["total"]) == "33986.40"
    )  # 28,560.00 + 19 % VAT
    # the tax engine records the sale as invoiced: one committed SalesInvoice under the invoice's code, dated
    # the invoice's date, with the invoice's net and tax (what AvaTax reports as owed)
    [sale] = [d for d in hub.cloud.sandboxes["avatax"].documents if d["code"] == invoice["externalId"]]
    assert (sale["type"], sale["status"], sale["date"]) == ("SalesInvoice", "Committed", invoice["tranDate"])
    assert (sale["totalAmount"], sale["totalTax"]) == (invoice["subtotal"], invoice["taxTotal"])
    assert str(sale["totalTax"]) == "5426.40" and sale["totalTaxCalculated"] == sale["totalTax"]
    [payment] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert (payment["status"], payment["amount"], payment["currency"]) == ("succeeded", 3398640, "eur")
    assert len(records(hub, "customerPayment", externalId=f"pay-{payment['id']}")) == 1
    props = hub.cloud.sandboxes["hubspot"].deal(deal_id)["properties"]
    assert (props["o2c_erp_order_number"], props["o2c_erp_invoice_number"], props["o2c_payment_status"]) == (
        order["tranId"],
        invoice["tranId"],
        "paid",
    )
    # payloads stay far below Step Functions' 256 KB: every state sees a trimmed input
    history = hub.cloud.client("stepfunctions").get_execution_history(
        executionArn=state.arn, maxResults=1000
    )["events"]
    sizes = [len(e["stateEnteredEventDetails"]["input"]) for e in history if "stateEnteredEventDetails" in e]
    assert sizes and max(sizes) < 32 * 1024, max(sizes)
    # the whole lineage is found from the Stripe payment intent, as from any other id of the deal
    types = detail_types(hub, payment["id"])
    for fact in (
        "OpportunityClosedWon",
        "CustomerSynced",
        "OrderCreated",
        "PaymentMethodSaved",
        "PaymentAuthorized",
        "InvoicePosted",
        "PaymentCaptured",
        "InvoicePaid",
        "OrderActivated",
    ):
        assert types.count(fact) == 1, (fact, types)


def test_a_kwd_deal_is_charged_and_invoiced_at_one_rounded_total(hub: Hub) -> None:
    # Given a deal of 123.456 KWD (KWD has 3 decimals; NetSuite keeps 2, Stripe takes multiples of 10 fils)
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_us_deal(sandbox, currency="KWD", price="123.456", name="Contoso - KWD")
    assert sandbox.win(deal_id)[0] == 200
    name = f"hubspot-{deal_id}"

    # When it is won and paid
    save_card(hub, name)
    assert wait_until(hub, name, status="SUCCEEDED").current_state == "Paid"

    # Then the order's exact total (lines + tax, in fils) was rounded to 10 fils, the difference on the event
    hub.settle()
    [created] = [e.data for e in trace(hub.target, deal_id) if e.detail_type == "OrderCreated"]
    exact = 123456 + created["tax"]["amount"]
    assert exact % 10, "the deal must need rounding for this test to mean anything"
    charged = created["total"]["amount"]
    assert charged % 10 == 0 and abs(charged - exact) <= 5
    assert created["rounding"] == {"amount": charged - exact, "currency": "KWD"}

    # And Stripe charged exactly that, the ERP invoice is exactly that, with an explicit rounding line
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert (intent["status"], intent["currency"], intent["amount_received"]) == ("succeeded", "kwd", charged)
    [invoice] = records(hub, "invoice", externalId=f"inv-{name}")
    assert invoice["total"] * 1000 == charged and invoice["status"]["refName"] == "Paid In Full"
    [rounding] = [
        line for line in invoice["item"]["items"] if str(line["description"]).startswith("Rounding")
    ]
    others = sum(
        line["amount"] + line["tax1Amt"] for line in invoice["item"]["items"] if line is not rounding
    )
    assert rounding["amount"] == invoice["total"] - others and rounding["item"] == {"id": "78"}
    # And AvaTax records the sale as invoiced: the invoice's tax, its sold lines (the rounding is no sale)
    [sale] = [d for d in hub.cloud.sandboxes["avatax"].documents if d["code"] == invoice["externalId"]]
    assert (sale["type"], sale["status"], sale["totalTax"]) == (
        "SalesInvoice",
        "Committed",
        invoice["taxTotal"],
    )
    assert sale["totalAmount"] == invoice["subtotal"] - rounding["amount"]


def test_salesforce_opportunity_is_carried_to_a_paid_invoice(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["salesforce"]
    opportunity_id = salesforce_opportunity(sandbox, name=f"Flow {uuid.uuid4().hex[:6]}")
    assert sandbox.win(opportunity_id)[0] == 200
    name = f"salesforce-{opportunity_id}"

    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")

    fields = sandbox.opportunity(opportunity_id)["fields"]
    assert fields["Payment_Status__c"] == "paid" and fields["ERP_Order_Number__c"].startswith("SO")
    [invoice] = records(hub, "invoice", externalId=f"inv-salesforce-{opportunity_id}")
    assert str(invoice["total"]) == "29040.00"  # 24,000.00 + 21 % Dutch VAT


def test_five_concurrent_deliveries_of_one_win_book_everything_once(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox)
    hubspot_stage(sandbox, deal_id)  # won in HubSpot; five deliveries of the webhook race
    events = [
        {
            "eventId": sandbox.next_event_id(),
            "subscriptionType": "deal.propertyChange",
            "objectId": int(deal_id),
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "occurredAt": int(time.time() * 1000),
        }
        for _ in range(5)
    ]
    with ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(pool.map(lambda e: sandbox.deliver([e]), events))
    assert all(status == 200 for status, _ in replies)
    name = f"hubspot-{deal_id}"

    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")

    sfn = hub.cloud.client("stepfunctions")
    executions = [
        e
        for e in sfn.list_executions(stateMachineArn=hub.target.state_machine_arn)["executions"]
        if e["name"] == name
    ]
    assert len(executions) == 1
    company_id = sandbox.deal(deal_id)["associations"]["companies"][0]
    assert len(records(hub, "customer", externalId=f"hubspot-{company_id}")) == 1
    assert len(records(hub, "salesOrder", externalId=f"hubspot-{deal_id}")) == 1
    intents = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert [p["status"] for p in intents] == ["succeeded"]
    assert detail_types(hub, deal_id).count("OpportunityClosedWon") == 5  # five facts, one execution
    assert hub.cloud.sandboxes["netsuite"].concurrency()["rejected"] == 0  # the account-wide limit held


def test_declined_card_puts_the_order_on_hold_until_a_new_card_succeeds(hub: Hub) -> None:
    deal_id, name = won(hub)

    # Stripe's 4000 0000 0000 0341: saved fine, declined when charged (Stripe refuses its other declining
    # test cards already when they are saved)
    save_card(hub, name, "pm_card_chargeCustomerFail")
    state = wait_until(hub, name, state="WaitForNewPaymentMethod")
    assert state.status == "RUNNING"
    hub.settle()
    [hold] = [e for e in trace(hub.target, deal_id) if e.detail_type == "OrderOnHold"]
    assert hold.data["reason"] == "payment_declined" and hold.data["declineCode"] == "generic_decline"

    save_card(hub, name, "pm_card_visa", state="WaitForNewPaymentMethod")
    wait_until(hub, name, status="SUCCEEDED")
    intents = [
        p["status"]
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert sorted(intents) == ["requires_payment_method", "succeeded"]


def test_erp_outage_is_ridden_out(hub: Hub) -> None:
    netsuite = hub.cloud.sandboxes["netsuite"]
    netsuite.fail_next(503, count=4)  # more than one step's own retries: the state machine retries too
    deal_id, name = won(hub)
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED", timeout=150)
    assert len(records(hub, "salesOrder", externalId=f"hubspot-{deal_id}")) == 1


def test_invoice_committed_then_timed_out_is_not_booked_twice(hub: Hub) -> None:
    deal_id, name = won(hub)
    wait_until(hub, name, state="WaitForPaymentMethod")
    # the next two writes (approve the order, transform it to an invoice) commit, then time out
    hub.cloud.sandboxes["netsuite"].commit_then_timeout_next(2, delay_s=10.5)
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED", timeout=180)
    assert len(records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}")) == 1
    sales = [d for d in hub.cloud.sandboxes["avatax"].documents if d["code"] == f"inv-hubspot-{deal_id}"]
    assert [s["type"] for s in sales] == ["SalesInvoice"]


def test_approval_above_the_threshold(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    _, name = won(hub, name="Regular deal")  # 33,986.40 EUR: below the local threshold of 50,000.00
    sandbox = hub.cloud.sandboxes["hubspot"]
    big = big_deal(sandbox, "Enterprise", "60000.00")
    assert sandbox.win(big)[0] == 200
    big_name = f"hubspot-{big}"
    save_card(hub, big_name)
    state = wait_until(hub, big_name, state="WaitForApproval")
    assert state.waiting_on == f"approval:{big_name}"
    # the small deal needs no approval
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")

    assert main(["approve", big, "--by", "cfo"]) == 0
    assert f"approved {big_name}" in capsys.readouterr().out
    wait_until(hub, big_name, status="SUCCEEDED")


def test_rejected_approval_compensates_in_reverse_order(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = big_deal(sandbox, "Too big", "90000.00")
    sandbox.win(deal_id)
    name = f"hubspot-{deal_id}"
    save_card(hub, name)
    wait_until(hub, name, state="WaitForApproval")

    assert main(["approve", deal_id, "--reject"]) == 0
    state = wait_until(hub, name, status="FAILED")

    assert state.error == "O2C.Cancelled"
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    assert intent["status"] == "canceled"  # authorization voided first
    [order] = records(hub, "salesOrder", externalId=f"hubspot-{deal_id}")
    assert order["status"]["refName"] == "Closed"  # then the ERP order closed, every line
    assert "OrderCancelled" in detail_types(hub, deal_id)


def test_compensation_that_keeps_failing_ends_compensation_failed_with_a_hold(hub: Hub) -> None:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = big_deal(sandbox, "Doomed", "80000.00")
    sandbox.win(deal_id)
    name = f"hubspot-{deal_id}"
    save_card(hub, name)
    wait_until(hub, name, state="WaitForApproval")
    # the next ERP call is the compensation's cancel; the ERP refuses it (a business error: not retried)
    hub.cloud.sandboxes["netsuite"].fail_next(400, count=1, code="INVALID_FLD_VALUE")

    from o2c_cli.executions import approve

    approve(hub.target, name, approved=False, by="test")
    state = wait_until(hub, name, status="FAILED")

    assert state.error == "O2C.CompensationFailed"
    hub.settle()
    holds = [e.data for e in trace(hub.target, deal_id) if e.detail_type == "OrderOnHold"]
    assert [h["reason"] for h in holds] == ["compensation_failed"]


def test_payment_webhook_before_the_execution_waits_resumes_it_once(hub: Hub) -> None:
    """Someone captures the payment in the Stripe dashboard while the order waits for approval: the
    payment_intent.succeeded webhook arrives before the execution waits for it, and still resumes it once."""
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = big_deal(sandbox, "Early webhook", "70000.00")
    sandbox.win(deal_id)
    name = f"hubspot-{deal_id}"
    save_card(hub, name)
    wait_until(hub, name, state="WaitForApproval")
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    early = {
        "id": f"evt_early{uuid.uuid4().hex[:10]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {**intent, "status": "succeeded", "latest_charge": "ch_dashboard"}},
    }
    assert send_stripe(hub.api, early, hub.stripe_secrets[:1]).json()["status"] == "accepted"
    hub.settle()
    assert waits(hub, name).key == f"approval:{name}"  # not resumed by a fact it is not waiting for

    from o2c_cli.executions import approve

    approve(hub.target, name, approved=True, by="test")
    wait_until(hub, name, status="SUCCEEDED")
    history = hub.cloud.client("stepfunctions").get_execution_history(
        executionArn=wait_until(hub, name, status="SUCCEEDED").arn, maxResults=1000
    )["events"]
    resumed = [
        e for e in history if e.get("stateExitedEventDetails", {}).get("name") == "WaitForCaptureConfirmation"
    ]
    assert len(resumed) == 1
    assert (
        json.loads(resumed[0]["stateExitedEventDetails"]["output"])["captureConfirmation"]["chargeId"]
        == "ch_dashboard"
    )


def test_incomplete_account_waits_for_sales_operations_and_continues_once_fixed(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id, name = won(hub, complete=False)
    state = wait_until(hub, name, state="WaitForAccountFix")
    assert state.waiting_on and state.waiting_on.startswith("hold:")
    hub.settle()
    [hold] = [e.data for e in trace(hub.target, deal_id) if e.detail_type == "OrderOnHold"]
    assert hold["reason"] == "incomplete_account" and "account.billingAddress.street" in hold["missingFields"]

    # sales operations completes the company in the CRM, then releases the hold
    company_id = sandbox.deal(deal_id)["associations"]["companies"][0]
    sandbox.update_object(
        "companies",
        company_id,
        {
            "address": "Am Markt 3",
            "city": "Leipzig",
            "zip": "04109",
            "country": "DE",
            "currency": "EUR",
            "tax_id": "DE444555666",
        },
    )
    assert main(["hold", "release", deal_id]) == 0
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")


def test_a_held_deal_moved_out_of_closed_won_ends_cancelled_when_released_and_books_nothing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_STATE_DIR", str(hub.state_dir))
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id, name = won(hub, complete=False)
    wait_until(hub, name, state="WaitForAccountFix")

    # while the deal is held, sales operations completes the company, but the deal is moved back to
    # "contract sent" in HubSpot (no webhook: the hub is not told), and then the hold is released
    company_id = sandbox.deal(deal_id)["associations"]["companies"][0]
    sandbox.update_object(
        "companies",
        company_id,
        {
            "address": "Am Markt 3",
            "city": "Leipzig",
            "zip": "04109",
            "country": "DE",
            "tax_id": "DE444555666",
        },
    )
    hubspot_stage(sandbox, deal_id, "contractsent")
    assert main(["hold", "release", deal_id]) == 0

    # then the re-check asks HubSpot, which no longer has the deal won: the execution ends Cancelled with an
    # OrderCancelled saying so, and nothing is booked in the ERP
    state = wait_until(hub, name, status="FAILED")
    assert state.error == "O2C.Cancelled"
    hub.settle()
    cancelled = [e.data for e in trace(hub.target, deal_id) if e.detail_type == "OrderCancelled"]
    assert [c["reason"] for c in cancelled] == ["deal_no_longer_won"]
    assert records(hub, "salesOrder", externalId=f"hubspot-{deal_id}") == []


def test_hold_that_is_never_released_ends_cancelled(hub: Hub) -> None:
    """The timeout is the execution's configuration: start one with a short one (as the starter would)."""
    sfn = hub.cloud.client("stepfunctions")
    _, name = won(hub, complete=False)
    started = sfn.describe_execution(executionArn=wait_until(hub, name, state="WaitForAccountFix").arn)
    execution_input = json.loads(started["input"])
    execution_input["config"]["holdTimeoutSeconds"] = 2
    short = sfn.start_execution(
        stateMachineArn=hub.target.state_machine_arn, name=f"{name}-short", input=json.dumps(execution_input)
    )["executionArn"]
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=short)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    described = sfn.describe_execution(executionArn=short)
    assert (described["status"], described.get("error")) == ("FAILED", "O2C.Cancelled")
