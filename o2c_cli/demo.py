"""``o2c demo`` / ``make demo``: boot the embedded cloud, play webhooks from every provider over real HTTP
(Stripe, HubSpot and Salesforce from their sandboxes, the ERP) and partner-bus events, show what was
accepted, refused, routed and recorded, and exit 0 only if every outcome was the expected one."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from o2c_cli import crm_setup, demo_api, demo_subscriptions, erp_client, stripe_client
from o2c_cli.crm_scenarios import hubspot_deal, hubspot_us_deal, salesforce_opportunity, salesforce_stage
from o2c_cli.demo_debit import direct_debit
from o2c_cli.demo_radar import radar_and_wallets
from o2c_cli.http import Reply, request
from o2c_cli.targets import local_target
from o2c_cli.trace import as_text, trace
from shared.order_to_cash import erp_ids

USED_STRIPE_TYPES = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "payment_intent.payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.updated",
    "payout.paid",
    "payout.reconciliation_completed",
    "payment_intent.succeeded.jpy",
    "payment_intent.succeeded.kwd",
]


@dataclass
class Ctx:
    cloud: Any
    api: str
    stripe_secrets: list[str]
    erp_secret: str
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class Step:
    label: str
    send: Callable[[Ctx], Reply | tuple[int, str]]
    status: int
    outcome: str  # accepted | duplicate | ignored | ack | problem


def _outcome(status: int, body: str, content_type: str) -> str:
    if content_type.startswith("application/problem+json"):
        return "problem"
    if "<Ack>true</Ack>" in body:
        return "ack"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "?"
    return str(parsed.get("status")) if isinstance(parsed, dict) else "?"


def _stripe_steps() -> list[Step]:
    def send_sample(name: str) -> Callable[[Ctx], Reply]:
        return lambda c: stripe_client.send(c.api, stripe_client.sample(name), c.stripe_secrets[:1])

    steps = [Step(f"Stripe {name}", send_sample(name), 200, "accepted") for name in USED_STRIPE_TYPES]
    rotated = {**stripe_client.sample("payout.paid"), "id": "evt_1DemoRotatedSecret"}
    rotated["data"] = {"object": {**rotated["data"]["object"], "id": "po_1DemoPayout2"}}
    malformed = b'{"id": "evt_1DemoBroken", "type": "payment_intent.succeeded", '
    invoice = stripe_client.sample("invoice.paid")
    return [
        *steps,
        Step(
            "Stripe: same payment_intent.succeeded again (redelivery)",
            send_sample("payment_intent.succeeded"),
            200,
            "duplicate",
        ),
        Step(
            "Stripe: signed with the previous secret during rotation",
            lambda c: stripe_client.send(c.api, rotated, c.stripe_secrets[1:2]),
            200,
            "accepted",
        ),
        Step(
            "Stripe: customer.created (a type the hub does not use)",
            send_sample("customer.created"),
            200,
            "ignored",
        ),
        Step(
            "Stripe: stale signature (10 minutes old)",
            lambda c: stripe_client.send(
                c.api,
                {**invoice, "id": "evt_1DemoStale"},
                c.stripe_secrets[:1],
                timestamp=int(time.time()) - 600,
            ),
            401,
            "problem",
        ),
        Step(
            "Stripe: signed with a wrong secret",
            lambda c: stripe_client.send(c.api, {**invoice, "id": "evt_1DemoForged"}, ["whsec_forged"]),
            401,
            "problem",
        ),
        Step(
            "Stripe: no Stripe-Signature header",
            lambda c: request("POST", f"{c.api}/webhooks/stripe", json.dumps(invoice).encode()),
            401,
            "problem",
        ),
        Step(
            "Stripe: malformed JSON body (correctly signed)",
            lambda c: stripe_client.send(c.api, malformed, c.stripe_secrets[:1]),
            400,
            "problem",
        ),
        Step(
            "Stripe: body over the limit (300 KB)",
            lambda c: stripe_client.send(c.api, b"{" + b" " * 300000 + b"}", c.stripe_secrets[:1]),
            413,
            "problem",
        ),
        Step("unknown route", lambda c: request("POST", f"{c.api}/webhooks/paypal", b"{}"), 404, "problem"),
        Step("wrong method", lambda c: request("GET", f"{c.api}/webhooks/stripe"), 405, "problem"),
    ]


def _crm_steps() -> list[Step]:
    def hubspot_win(key: str, complete: bool) -> Callable[[Ctx], tuple[int, str]]:
        def run(c: Ctx) -> tuple[int, str]:
            sandbox = c.cloud.sandboxes["hubspot"]
            c.ids[key] = hubspot_deal(sandbox, complete=complete)
            return sandbox.win(c.ids[key])

        return run

    def salesforce_win(c: Ctx) -> tuple[int, str]:
        sandbox = c.cloud.sandboxes["salesforce"]
        c.ids["salesforce"] = salesforce_opportunity(sandbox)
        return sandbox.win(c.ids["salesforce"])

    return [
        Step(
            "HubSpot: deal moved to closed-won (signed v3 webhook from the sandbox)",
            hubspot_win("hubspot", True),
            200,
            "accepted",
        ),
        Step(
            "HubSpot: the same delivery again",
            lambda c: c.cloud.sandboxes["hubspot"].redeliver_last(),
            200,
            "duplicate",
        ),
        Step(
            "HubSpot: deal won for an account without billing address or VAT id",
            hubspot_win("hubspot_incomplete", False),
            200,
            "accepted",
        ),
        Step("Salesforce: opportunity Closed Won (Outbound Message)", salesforce_win, 200, "ack"),
        Step(
            "Salesforce: the same notification again (acked, not booked)",
            lambda c: c.cloud.sandboxes["salesforce"].redeliver_last(),
            200,
            "ack",
        ),
        Step(
            "Salesforce: Outbound Message from an unknown org",
            lambda c: request(
                "POST",
                f"{c.api}/webhooks/salesforce",
                (Path(__file__).resolve().parents[1] / "events/salesforce/outbound_message.xml")
                .read_bytes()
                .replace(b"00D5g000004DemoEAA", b"00D000000000001AAA"),
                {"Content-Type": "text/xml"},
            ),
            401,
            "problem",
        ),
        Step(
            "ERP: invoice posted (Standard Webhooks)",
            lambda c: erp_client.send(
                c.api, erp_client.sample("invoice.posted"), c.erp_secret, msg_id="msg_demo_inv"
            ),
            200,
            "accepted",
        ),
        Step(
            "ERP: the same webhook-id again",
            lambda c: erp_client.send(
                c.api, erp_client.sample("invoice.posted"), c.erp_secret, msg_id="msg_demo_inv"
            ),
            200,
            "duplicate",
        ),
    ]


def _play(ctx: Ctx, steps: list[Step], failures: list[str]) -> None:
    for step in steps:
        result = step.send(ctx)
        if isinstance(result, Reply):
            status, body, content_type = result.status, result.text, result.content_type
        else:
            status, body = result
            content_type = "application/problem+json" if body.lstrip().startswith('{"type"') else ""
        outcome = _outcome(status, body, content_type)
        ok = status == step.status and outcome == step.outcome
        print(f"  [{'ok' if ok else 'FAIL'}] {status} {outcome:<9} {step.label}")
        if not ok:
            failures.append(f"{step.label}: got {status} {outcome}, expected {step.status} {step.outcome}")


def _expect_once(entries: list[Any], detail_type: str, what: str, failures: list[str]) -> dict[str, Any]:
    matching = [e for e in entries if e.detail_type == detail_type]
    if len(matching) != 1:
        failures.append(f"{what}: {len(matching)} {detail_type} event(s), expected exactly 1")
        return {}
    return dict(matching[0].data)


def _show(target: Any, the_id: str) -> list[Any]:
    from o2c_cli.trace import executions_of

    entries = trace(target, the_id)
    print(f"\n$ o2c trace {the_id}")
    print(
        "\n".join(
            "  " + line for line in as_text(the_id, entries, executions_of(target, entries)).splitlines()
        )
    )
    return entries


def _quote_to_cash(cloud: Any, target: Any, ctx: Ctx, failures: list[str]) -> None:
    """The won deals above are carried to paid invoices; one card is declined and replaced; the ERP has
    an outage; a redelivered win changes nothing. Checks the final state of every sandbox."""
    from o2c_cli import playbook
    from o2c_cli.executions import state_of

    hubspot, salesforce, stripe, netsuite = (
        cloud.sandboxes[k] for k in ("hubspot", "salesforce", "stripe", "netsuite")
    )
    deals = {
        "HubSpot deal": f"hubspot-{ctx.ids['hubspot']}",
        "Salesforce opportunity": f"salesforce-{ctx.ids['salesforce']}",
    }
    declined_deal = hubspot_deal(hubspot, name="Globex - declined card first")
    hubspot.win(declined_deal)
    deals["deal with a declined card"] = f"hubspot-{declined_deal}"
    netsuite.fail_next(503, count=4)  # the ERP is down for a while
    outage_deal = hubspot_deal(hubspot, name="Initech - during an ERP outage")
    hubspot.win(outage_deal)
    deals["deal during an ERP outage"] = f"hubspot-{outage_deal}"

    def step(label: str, action: Callable[[], Any]) -> None:
        try:
            action()
            print(f"  [ok] {label}")
        except AssertionError as exc:
            print(f"  [FAIL] {label}: {exc}")
            failures.append(f"{label}: {exc}")

    def saves_card(name: str, card: str, state: str = "WaitForPaymentMethod") -> Callable[[], Any]:
        return lambda: playbook.save_card(cloud, target, name, card, state=state)

    def is_paid(name: str) -> Callable[[], Any]:
        return lambda: playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)

    for label, name in deals.items():
        # Stripe's 4000 0000 0000 0341: saved fine, declined when charged (other declining cards are
        # refused when they are saved, before the hub ever charges them)
        card = "pm_card_chargeCustomerFail" if "declined" in label else "pm_card_visa"
        step(f"{label}: the customer saves a card ({card})", saves_card(name, card))
    step(
        "deal with a declined card: on hold, the customer saves another card",
        lambda: playbook.save_card(
            cloud, target, deals["deal with a declined card"], "pm_card_visa", state="WaitForNewPaymentMethod"
        ),
    )
    status, body = hubspot.redeliver_last()
    dup = json.loads(body).get("status") if status == 200 else status
    print(f"  [{'ok' if dup == 'duplicate' else 'FAIL'}] HubSpot redelivers the last win: {dup}")
    if dup != "duplicate":
        failures.append(f"redelivered win answered {dup}")
    for label, name in deals.items():
        step(f"{label}: paid", is_paid(name))
    step(
        "incomplete deal: waiting for sales operations",
        lambda: playbook.wait_until(
            target, f"hubspot-{ctx.ids['hubspot_incomplete']}", state="WaitForAccountFix"
        ),
    )

    print("\nTimelines:")
    for label, name in deals.items():
        states = playbook.timeline(target, name)
        shown = " → ".join(s for _, s in states if not s.startswith("Publish"))
        print(
            f"  {label} ({name}, {states[-1][0]:.1f} s):\n    {shown}"
            if states
            else f"  {label}: no execution"
        )
        final = state_of(target, name)
        if final is None or final.current_state != "Paid":
            failures.append(f"{label} did not end Paid: {final.line() if final else 'no execution'}")
        opportunity = name.split("-", 1)[1]
        invoices = [
            r for r in netsuite.records("invoice") if r["externalId"] == erp_ids.invoice(*name.split("-", 1))
        ]
        if [i["status"]["id"] for i in invoices] != ["B"]:  # Paid In Full
            failures.append(
                f"{label}: ERP invoices {[i['status'] for i in invoices]}, expected one paid in full"
            )
        intents = [
            p["status"]
            for p in stripe.payment_intents()
            if p["metadata"].get("o2c_opportunity_id") == opportunity
        ]
        if intents.count("succeeded") != 1:
            failures.append(f"{label}: Stripe payment intents {intents}, expected exactly one succeeded")
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=target.state_machine_arn)[
        "executions"
    ]
    if [e["name"] for e in executions].count(deals["deal during an ERP outage"]) != 1:
        failures.append("the redelivered win started a second execution")
    if salesforce.opportunity(ctx.ids["salesforce"])["fields"].get("Payment_Status__c") != "paid":
        failures.append("Salesforce opportunity was not written back as paid")
    if hubspot.deal(ctx.ids["hubspot"])["properties"].get("o2c_payment_status") != "paid":
        failures.append("HubSpot deal was not written back as paid")


def _after_sale(cloud: Any, target: Any, ctx: Ctx, failures: list[str]) -> None:
    """A refund, a dispute, a renewal and a payout on the paid deals; reconciled to zero exceptions; then an
    ERP invoice edited behind the hub's back is caught by the reconciliation."""
    from o2c_cli.after_sale_commands import reconcile, render, request_refund

    stripe, netsuite = cloud.sandboxes["stripe"], cloud.sandboxes["netsuite"]

    def intent_of(opportunity: str) -> dict[str, Any]:
        return next(
            p
            for p in stripe.payment_intents()
            if p["metadata"].get("o2c_opportunity_id") == opportunity and p["status"] == "succeeded"
        )

    def check(label: str, ok: bool) -> None:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
        if not ok:
            failures.append(label)

    hubspot_intent, salesforce_intent = intent_of(ctx.ids["hubspot"]), intent_of(ctx.ids["salesforce"])
    request_refund(target, hubspot_intent["id"], "100.00", reason="requested_by_customer", by="demo")
    dispute = stripe.open_dispute(salesforce_intent["latest_charge"], reason="product_not_received")
    subscription = stripe.create_subscription(
        hubspot_intent["customer"],
        9900,
        "eur",
        "month",
        {"o2c_correlation_id": f"hubspot:{ctx.ids['hubspot']}"},
    )
    renewal = stripe.renew(subscription)
    cloud.wait_until_idle(timeout=90)
    stripe.close_dispute(dispute, "won")
    cloud.wait_until_idle(timeout=90)
    payout = stripe.create_payout("eur")
    cloud.wait_until_idle(timeout=120)

    refunds = [r for r in stripe.refunds() if r["payment_intent"] == hubspot_intent["id"]]
    credits = [
        r
        for r in netsuite.records("creditMemo")
        if refunds and r["externalId"] == erp_ids.credit_memo(refunds[0]["id"])
    ]
    check(
        "o2c refund 100.00 EUR: Stripe refund → ERP credit memo and customer refund",
        len(refunds) == 1 and len(credits) == 1,
    )
    returns = [
        d
        for d in cloud.sandboxes["avatax"].documents
        if refunds and d["code"] == erp_ids.tax_return(refunds[0]["id"])
    ]
    check(
        "the refund's share of the VAT: reversed on the credit memo, returned in AvaTax",
        len(credits) == 1
        and credits[0]["taxTotal"] > 0
        and len(returns) == 1
        and returns[0]["totalTax"] == -credits[0]["taxTotal"],
    )
    invoiced = [
        r
        for r in netsuite.records("invoice")
        if r["externalId"] == erp_ids.invoice("hubspot", ctx.ids["hubspot"])
    ]
    sales = [
        d for d in cloud.sandboxes["avatax"].documents if invoiced and d["code"] == invoiced[0]["externalId"]
    ]
    check(
        "the sale recorded in AvaTax as invoiced (a committed SalesInvoice with the invoice's tax), the return "
        "referencing it",
        len(sales) == 1
        and (sales[0]["type"], sales[0]["status"]) == ("SalesInvoice", "Committed")
        and sales[0]["totalTax"] == invoiced[0]["taxTotal"]
        and len(returns) == 1
        and returns[0].get("referenceCode") == sales[0]["code"],
    )
    check(
        "chargeback: ERP dispute hold, a task for the deal owner in Salesforce, won → hold cancelled",
        len(cloud.sandboxes["salesforce"].tasks(ctx.ids["salesforce"])) == 1
        and [r["externalId"] for r in netsuite.records("returnAuthorization")]
        == [erp_ids.dispute_hold(dispute)],
    )
    # a Stripe Invoice names no PaymentIntent: its InvoicePayment does, and the ERP payment carries it
    [renewal_payment] = [p for p in stripe.invoice_payments() if p["invoice"] == renewal]
    renewal_intent = renewal_payment["payment"]["payment_intent"]
    check(
        "subscription renewal: one ERP invoice for the period with its payment applied (pay-<PaymentIntent>)",
        len([r for r in netsuite.records("invoice") if r["externalId"] == erp_ids.renewal_invoice(renewal)])
        == 1
        and len(
            [
                r
                for r in netsuite.records("customerPayment")
                if r["externalId"] == erp_ids.payment(renewal_intent)
            ]
        )
        == 1,
    )
    deposits = [r for r in netsuite.records("deposit") if r["externalId"] == erp_ids.deposit(payout)]
    [paid_out] = [p for p in stripe.payouts() if p["id"] == payout]
    check(
        f"payout {payout} of {paid_out['amount'] / 100:.2f} EUR (the renewal's charge in it): one ERP deposit "
        "equal to it, once Stripe has reconciled the payout",
        len(deposits) == 1
        and str(deposits[0]["total"]) == f"{paid_out['amount'] / 100:.2f}"
        and paid_out["reconciliation_status"] == "completed",
    )
    _converted_payment(cloud, target, check)

    print("\n$ o2c reconcile")
    clean = reconcile(target, None, publish=False)
    print("\n".join("  " + line for line in render(clean, "table").splitlines()))
    check("a clean day reconciles to zero exceptions", clean["exceptions"] == [])

    invoice = next(
        r
        for r in netsuite.records("invoice")
        if r["externalId"] == erp_ids.invoice("hubspot", ctx.ids["hubspot"])
    )
    netsuite.edit("invoice", str(invoice["id"]), total="30000.00")
    print(f"\n(someone edits ERP invoice {invoice['tranId']} to 30,000.00 by hand)\n$ o2c reconcile")
    drifted = reconcile(target, None, publish=True)
    print("\n".join("  " + line for line in render(drifted, "table").splitlines()))
    check(
        "the reconciliation catches the edited invoice",
        [(e["kind"], e["erpInvoiceId"]) for e in drifted["exceptions"]]
        == [("amount_differs", str(invoice["id"]))],
    )


