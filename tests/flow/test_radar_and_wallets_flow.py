"""Wallets and Stripe Radar on the local cloud (issue 17, parts 3 and 4): a wallet payment recorded as such in
the ERP and the CRM; a high-risk authorization waiting for a person with the reason; a Radar review holding the
invoice and the capture until it is approved (or cancelling the order when it is closed as fraud); an early
fraud warning on a captured payment answered by one CRM task and one refund, however often it is delivered."""

from __future__ import annotations

import time
from typing import Any

import stripe

from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.executions import approve
from o2c_cli.stripe_client import send as send_stripe
from o2c_cli.trace import trace
from tests.flow.conftest import Hub
from tests.flow.q2c import records, save_card, save_wallet_card, wait_until, waits


def won(hub: Hub, name: str) -> tuple[str, str]:
    sandbox = hub.cloud.sandboxes["hubspot"]
    deal_id = hubspot_deal(sandbox, name=name)  # 33,986.40 EUR: below the approval threshold
    assert sandbox.win(deal_id)[0] == 200
    return deal_id, f"hubspot-{deal_id}"


def intent_of(hub: Hub, deal_id: str) -> dict[str, Any]:
    [intent] = [
        p
        for p in hub.cloud.sandboxes["stripe"].payment_intents()
        if p["metadata"].get("o2c_opportunity_id") == deal_id
    ]
    return intent


def facts(hub: Hub, the_id: str, detail_type: str) -> list[dict[str, Any]]:
    hub.settle()
    return [e.data for e in trace(hub.target, the_id) if e.detail_type == detail_type]


def eventually(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_a_wallet_payment_is_recorded_as_such_in_the_erp_and_the_crm(hub: Hub) -> None:
    deal_id, name = won(hub, "Wallet deal")

    save_wallet_card(hub, name, "apple_pay")
    wait_until(hub, name, status="SUCCEEDED")

    intent = intent_of(hub, deal_id)
    charge = hub.cloud.sandboxes["stripe"].charge(intent["latest_charge"])
    assert charge["payment_method_details"]["card"]["wallet"]["type"] == "apple_pay"
    [payment] = records(hub, "customerPayment", externalId=f"pay-{intent['id']}")
    assert payment["memo"] == f"Stripe {intent['id']} (Apple Pay)"
    props = hub.cloud.sandboxes["hubspot"].deal(deal_id)["properties"]
    assert (props["o2c_payment_status"], props["o2c_payment_wallet"]) == ("paid", "Apple Pay")


def test_a_high_risk_authorization_waits_for_approval_with_the_reason_whatever_its_amount(hub: Hub) -> None:
    deal_id, name = won(hub, "Risky deal")

    save_card(hub, name, "pm_card_riskLevelHighest")  # Stripe's Radar test card 4000000000004954
    state = wait_until(hub, name, state="WaitForApproval")

    assert state.waiting_on == f"approval:{name}"
    [hold] = facts(hub, deal_id, "OrderOnHold")
    assert (hold["reason"], hold["riskLevel"], hold["riskScore"]) == ("fraud_risk", "highest", 83)
    assert intent_of(hub, deal_id)["status"] == "requires_capture"  # authorized, nothing captured
    assert records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}") == []

    approve(hub.target, name, approved=True, by="risk-team")
    wait_until(hub, name, status="SUCCEEDED")
    assert intent_of(hub, deal_id)["status"] == "succeeded"


