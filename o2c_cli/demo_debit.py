"""Demo part: a SEPA Direct Debit deal. The customer saves a German bank account with its mandate; the hub
invoices, submits the debit (``processing``), and the order is paid only when the bank's answer comes, five
days later on the Stripe sandbox's clock (advanced here: no real waiting). Checked: a failure exits 1."""

from __future__ import annotations

from typing import Any

from o2c_cli.crm_scenarios import hubspot_deal
from shared.order_to_cash import erp_ids

#: Stripe's test IBAN whose debit succeeds after processing.
SEPA_SUCCEEDS = "DE89370400440532013000"


def direct_debit(cloud: Any, target: Any, failures: list[str]) -> None:
    from o2c_cli import playbook

    hubspot, stripe, netsuite = (cloud.sandboxes[k] for k in ("hubspot", "stripe", "netsuite"))
    print("\nDirect debit (SEPA): invoiced, debited under the customer's mandate, paid days later:")

    def check(label: str, ok: bool) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
        if not ok:
            failures.append(f"direct debit: {label}")

    deal = hubspot_deal(hubspot, name="Umbrella GmbH - SEPA")
    hubspot.win(deal)
    name = f"hubspot-{deal}"
    try:
        playbook.save_bank_account(cloud, target, name, iban=SEPA_SUCCEEDS, holder="Umbrella GmbH")
        playbook.wait_until(target, name, state="WaitForDebitOutcome", timeout=180)
    except AssertionError as exc:
        check(f"the customer saves a SEPA mandate and the debit is submitted: {exc}", False)
        return
    [debit] = [p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal]
    invoices = [r for r in netsuite.records("invoice") if r["externalId"] == erp_ids.invoice("hubspot", deal)]
    check(
        f"mandate saved ({SEPA_SUCCEEDS[:4]}...{SEPA_SUCCEEDS[-4:]}); invoice posted; debit {debit['id']} "
        f"of {debit['amount'] / 100:,.2f} EUR is {debit['status']}",
        debit["status"] == "processing" and len(invoices) == 1 and invoices[0]["status"]["id"] != "B",
    )
    settled = stripe.advance_clock(5 * 86400)
    try:
        playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    except AssertionError as exc:
        check(f"five days later the bank pays: {exc}", False)
        return
    invoices = [r for r in netsuite.records("invoice") if r["externalId"] == erp_ids.invoice("hubspot", deal)]
    payments = [
        r for r in netsuite.records("customerPayment") if r["externalId"] == erp_ids.payment(debit["id"])
    ]
    check(
        "five days later (sandbox clock) the debit succeeded: the ERP invoice is paid in full, the payment "
        "applied once, the deal shows paid",
        settled == [debit["id"]]
        and [i["status"]["id"] for i in invoices] == ["B"]
        and len(payments) == 1
        and hubspot.deal(deal)["properties"].get("o2c_payment_status") == "paid",
    )