def _converted_payment(cloud: Any, target: Any, check: Callable[[str, bool], None]) -> None:
    """A US customer pays in yen; the Stripe account settles JPY into USD: the ERP (USD books) records the
    payment at Stripe's rate, and the USD payout's deposit ties out with a currency conversion fee line."""
    from decimal import Decimal

    from o2c_cli import playbook

    stripe, netsuite, hubspot = (cloud.sandboxes[k] for k in ("stripe", "netsuite", "hubspot"))
    stripe.settle_into("jpy", "usd", "0.0067")
    deal = hubspot_us_deal(hubspot, currency="JPY", price="150000", name="Contoso - Tokyo office")
    hubspot.win(deal)
    name = f"hubspot-{deal}"
    try:
        playbook.save_card(cloud, target, name)
        playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    except AssertionError as exc:
        check(f"¥ deal of a US customer paid: {exc}", False)
        return
    [intent] = [p for p in stripe.payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal]
    payments = [
        r for r in netsuite.records("customerPayment") if r["externalId"] == erp_ids.payment(intent["id"])
    ]
    payout = stripe.create_payout("usd")
    cloud.wait_until_idle(timeout=120)
    [paid_out] = [p for p in stripe.payouts() if p["id"] == payout]
    deposits = [r for r in netsuite.records("deposit") if r["externalId"] == erp_ids.deposit(payout)]
    check(
        f"¥{intent['amount']:,} paid by a US customer: the ERP's USD books record it at Stripe's rate 0.0067",
        len(payments) == 1 and Decimal(str(payments[0].get("exchangeRate"))) == Decimal("0.0067"),
    )
    check(
        f"payout {payout} of {paid_out['amount'] / 100:.2f} USD (converted from JPY): one ERP deposit equal "
        "to it, with Stripe's currency conversion fee as its own line",
        len(deposits) == 1
        and str(deposits[0]["total"]) == f"{paid_out['amount'] / 100:.2f}"
        and any("conversion" in str(line.get("memo")) for line in deposits[0]["cashback"]["items"]),
    )