def test_a_radar_review_holds_the_capture_until_it_is_approved(hub: Hub) -> None:
    deal_id, name = won(hub, "Reviewed deal")
    save_card(hub, name, "pm_card_riskLevelElevated")  # 4000000000009235: elevated, placed in review
    wait_until(hub, name, state="WaitForApproval")
    approve(hub.target, name, approved=True, by="risk-team")  # the hub's approval does not end the review

    state = wait_until(hub, name, state="WaitForReview")
    intent = intent_of(hub, deal_id)
    assert state.waiting_on == f"review:{intent['review']}"
    time.sleep(2)
    assert waits(hub, name).key == f"review:{intent['review']}"
    assert intent_of(hub, deal_id)["status"] == "requires_capture"
    assert records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}") == []
    assert [f["reviewId"] for f in facts(hub, intent["id"], "PaymentReviewOpened")] == [intent["review"]]

    # a forged review.closed "approved" is refused like any Stripe event with a bad signature: nothing resumes
    forged = {
        "id": "evt_forgedReviewClose1",
        "object": "event",
        "type": "review.closed",
        "created": int(time.time()),
        "data": {"object": {"id": intent["review"], "object": "review", "closed_reason": "approved"}},
    }
    assert send_stripe(hub.api, forged, ["whsec_not_the_endpoints"]).status == 401
    hub.settle()
    assert waits(hub, name).key == f"review:{intent['review']}"

    sandbox = hub.cloud.sandboxes["stripe"]
    dashboard = stripe.StripeClient(str(sandbox.api_key), base_addresses={"api": sandbox.url})
    assert dashboard.v1.reviews.approve(intent["review"]).closed_reason == "approved"

    wait_until(hub, name, status="SUCCEEDED")
    assert intent_of(hub, deal_id)["status"] == "succeeded"
    assert len(records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}")) == 1


def test_a_review_closed_as_fraud_cancels_the_order(hub: Hub) -> None:
    deal_id, name = won(hub, "Fraudulent deal")
    save_card(hub, name, "pm_card_riskLevelElevated")
    wait_until(hub, name, state="WaitForApproval")
    approve(hub.target, name, approved=True, by="risk-team")
    wait_until(hub, name, state="WaitForReview")

    hub.cloud.sandboxes["stripe"].close_review(intent_of(hub, deal_id)["review"], "refunded_as_fraud")
    state = wait_until(hub, name, status="FAILED")

    assert state.error == "O2C.Cancelled"
    assert intent_of(hub, deal_id)["status"] == "canceled"
    [order] = records(hub, "salesOrder", externalId=f"hubspot-{deal_id}")
    assert order["status"]["refName"] == "Closed"
    assert records(hub, "invoice", externalId=f"inv-hubspot-{deal_id}") == []


def test_an_early_fraud_warning_delivered_twice_is_refunded_once_with_one_crm_task(hub: Hub) -> None:
    deal_id, name = won(hub, "Warned deal")
    save_card(hub, name)
    wait_until(hub, name, status="SUCCEEDED")
    sandbox = hub.cloud.sandboxes["stripe"]
    intent = intent_of(hub, deal_id)

    warning_id = sandbox.create_early_fraud_warning(intent["latest_charge"], "made_with_stolen_card")
    [event] = [e for e in sandbox.events() if e["data"]["object"].get("id") == warning_id]
    # delivered twice: Stripe's retry of the same event, and the same warning under another event id
    sandbox.redeliver(event["id"])
    again = {**event, "id": f"{event['id']}x2"}
    assert send_stripe(hub.api, again, hub.stripe_secrets[:1]).json()["status"] == "accepted"

    def booked() -> list[dict[str, Any]]:
        mine = [r for r in sandbox.refunds() if r["payment_intent"] == intent["id"]]
        return mine if mine and records(hub, "creditMemo", externalId=f"cm-{mine[0]['id']}") else []

    assert eventually(booked)
    hub.settle()
    [refund] = [r for r in sandbox.refunds() if r["payment_intent"] == intent["id"]]
    assert (refund["amount"], refund["reason"], refund["status"]) == (
        intent["amount"],
        "fraudulent",
        "succeeded",
    )
    assert len(records(hub, "creditMemo", externalId=f"cm-{refund['id']}")) == 1
    [task] = hub.cloud.sandboxes["hubspot"].tasks(deal_id)
    assert "Early fraud warning" in task["properties"]["hs_task_subject"]
    assert [r["requestId"] for r in facts(hub, intent["id"], "RefundRequested")] == [f"efw-{warning_id}"]
