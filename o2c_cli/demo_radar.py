"""The demo's part for wallets and Stripe Radar (issue 17): a customer pays from Apple Pay and the ERP payment and
the CRM deal say so; a card Radar rates highest-risk waits for a person with the reason, then is approved and
paid. Every line is checked; a failure is added to ``failures``."""

from __future__ import annotations

from typing import Any

from o2c_cli import playbook
from o2c_cli.crm_scenarios import hubspot_deal
from o2c_cli.executions import approve
from o2c_cli.trace import trace
from shared.order_to_cash import erp_ids


def radar_and_wallets(cloud: Any, target: Any, failures: list[str]) -> None:
    print("\nWallets and fraud signals (Apple Pay; Stripe Radar's risk on the authorization):")
    stripe, netsuite, hubspot = (cloud.sandboxes[k] for k in ("stripe", "netsuite", "hubspot"))

    def check(label: str, ok: bool) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
        if not ok:
            failures.append(label)

    def intent_of(deal: str) -> dict[str, Any]:
        return next(p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal)

    wallet_deal = hubspot_deal(hubspot, name="Litware - paid with Apple Pay")
    risky_deal = hubspot_deal(hubspot, name="Tailspin - risky card")
    hubspot.win(wallet_deal)
    hubspot.win(risky_deal)
    wallet_name, risky_name = f"hubspot-{wallet_deal}", f"hubspot-{risky_deal}"
    try:
        playbook.save_wallet_card(cloud, target, wallet_name, "apple_pay")
        playbook.save_card(cloud, target, risky_name, "pm_card_riskLevelHighest")
        playbook.wait_until(target, wallet_name, status="SUCCEEDED", timeout=180)
        waiting = playbook.wait_until(target, risky_name, state="WaitForApproval", timeout=180)
    except AssertionError as exc:
        check(f"wallet and risky deals: {exc}", False)
        return

    intent = intent_of(wallet_deal)
    payments = [
        r for r in netsuite.records("customerPayment") if r["externalId"] == erp_ids.payment(intent["id"])
    ]
    crm_wallet = hubspot.deal(wallet_deal)["properties"].get("o2c_payment_wallet")
    check(
        f"{wallet_name} paid with Apple Pay: ERP payment memo {payments[0]['memo'] if payments else None!r}, "
        f"CRM deal o2c_payment_wallet {crm_wallet!r}",
        len(payments) == 1 and payments[0]["memo"].endswith("(Apple Pay)") and crm_wallet == "Apple Pay",
    )
    cloud.wait_until_idle(timeout=60)
    holds = [e.data for e in trace(target, risky_deal) if e.detail_type == "OrderOnHold"]
    reason = holds[0] if holds else {}
    check(
        f"{risky_name} (33,986.40 EUR, below the approval threshold) waits on {waiting.waiting_on}: "
        f"reason {reason.get('reason')}, Radar risk {reason.get('riskLevel')} ({reason.get('riskScore')})",
        waiting.waiting_on == f"approval:{risky_name}"
        and (reason.get("reason"), reason.get("riskLevel")) == ("fraud_risk", "highest"),
    )
    print(f"  $ o2c approve {risky_deal} --by risk-team")
    approve(target, risky_name, approved=True, by="risk-team")
    try:
        playbook.wait_until(target, risky_name, status="SUCCEEDED", timeout=180)
        check(f"{risky_name} approved by the risk team, captured and paid", True)
    except AssertionError as exc:
        check(f"{risky_name} approved and paid: {exc}", False)