def _preflight(state: Path, failures: list[str]) -> None:
    """What a user does before pointing vendors at a stage: o2c doctor (a new CRM lacks the hub's fields,
    and only that may fail), o2c setup crm, o2c doctor again (everything must pass)."""
    from o2c_cli import doctor

    def diagnose() -> list[doctor.Finding]:
        target = local_target(state)
        return doctor.diagnose(doctor.local_stage(target, target.local_info))

    print("Preflight, as a user runs it before taking traffic (o2c doctor):")
    before = [f for f in diagnose() if not f.ok]
    for finding in before:
        print(f"  [..] {finding.check}: {finding.detail[:150]}")
    unexpected = [f for f in before if not f.check.startswith("crm")]
    if not before or unexpected:
        failures.append(
            "o2c doctor on a new cloud: expected only the CRM fields to fail, got "
            + (", ".join(f.check for f in unexpected) or "no failure")
        )
    print("CRM setup (o2c setup crm):")
    for status in crm_setup.setup_crm(local_target(state)):
        print(f"  {status.line()}")
        if not status.ok:
            failures.append(f"o2c setup crm: {status.line()}")
    after = diagnose()
    failing = [f for f in after if not f.ok]
    print(f"o2c doctor again: {len(after) - len(failing)} ok, {len(failing)} failing")
    failures.extend(f"o2c doctor after setup: {f.check}: {f.detail}" for f in failing)


