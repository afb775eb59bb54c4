"""The work of each quote-to-cash step, as plain functions over the connectors (ports), so the Lambda
handlers stay thin and the logic is tested without AWS. Every write carries an external id or an
idempotency key derived from the deal, so a retry after an unknown outcome never books twice."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.crm.models import Address, CrmOpportunity
from shared.money import Money, charge_step, erp_step, round_to_step
from shared.order_to_cash import erp_ids
from shared.order_to_cash.ports import (
    Crm,
    Erp,
    OrderLine,
    Payments,
    SaleLine,
    Settlement,
    Tax,
    TaxLine,
)

if TYPE_CHECKING:
    from decimal import Decimal

# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subsidiary:
    subsidiary_id: str
    currency: str


def subsidiaries_from_env(raw: str | None = None) -> dict[str, Subsidiary]:
    """``ERP_SUBSIDIARIES``: region → subsidiary and its currency (OneWorld multi-entity), ``*`` = default."""
    data = json.loads(
        raw
        if raw is not None
        else os.environ.get("ERP_SUBSIDIARIES", '{"*": {"subsidiaryId": "1", "currency": "USD"}}')
    )
    return {region: Subsidiary(v["subsidiaryId"], v["currency"]) for region, v in data.items()}


def subsidiary_for(opportunity: CrmOpportunity, table: Mapping[str, Subsidiary]) -> Subsidiary:
    region = opportunity.account.region or ""
    return table.get(region) or table["*"]


def approval_threshold(currency: str, raw: str | None = None) -> int | None:
    """``APPROVAL_THRESHOLDS``: currency → minor units above which a person approves the order."""
    data = json.loads(raw if raw is not None else os.environ.get("APPROVAL_THRESHOLDS", "{}"))
    value = data.get(currency, data.get("*"))
    return int(value) if value is not None else None


def money(value: Mapping[str, Any]) -> Money:
    return Money.parse(value)


def dump(m: Money) -> dict[str, Any]:
    return m.dump()


# --- CRM -----------------------------------------------------------------------------------------


def recheck_opportunity(
    crm: Crm, opportunity: CrmOpportunity, closed_won_stages: Collection[str]
) -> dict[str, Any]:
    """A held deal re-read after the hold is released: the fresh snapshot and its completeness, and whether
    the CRM still has it won (``wonInCrm``, its ``crmStage``) — the rule ingress applies to a win (issue 11):
    a deal moved back to another stage while held is not booked. Not won: no snapshot is read."""
    from shared.crm.closed_won import is_closed_won, read_state_and_opportunity
    from shared.crm.completeness import missing_fields

    state, read_opportunity = read_state_and_opportunity(crm, opportunity.opportunityId)
    if not is_closed_won(state, closed_won_stages):
        return {"wonInCrm": False, "crmStage": state.stage[:100]}
    fresh = read_opportunity()
    missing = missing_fields(fresh)
    return {
        "opportunity": fresh.dump(),
        "complete": not missing,
        "missingFields": missing,
        "wonInCrm": True,
        "crmStage": state.stage[:100],
    }


# --- ERP -----------------------------------------------------------------------------------------


def ensure_erp_customer(
    erp: Erp, opportunity: CrmOpportunity, subsidiaries: Mapping[str, Subsidiary]
) -> dict[str, Any]:
    sub = subsidiary_for(opportunity, subsidiaries)
    account = opportunity.account
    billing_email = next((c.email for c in opportunity.contacts if c.email), None)
    ref = erp.upsert_customer(
        erp_ids.customer(opportunity.crmSystem, opportunity.account.accountId),
        company_name=account.name,
        email=billing_email,
        subsidiary_id=sub.subsidiary_id,
        currency=account.currency or opportunity.amount.currency,
        billing_address=account.billingAddress,
        tax_id=account.taxId,
    )
    return {
        "erpCustomerId": ref.id,
        "externalId": ref.external_id,
        "subsidiaryId": sub.subsidiary_id,
        "subsidiaryCurrency": sub.currency,
    }


def order_total(opportunity: CrmOpportunity, tax_total: Money) -> Money:
    total = Money.of(0, opportunity.amount.currency)
    for line in opportunity.lines:
        total = total + line.amount
    return total + tax_total


def create_sales_order(
    erp: Erp, opportunity: CrmOpportunity, customer: Mapping[str, Any], tax: Mapping[str, Any]
) -> dict[str, Any]:
    """The ERP order of the deal. Its total is what is charged: in a currency that NetSuite keeps to fewer
    decimals than ISO (KWD: 2 of 3) or that Stripe takes only in steps (KWD: multiples of 10 fils), the
    deal's exact total is rounded to ``charge_step`` and the difference is never lost: the lines go to
    NetSuite at its precision and one explicit rounding line makes the order's total equal the charge;
    ``rounding`` (charged - exact) goes on the ``OrderCreated`` event."""
    from shared.order_to_cash import subscriptions

    tax_by_line = {int(t["number"]): money(t["tax"]) for t in tax["lines"]}
    currency = opportunity.amount.currency
    step = erp_step(currency)
    # a subscription deal: each line's revenue recognition dates (shared.order_to_cash.subscriptions); else none
    terms = subscriptions.plan(opportunity)
    lines = [
        OrderLine(
            quantity=line.quantity,
            rate=round_to_step(line.unitPrice, step),
            amount=round_to_step(line.amount, step),
            tax=round_to_step(tax_by_line.get(number, Money.of(0, currency)), step),
            item_external_id=line.sku,
            name=line.name,
            **subscriptions.rev_rec_fields(opportunity, line, terms),
        )
        for number, line in enumerate(opportunity.lines, start=1)
    ]
    tax_total = money(tax["totalTax"])
    exact = order_total(opportunity, tax_total)
    charged = round_to_step(exact, charge_step(currency))
    booked = sum((line.amount.amount + line.tax.amount for line in lines), 0)
    difference = Money.of(charged.amount - booked, currency)
    if difference.amount:
        lines.append(
            OrderLine(
                quantity=1,
                rate=difference,
                amount=difference,
                tax=Money.of(0, currency),
                name=f"Rounding ({charged.format()} charged for {exact.format()})",
                rounding=True,
            )
        )
    ref = erp.upsert_sales_order(
        erp_ids.sales_order(opportunity.crmSystem, opportunity.opportunityId),
        customer_id=customer["erpCustomerId"],
        subsidiary_id=customer["subsidiaryId"],
        currency=currency,
        lines=lines,
        memo=f"{opportunity.crmSystem} opportunity {opportunity.opportunityId}: {opportunity.name}",
    )
    return {
        "erpOrderId": ref.id,
        "externalId": ref.external_id,
        "documentNumber": ref.document_number,
        "total": dump(charged),
        "tax": dump(tax_total),
        "rounding": dump(Money.of(charged.amount - exact.amount, currency)),
        **({"recurring": True} if terms is not None else {}),
    }


def create_invoice(erp: Erp, order: Mapping[str, Any]) -> dict[str, Any]:
    """NetSuite bills approved orders only: the order is approved (Pending Fulfillment) and invoiced in
    advance; it is released to fulfilment once the payment is applied (``activate_order``)."""
    erp.activate_sales_order(order["erpOrderId"])
    # the invoice's number is read with its date and lines, in one GET (``invoiced``)
    ref = erp.invoice_sales_order(
        order["erpOrderId"], external_id=erp_ids.invoice_of_order(order["externalId"]), read_number=False
    )
    sold = invoiced(erp, ref.id)
    return {
        "erpInvoiceId": ref.id,
        "externalId": ref.external_id,
        "documentNumber": ref.document_number or sold.pop("tranId", None),
        **{k: v for k, v in sold.items() if k != "tranId"},
    }


def invoiced(erp: Erp, invoice_id: str) -> dict[str, Any]:
    """What the ERP invoice says was sold, for the tax engine's record of the sale: its date and its lines'
    net and tax as the ERP holds them (and its document number, ``tranId``, when read in the same GET)."""
    record, lines = erp.invoice_with_lines(invoice_id)
    number = record.get("tranId")
    return {
        "tranDate": str(record.get("tranDate") or datetime.now(UTC).date().isoformat())[:10],
        "lines": [
            {
                "number": n,
                "amount": dump(line.amount),
                "tax": dump(line.tax),
                "quantity": line.quantity,
                **({"rounding": True} if line.rounding else {}),
            }
            for n, line in enumerate(lines, start=1)
        ],
        **({"tranId": str(number)} if number else {}),
    }


def apply_payment(
    erp: Erp,
    customer: Mapping[str, Any],
    invoice: Mapping[str, Any],
    order: Mapping[str, Any],
    payment_intent_id: str,
    settlement: Settlement | None = None,
    wallet: str | None = None,
) -> dict[str, Any]:
    """The captured payment applied to the invoice; its memo names Stripe's payment and, for a wallet card
    (``wallet``: ``apple_pay``, ``google_pay``), the wallet. A payment in another currency than the subsidiary's
    that Stripe converted into the subsidiary's currency (``settlement``, from ``settlement_of``) is
    recorded at Stripe's exchange rate, so the ERP books in its own currency what Stripe actually settled
    (and the payout's deposit ties out without an exchange difference)."""
    total = money(order["total"])
    rate = exchange_rate_for(total.currency, str(customer.get("subsidiaryCurrency") or ""), settlement)
    ref = erp.apply_customer_payment(
        erp_ids.payment(payment_intent_id),
        customer_id=customer["erpCustomerId"],
        invoice_id=invoice["erpInvoiceId"],
        amount=total,
        currency=total.currency,
        memo=payment_memo(payment_intent_id, wallet),
        exchange_rate=rate,
    )
    out: dict[str, Any] = {"erpPaymentId": ref.id, "externalId": ref.external_id}
    if rate is not None and settlement is not None:
        out |= {"exchangeRate": str(rate), "settled": dump(settlement.settled)}
    return out


def payment_memo(payment_intent_id: str, wallet: str | None = None) -> str:
    """``Stripe pi_...``, and `` (Apple Pay)`` when the card was a wallet's."""
    from shared.order_to_cash.fraud import wallet_label

    label = wallet_label(wallet)
    return f"Stripe {payment_intent_id}" + (f" ({label})" if label else "")


def exchange_rate_for(
    payment_currency: str, subsidiary_currency: str, settlement: Settlement | None
) -> Decimal | None:
    """Stripe's rate when it converted the payment into the subsidiary's currency, else None (same
    currency: no rate; settled in a third currency: the ERP's own rate applies)."""
    if settlement is None or settlement.exchange_rate is None or payment_currency == subsidiary_currency:
        return None
    return settlement.exchange_rate if settlement.settled.currency == subsidiary_currency else None


# --- tax -----------------------------------------------------------------------------------------


def ship_to(opportunity: CrmOpportunity) -> Address:
    account = opportunity.account
    return account.shippingAddress or account.billingAddress or Address()


def calculate_tax(tax: Tax, opportunity: CrmOpportunity, customer: Mapping[str, Any]) -> dict[str, Any]:
    result = tax.calculate(
        document_code=erp_ids.sales_order(opportunity.crmSystem, opportunity.opportunityId),
        customer_code=customer["externalId"],
        date=opportunity.closeDate or datetime.now(UTC).date(),
        ship_to=ship_to(opportunity),
        ship_from=None,
        lines=[
            TaxLine(
                number=str(n),
                amount=line.amount,
                quantity=line.quantity,
                item_code=line.sku or line.name,
                tax_code=None,
            )
            for n, line in enumerate(opportunity.lines, start=1)
        ],
        currency=opportunity.amount.currency,
    )
    return {
        "totalTax": dump(result.total_tax),
        "lines": [{"number": int(n), "tax": dump(t)} for n, t in result.lines],
    }


def record_sale(
    tax: Tax, opportunity: CrmOpportunity, customer: Mapping[str, Any], invoice: Mapping[str, Any]
) -> dict[str, Any]:
    """The tax engine records the invoiced sale (a committed sales invoice under the ERP invoice's external
    id, dated the invoice's date) with the quote's lines, customer and address and the tax the ERP invoiced
    on each line: the liability the engine reports is what the customer was charged. Each line's net is the
    invoiced one (the quoted amount at the ERP's precision: KWD to 2 decimals); the order's cash-rounding line
    (non-taxable, no product sold) is not a sale line and is left out. An invoice whose lines are not the
    quoted ones is refused (``InvalidRecord``: a person looks), never recorded half-right. The engine's own
    figure comes back as ``taxCalculated``; a difference is logged, not hidden."""
    from datetime import date

    from shared.errors import InvalidRecord
    from shared.observability import logger

    invoiced_lines = [line for line in invoice.get("lines") or [] if not line.get("rounding")]
    step = erp_step(opportunity.amount.currency)
    if len(invoiced_lines) != len(opportunity.lines):
        raise InvalidRecord(
            f"ERP invoice {invoice['erpInvoiceId']} has {len(invoiced_lines)} lines, "
            f"the quote {len(opportunity.lines)}"
        )
    lines = []
    for n, (quoted, raw) in enumerate(zip(opportunity.lines, invoiced_lines, strict=True), start=1):
        amount = money(raw["amount"])
        if amount != round_to_step(quoted.amount, step):
            raise InvalidRecord(
                f"ERP invoice {invoice['erpInvoiceId']} line {n}: {amount.format()} invoiced, "
                f"{quoted.amount.format()} quoted"
            )
        lines.append(SaleLine(str(n), amount, money(raw["tax"]), quoted.quantity, quoted.sku or quoted.name))
    recorded = tax.record_sale(
        document_code=str(invoice["externalId"]),
        customer_code=customer["externalId"],
        date=date.fromisoformat(str(invoice["tranDate"])[:10]),
        ship_to=ship_to(opportunity),
        lines=lines,
        currency=opportunity.amount.currency,
        reason=f"tax as invoiced on ERP invoice {invoice.get('documentNumber') or invoice['erpInvoiceId']}",
    )
    out = {
        "taxDocumentCode": recorded.code,
        "status": recorded.status,
        "taxRecorded": dump(recorded.total_tax),
        "taxCalculated": dump(recorded.tax_calculated) if recorded.tax_calculated else None,
    }
    if recorded.tax_calculated is not None and recorded.tax_calculated != recorded.total_tax:
        logger.warning("the tax engine computes another tax than was invoiced", extra=out)
    return out


# --- payments ------------------------------------------------------------------------------------


def links(
    opportunity: CrmOpportunity,
    correlation_id: str,
    customer: Mapping[str, Any],
    order: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Metadata the hub writes on payment objects: the webhooks bring these back, tying them to the deal.
    ``o2c_order`` names the order (``bookings.order_of``); the correlation id is the flow's (a deal's is
    the same ``<crm>:<deal>``; an API order's may be its caller's ``X-Correlation-Id``)."""
    meta = {
        "o2c_correlation_id": correlation_id,
        "o2c_order": f"{opportunity.crmSystem}:{opportunity.opportunityId}",
        "o2c_opportunity_id": opportunity.opportunityId,
        "o2c_erp_customer_id": str(customer["erpCustomerId"]),
    }
    if order:
        meta["o2c_erp_order_id"] = str(order["erpOrderId"])
    return meta


def prepare_payment(
    payments: Payments,
    opportunity: CrmOpportunity,
    correlation_id: str,
    customer: Mapping[str, Any],
    order: Mapping[str, Any],
    attempt: int,
    payment_customer_id: str | None = None,
) -> dict[str, Any]:
    """A SetupIntent for the customer to save a card on. ``payment_customer_id``: the Stripe customer an
    earlier attempt of this execution found or created (Stripe's own answer), so a new card after a decline
    costs no second customer search."""
    email = next((c.email for c in opportunity.contacts if c.email), None)
    payment_customer = payment_customer_id or payments.ensure_customer(
        erp_customer_id=str(customer["erpCustomerId"]),
        crm_account_id=opportunity.account.accountId,
        name=opportunity.account.name,
        email=email,
        idempotency_key=f"customer:{customer['externalId']}",
    )
    setup = payments.create_setup_intent(
        customer_id=payment_customer,
        metadata=links(opportunity, correlation_id, customer, order),
        idempotency_key=f"setup:{order['externalId']}:{attempt}",
        payment_method_types=payment_method_types(money(order["total"]).currency),
    )
    return {"paymentCustomerId": payment_customer, "setupIntentId": setup["id"], "attempt": attempt}


def authorize_payment(
    payments: Payments,
    opportunity: CrmOpportunity,
    correlation_id: str,
    customer: Mapping[str, Any],
    order: Mapping[str, Any],
    payment: Mapping[str, Any],
    method: Mapping[str, Any],
) -> dict[str, Any]:
    total = money(order["total"])
    result = payments.authorize(
        **_saved_method(payment, method),
        amount=total,
        metadata=links(opportunity, correlation_id, customer, order),
        idempotency_key=f"authorize:{payment['setupIntentId']}",
    )
    authorized = result.status == "requires_capture"
    above_threshold = _needs_approval(total, authorized)
    from shared.order_to_cash.fraud import radar_of_authorization

    return {
        **_payment_of(result),
        "authorized": authorized,
        "declineCode": result.decline_code or result.failure_code,
        "needsApproval": above_threshold,
        **radar_of_authorization(result, authorized=authorized, above_threshold=above_threshold),
    }


def _saved_method(payment: Mapping[str, Any], method: Mapping[str, Any]) -> dict[str, Any]:
    """Whom a card authorization or a bank debit charges: the Stripe customer of the payment step
    (``prepare_payment``) and the method the customer saved (``paymentMethodId``)."""
    return {"customer_id": payment["paymentCustomerId"], "payment_method_id": method["paymentMethodId"]}


def _payment_of(result: Any) -> dict[str, Any]:
    """The PaymentIntent an authorization or a debit made, as the execution carries it."""
    return {"paymentIntentId": result.payment_intent_id, "status": result.status}


def _needs_approval(total: Money, eligible: bool) -> bool:
    """A person approves an ``eligible`` payment (an authorized card, a bank debit) above the currency's
    approval threshold (``approval_threshold``) before it is captured or submitted."""
    threshold = approval_threshold(total.currency)
    return bool(eligible and threshold is not None and total.amount > threshold)


def capture_payment(payments: Payments, authorization: Mapping[str, Any]) -> dict[str, Any]:
    pi = authorization["paymentIntentId"]
    return {"status": payments.capture(payment_intent_id=pi, idempotency_key=f"capture:{pi}")}


def void_authorization(payments: Payments, authorization: Mapping[str, Any] | None) -> dict[str, Any]:
    if not authorization or not authorization.get("paymentIntentId"):
        return {"status": "nothing_to_void"}
    pi = authorization["paymentIntentId"]
    return {"status": payments.cancel(payment_intent_id=pi, idempotency_key=f"void:{pi}")}


# --- bank debits (SEPA, ACH) ---------------------------------------------------------------------------

#: The bank debit a customer may pay by, per order currency: SEPA Direct Debit charges EUR accounts, ACH
#: Direct Debit USD accounts (Stripe's payment method support tables). Other currencies: cards only.
DEBIT_METHOD_BY_CURRENCY = {"EUR": "sepa_debit", "USD": "us_bank_account"}
DEBIT_METHODS = frozenset(DEBIT_METHOD_BY_CURRENCY.values())


def payment_method_types(currency: str) -> list[str]:
    """What the customer may save for the order: a card, or the bank debit of the order's currency."""
    debit = DEBIT_METHOD_BY_CURRENCY.get(currency.upper())
    return ["card", debit] if debit else ["card"]


def describe_payment_method(
    payments: Payments, order: Mapping[str, Any], method: Mapping[str, Any]
) -> dict[str, Any]:
    """How the saved method pays, from Stripe's PaymentMethod: a card is authorized now and captured after
    invoicing; a bank debit cannot be held, so the order is invoiced first and the debit submitted then
    (its outcome days later). A debit above the approval threshold waits for approval before it is
    submitted, as a card authorization does before capture."""
    found = payments.retrieve_payment_method(method["paymentMethodId"])
    kind = str(found.get("type") or "card")
    debit = kind in DEBIT_METHODS
    return {"type": kind, "debit": debit, "needsApproval": _needs_approval(money(order["total"]), debit)}


def charge_debit(
    payments: Payments,
    opportunity: CrmOpportunity,
    correlation_id: str,
    customer: Mapping[str, Any],
    order: Mapping[str, Any],
    invoice: Mapping[str, Any],
    payment: Mapping[str, Any],
    method: Mapping[str, Any],
    kind: Mapping[str, Any],
) -> dict[str, Any]:
    """Submit the invoiced amount as a bank debit under the mandate saved with the method. One debit per
    saved method (the key names its SetupIntent): a retried step gets Stripe's stored reply."""
    meta = {
        **links(opportunity, correlation_id, customer, order),
        "o2c_erp_invoice_id": str(invoice["erpInvoiceId"]),
    }
    result = payments.debit(
        **_saved_method(payment, method),
        method_type=kind["type"],
        amount=money(order["total"]),
        metadata=meta,
        idempotency_key=f"debit:{payment['setupIntentId']}",
    )
    return {
        **_payment_of(result),
        "debit": True,
        "declineCode": result.failure_code,
        "wallet": None,  # a bank account is never paid from a wallet (the CRM write-back reads this)
    }


def start_debit_dunning(erp: Erp, customer: Mapping[str, Any]) -> dict[str, Any]:
    """A bank debit failed after the invoice was posted: the invoice stays open and the customer is in
    dunning in the ERP (the same ``past_due`` mark a failed renewal sets), so collections sees it."""
    erp.mark_dunning(str(customer["erpCustomerId"]), state="past_due")
    return {"erpCustomerId": str(customer["erpCustomerId"]), "state": "past_due"}


def leave_dunning(erp: Erp, customer: Mapping[str, Any]) -> dict[str, Any]:
    """The order was paid after all (another method): the customer leaves dunning."""
    erp.mark_dunning(str(customer["erpCustomerId"]), state=None)
    return {"erpCustomerId": str(customer["erpCustomerId"]), "state": None}