def run_demo(state_dir: Path | None = None) -> int:
    from localcloud import LocalCloud

    state = state_dir or Path(tempfile.mkdtemp(prefix="o2c-demo-"))
    print(
        "O2C Hub demo: booting the embedded local cloud (moto, API front, functions, queues, CRM sandboxes) ..."
    )
    failures: list[str] = []
    # The scenario expects an empty cloud: always fresh, even on a state dir kept from an earlier run.
    with LocalCloud(api_port=0, aws_port=0, state_dir=state, fresh=True) as cloud:
        secrets = cloud.local_json["secrets"]
        ctx = Ctx(
            cloud=cloud,
            api=cloud.api_url,
            stripe_secrets=secrets["stripe_webhook"],
            erp_secret=secrets["erp_webhook"],
        )
        print(
            f"  API {cloud.api_url}   AWS {cloud.aws_endpoint_url}   sandboxes {', '.join(cloud.sandboxes)}"
        )
        print(f"  function logs in {cloud.logs_dir}\n")
        _preflight(state, failures)
        print("\nStripe webhooks over HTTP:")
        _play(ctx, _stripe_steps(), failures)
        print("\nCRM and ERP webhooks over HTTP:")
        _play(ctx, _crm_steps(), failures)

        print("\nPartner event buses (no HTTP):")
        destination = stripe_client.sample("payment_intent.succeeded")
        cloud.inject_partner_event("StripePartnerBus", destination["type"], destination)
        print("  [..] Stripe event destination re-delivers evt_1Demo0002... (already received by webhook)")
        relay_opportunity = salesforce_opportunity(cloud.sandboxes["salesforce"], name="Fabrikam - relay")
        # won in Salesforce first: the hub re-reads the opportunity and ignores a "won" event it is not
        salesforce_stage(cloud.sandboxes["salesforce"], relay_opportunity)
        cloud.inject_partner_event(
            "SalesforcePartnerBus",
            "O2C_Opportunity_Won__e",
            {
                "payload": {"OpportunityId__c": relay_opportunity},
                "schemaId": "0XSdemo",
                "id": str(uuid.uuid4()),
            },
        )
        print(f"  [..] Salesforce Event Relay: O2C_Opportunity_Won__e for {relay_opportunity}")

        target = local_target(state)
        print("\nQuote-to-cash (Step Functions, one execution per deal, named after it):")
        _quote_to_cash(cloud, target, ctx, failures)
        print("\nAfter the sale (refund, chargeback, renewal, payout) and three-way reconciliation:")
        _after_sale(cloud, target, ctx, failures)
        print("\nA subscription + services deal (one Stripe subscription, revenue dates in the ERP):")
        demo_subscriptions.subscription_deal(cloud, target, failures)
        radar_and_wallets(cloud, target, failures)  # o2c_cli/demo_radar.py
        print("\nThe /v1 API as a partner's checkout uses it (OAuth client credentials, Idempotency-Key):")
        demo_api.api_demo(cloud, target, failures)
        direct_debit(cloud, target, failures)

        cloud.wait_until_idle(timeout=90)
        print("\nWhat was routed through EventBridge → SQS and recorded:")
        payment = _show(target, "pi_3DemoAbc123")
        for detail_type in ("PaymentAuthorized", "PaymentCaptured", "RefundSettled", "DisputeOpened"):
            _expect_once(payment, detail_type, "payment pi_3DemoAbc123", failures)
        if {e.event_id for e in trace(target, "006Dn00000DemoOpp1")} != {e.event_id for e in payment}:
            failures.append("tracing by the CRM opportunity id does not show the payment's history")

        won = _expect_once(
            _show(target, ctx.ids.get("hubspot", "?")), "OpportunityClosedWon", "HubSpot deal", failures
        )
        if won and not won.get("complete"):
            failures.append("the complete HubSpot deal was flagged incomplete")
        held = _expect_once(
            trace(target, ctx.ids.get("hubspot_incomplete", "?")),
            "OpportunityClosedWon",
            "incomplete HubSpot deal",
            failures,
        )
        print(
            f"\n  incomplete deal {ctx.ids.get('hubspot_incomplete')}: missing {', '.join(held.get('missingFields', []))}"
        )
        if held.get("complete") is not False:
            failures.append("the incomplete HubSpot deal was not flagged")
        sf = _expect_once(
            _show(target, ctx.ids.get("salesforce", "?")),
            "OpportunityClosedWon",
            "Salesforce opportunity",
            failures,
        )
        if sf and sf.get("crmSystem") != "salesforce":
            failures.append("the Salesforce opportunity was not recorded as such")
        _expect_once(
            trace(target, relay_opportunity), "OpportunityClosedWon", "Event Relay opportunity", failures
        )
        _expect_once(trace(target, "90211"), "InvoicePosted", "ERP invoice 90211", failures)

        from o2c_cli.dlq import list_dead_letters

        parked = sum(s.depth for s in list_dead_letters(target, peek=0))
        print(f"\nDead letters: {parked}")
        if parked:
            failures.append(f"{parked} message(s) in a DLQ")
        from o2c_cli.pending import line, waiting

        still_waiting = waiting(target)
        print(f"Facts waiting for another fact (o2c pending list): {len(still_waiting)}")
        for item in still_waiting:
            print("  " + line(item))
        if still_waiting:
            failures.append(f"{len(still_waiting)} fact(s) still waiting")

        _warehouse(target, failures)

        if failures:
            print("\nDEMO FAILED:\n  " + "\n  ".join(failures))
        else:
            print("\nEvery outcome was the expected one.")
        _open_console(target)
    return 1 if failures else 0


def _warehouse(target: Any, failures: list[str]) -> None:
    """The demo's events in the warehouse feed, through one saved query (README "Warehouse")."""
    from o2c_cli import sql

    print("\n$ o2c sql --saved time-to-cash-by-month")
    result = sql.query(target, sql.saved_sql("time-to-cash-by-month"))
    print("\n".join("  " + line for line in sql.render(result).splitlines()))
    if not result.rows:
        failures.append("the warehouse feed has no paid deal")


def _open_console(target: Any) -> None:
    """The demo's last lines: where to open the operations console on the state the demo left. In a
    terminal the local cloud and the console stay up until Enter (or Ctrl-C); otherwise (CI) they stop with
    the demo."""
    import sys

    from o2c_cli.console.server import DEFAULT_PORT, Console

    try:
        console = Console(target, DEFAULT_PORT)
    except OSError:  # the default port is taken (another console): any free one
        console = Console(target, 0)
    with console:
        print(f"\nopen the console: {console.url}", flush=True)
        if not sys.stdin.isatty():
            print("  (it stops with the demo; in a terminal it stays up until Enter)", flush=True)
            return
        print("  (the local cloud and the console stay up until you press Enter)", flush=True)
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input()
