"""What the /v1 routes do, over the hub's own state (Step Functions, the lineage and correlation tables,
the bus) and the vendors' APIs through the existing connectors. Built once per process from the function's
environment; the routes (``shared.api.app``) only translate HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from shared.api.problems import Problem
from shared.api.resources import (
    CrmAccountLink,
    CustomerIn,
    CustomerView,
    CustomerWriteIn,
    DisputeSummary,
    ErpPaymentView,
    InvoiceSummary,
    InvoiceView,
    OrderIn,
    OrderView,
    PaymentView,
    RefundIn,
    RefundView,
    StripeView,
    TimelineEntry,
)
from shared.crm.closed_won import deal_correlation_id
from shared.crm.completeness import missing_fields
from shared.crm.models import Account, Address, Contact, CrmOpportunity, LineItem
from shared.errors import InvalidRecord, NotFound, TransientError
from shared.lineage import LineageEntry
from shared.money import Money, from_major, from_stripe
from shared.order_to_cash import erp_ids
from shared.order_to_cash.executions import execution_input, execution_state
from shared.order_to_cash.naming import execution_name

_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
#: Stripe's dispute statuses once a dispute is over
_CLOSED_DISPUTES = {"won", "lost", "warning_closed", "prevented"}
#: the support view's last payments
LAST_PAYMENTS = 5


def order_opportunity(order: OrderIn, order_id: str) -> CrmOpportunity:
    """An order as the snapshot quote-to-cash books (``crmSystem`` ``api``: no CRM to re-check or write)."""
    currency = order.currency
    lines = []
    for n, line in enumerate(order.lines, start=1):
        try:
            unit = from_major(Decimal(line.unitPrice), currency)
        except ValueError as exc:
            raise Problem("validation", f"lines[{n - 1}].unitPrice: {exc}") from None
        lines.append(
            LineItem(
                lineItemId=f"{order_id}-{n}",
                sku=line.sku,
                productId=line.sku,
                name=line.name,
                quantity=line.quantity,
                unitPrice=unit,
                amount=Money(amount=unit.amount * line.quantity, currency=currency),
            )
        )
    customer = order.customer
    return CrmOpportunity(
        crmSystem="api",
        opportunityId=order_id,
        name=order.reference or order_id,
        stage="submitted",
        amount=Money(amount=sum(line.amount.amount for line in lines), currency=currency),
        account=_account(customer, currency),
        contacts=_billing_contacts(customer),
        lines=tuple(lines),
    )


def customer_opportunity(customer: CustomerWriteIn) -> CrmOpportunity:
    """The customer as quote-to-cash's ERP step sees an order's (``ensure_erp_customer``): same external id
    ``api-<externalId>``, so a later order of this customer books against the same ERP and Stripe customer."""
    return CrmOpportunity(
        crmSystem="api",
        opportunityId=f"customer-{customer.externalId}",
        name=customer.name,
        stage="customer",
        amount=Money(amount=0, currency=customer.currency),
        account=_account(customer, customer.currency),
        contacts=_billing_contacts(customer),
    )


def _account(customer: CustomerIn, currency: str) -> Account:
    """The API's customer (an order's, or one written by ``POST /v1/customers``) as the CRM account snapshot."""
    address = customer.billingAddress
    return Account(
        accountId=customer.externalId,
        name=customer.name,
        billingAddress=Address(
            street=address.street,
            city=address.city,
            state=address.state,
            postalCode=address.postalCode,
            country=address.country,
        ),
        currency=currency,
        taxId=customer.taxId,
        region=customer.region,
    )


def _billing_contacts(customer: CustomerIn) -> tuple[Contact, ...]:
    return (
        Contact(
            contactId=f"{customer.externalId}-billing",
            email=customer.email,
            firstName=customer.firstName,
            lastName=customer.lastName,
            role="Billing",
        ),
    )


class HubServices:
    @cached_property
    def _sfn(self) -> Any:
        from shared.aws import client

        return client("stepfunctions")

    @cached_property
    def _dynamodb(self) -> Any:
        from shared.aws import client

        return client("dynamodb")

    @cached_property
    def _lineage(self) -> Any:
        from shared.lineage import LineageStore

        return LineageStore(self._dynamodb, os.environ["LINEAGE_TABLE_NAME"])

    @cached_property
    def _correlator(self) -> Any:
        from shared.order_to_cash.correlation import Correlator

        return Correlator(self._dynamodb, os.environ["CORRELATION_TABLE_NAME"], self._sfn)

    @property
    def _state_machine(self) -> str:
        return os.environ["QUOTE_TO_CASH_STATE_MACHINE_ARN"]

    def trace(self, the_id: str) -> list[LineageEntry]:
        return list(self._lineage.trace(the_id))

    # --- orders ------------------------------------------------------------------------------------------

    def start_order(self, order: OrderIn, order_id: str, correlation_id: str | None) -> tuple[str, str]:
        """Start the order's quote-to-cash execution (``api-<orderId>``); (execution name, the correlation id
        its events carry: the caller's ``X-Correlation-Id`` (``correlation_id``), else the order's flow id
        ``api:<orderId>``, as a deal's is ``hubspot:<deal>``). The order itself is named on the payment
        objects by ``o2c_order`` (``steps.links``), whatever the correlation id. An order the ERP could not
        book (no tax id where one is required, ...) is refused here, not held."""
        opportunity = order_opportunity(order, order_id)
        missing = missing_fields(opportunity)
        if missing:
            raise Problem(
                "business-rejection",
                f"the order lacks what the ERP needs: {', '.join(missing)}",
                {"missingFields": missing},
            )
        name = execution_name("api", order_id)
        correlation_id = correlation_id or deal_correlation_id("api", order_id)
        detail = {
            "metadata": {"correlationId": correlation_id},
            "data": {
                "crmSystem": "api",
                "opportunityId": order_id,
                "accountId": opportunity.account.accountId,
                "opportunity": opportunity.dump(),
                "complete": True,
                "missingFields": [],
            },
        }
        # the same order asked again after an unknown outcome: one execution
        with contextlib.suppress(self._sfn.exceptions.ExecutionAlreadyExists):
            self._sfn.start_execution(
                stateMachineArn=self._state_machine, name=name, input=json.dumps(execution_input(detail))
            )
        return name, correlation_id

    def order_view(self, any_id: str) -> OrderView | None:
        name = execution_name("api", any_id) if any_id.startswith("ord_") else any_id
        state = None
        if _EXECUTION_NAME.match(name):
            state = execution_state(self._sfn, self._state_machine, name, self._correlator)
        entries: list[LineageEntry] = []
        if state is None:
            entries = self.trace(any_id)
            for entry in entries:
                found = entry.data.get("executionName")
                if entry.detail_type == "OpportunityClosedWon":
                    found = execution_name(entry.data["crmSystem"], entry.data["opportunityId"])
                if isinstance(found, str) and _EXECUTION_NAME.match(found):
                    state = execution_state(self._sfn, self._state_machine, found, self._correlator)
                    if state is not None:
                        break
        if state is None:
            return None
        described = self._sfn.describe_execution(executionArn=state.arn)
        started = json.loads(described.get("input") or "{}")
        correlation = started.get("correlationId")
        if correlation and not entries:
            entries = self.trace(correlation)
        amount = (started.get("opportunity") or {}).get("opportunity", {}).get("amount")
        for entry in entries:
            if entry.detail_type == "OrderCreated" and entry.data.get("total"):
                amount = entry.data["total"]
        return OrderView(
            id=state.name,
            status=state.status,  # type: ignore[arg-type]
            state=state.current_state,
            waitingFor=state.waiting_on,
            error=state.error,
            cause=state.cause,
            correlationId=correlation,
            ids=sorted({i for e in entries for i in e.ids}),
            amount=Money.parse(amount) if amount else None,
            timeline=[TimelineEntry(at=at, event=f"entered {s}") for at, s in state.timeline]
            + [TimelineEntry(at=e.occurred_at, event=e.detail_type) for e in entries],
        )

    # --- customers ---------------------------------------------------------------------------------------

    def upsert_customer(self, customer: CustomerWriteIn) -> CustomerView:
        """The ERP customer (by external id, created or updated) and its Stripe customer (found by the ERP id
        in its metadata, else created once per customer)."""
        from shared.order_to_cash.steps import ensure_erp_customer, subsidiaries_from_env
        from shared.outbound.factories import netsuite_erp, stripe_payments

        opportunity = customer_opportunity(customer)
        missing = [m for m in missing_fields(opportunity) if m != "lines"]
        if missing:
            raise Problem(
                "business-rejection",
                f"the customer lacks what the ERP needs: {', '.join(missing)}",
                {"missingFields": missing},
            )
        erp = netsuite_erp()
        try:
            with erp.session():  # one ERP gate slot for the call's requests
                erp_customer = ensure_erp_customer(erp, opportunity, subsidiaries_from_env())
            stripe_customer = stripe_payments().ensure_customer(
                erp_customer_id=str(erp_customer["erpCustomerId"]),
                crm_account_id=customer.externalId,
                name=customer.name,
                email=customer.email,
                idempotency_key=f"customer:{erp_customer['externalId']}",
            )
        except TransientError as exc:
            raise Problem("technical-failure", f"the ERP or Stripe did not answer: {exc}") from None
        except InvalidRecord as exc:  # e.g. a currency the ERP account does not have
            raise Problem("business-rejection", f"the ERP refused the customer: {exc}") from None
        return CustomerView(
            id=str(erp_customer["externalId"]),
            erpCustomerId=str(erp_customer["erpCustomerId"]),
            stripeCustomerId=stripe_customer,
            name=customer.name,
        )

    def customer_view(self, any_id: str) -> CustomerView | None:
        """By the caller's customer id (``api-<it>`` in the ERP), a full ERP external id
        (``hubspot-<company>``) or the ERP internal id: its ids, open invoices, last payments, holds."""
        from shared.outbound.factories import netsuite_erp
        from shared.outbound.netsuite import is_external_id, is_internal_id

        erp = netsuite_erp()
        try:
            with erp.session():  # one ERP gate slot for the call's requests
                record: Mapping[str, Any] | None = None
                # only what the ERP could hold as an id (a '.' or an overlong id is no customer)
                candidates = [
                    i for i in dict.fromkeys((any_id, erp_ids.customer("api", any_id))) if is_external_id(i)
                ]
                for external in candidates:
                    record = erp.get_by_external_id("customer", external)
                    if record is not None:
                        break
                if record is None and is_internal_id(any_id):
                    record = erp.get("customer", any_id)
        except NotFound:
            return None
        except TransientError as exc:
            raise Problem("technical-failure", f"the ERP did not answer: {exc}") from None
        if record is None:
            return None
        erp_id = str(record.get("id"))
        mine = self._lineage.entries_for(erp_id)
        posted = {
            e.data["erpInvoiceId"]: e
            for e in mine
            if e.detail_type == "InvoicePosted" and e.data.get("erpInvoiceId")
        }
        paid: list[LineageEntry] = []
        for invoice_id in posted:
            paid += [
                e
                for e in self._lineage.entries_for(invoice_id)
                if e.detail_type == "InvoicePaid" and e.data.get("erpPaymentId")
            ]
        paid_invoices = {e.data.get("erpInvoiceId") for e in paid}
        # its payments, newest first: every payment intent its events name (authorized, captured, paid)
        intents = list(
            dict.fromkeys(
                e.data["paymentIntentId"]
                for e in sorted([*mine, *paid], key=lambda e: e.occurred_at, reverse=True)
                if isinstance(e.data.get("paymentIntentId"), str) and e.data["paymentIntentId"]
            )
        )
        external = str(record.get("externalId") or "")
        crm_system, crm_account = erp_ids.customer_of(external)
        stripe_ids = [
            e.data["paymentCustomerId"]
            for e in mine
            if isinstance(e.data.get("paymentCustomerId"), str) and e.data["paymentCustomerId"]
        ]
        return CustomerView(
            id=str(record.get("externalId") or erp_id),
            erpCustomerId=erp_id,
            stripeCustomerId=stripe_ids[-1] if stripe_ids else None,
            name=record.get("companyName"),
            openInvoices=[
                InvoiceSummary(
                    erpInvoiceId=invoice_id,
                    documentNumber=e.data.get("documentNumber"),
                    amount=Money.parse(e.data["amount"]) if e.data.get("amount") else None,
                )
                for invoice_id, e in posted.items()
                if invoice_id not in paid_invoices
            ],
            payments=[
                ErpPaymentView(
                    erpPaymentId=e.data["erpPaymentId"],
                    erpInvoiceId=e.data.get("erpInvoiceId"),
                    amount=Money.parse(e.data["amount"]) if e.data.get("amount") else None,
                )
                for e in sorted(paid, key=lambda e: e.occurred_at, reverse=True)[:10]
            ],
            holds=self._holds(mine),
            crmAccount=CrmAccountLink(system=crm_system, accountId=crm_account)  # type: ignore[arg-type]
            if crm_system in ("hubspot", "salesforce") and crm_account
            else None,
            dunning=str(record["custentity_o2c_dunning"]) if record.get("custentity_o2c_dunning") else None,
            lastPayments=[
                view for view in (self.payment_view(i) for i in intents[:LAST_PAYMENTS]) if view is not None
            ],
            openDisputes=self._open_disputes(intents),
        )

    def _open_disputes(self, intents: list[str]) -> list[DisputeSummary]:
        """The disputes the hub recorded on these payments (``DisputeOpened``), as Stripe has them now, those
        Stripe has not closed; with the ERP hold the hub booked for each (``DisputeRecorded``)."""
        from shared.outbound.factories import stripe_payments

        opened: dict[str, LineageEntry] = {}
        holds: dict[str, str] = {}
        for intent in intents:
            for e in self._lineage.entries_for(intent):
                dispute_id = e.data.get("disputeId")
                if not isinstance(dispute_id, str):
                    continue
                if e.detail_type == "DisputeOpened":
                    opened.setdefault(dispute_id, e)
                elif e.detail_type == "DisputeRecorded" and e.data.get("erpDisputeHoldId"):
                    holds[dispute_id] = str(e.data["erpDisputeHoldId"])
        out: list[DisputeSummary] = []
        stripe = stripe_payments() if opened else None
        for dispute_id, e in opened.items():
            try:
                dispute: Mapping[str, Any] = stripe.retrieve_dispute(dispute_id) if stripe else {}
            except NotFound:
                continue
            except TransientError as exc:
                raise Problem("technical-failure", f"Stripe did not answer: {exc}") from None
            status = str(dispute.get("status") or e.data.get("status") or "")
            if status in _CLOSED_DISPUTES:
                continue
            due = (dispute.get("evidence_details") or {}).get("due_by")
            currency = str(dispute.get("currency") or "")
            out.append(
                DisputeSummary(
                    disputeId=dispute_id,
                    status=status,
                    reason=dispute.get("reason") or e.data.get("reason"),
                    amount=from_stripe(int(dispute["amount"]), currency)
                    if isinstance(dispute.get("amount"), int) and currency
                    else None,
                    paymentIntentId=dispute.get("payment_intent") or e.data.get("paymentIntentId"),
                    chargeId=dispute.get("charge") or e.data.get("chargeId"),
                    evidenceDueBy=datetime.fromtimestamp(int(due), UTC).isoformat() if due else None,
                    erpDisputeHoldId=holds.get(dispute_id),
                )
            )
        return out

    def _holds(self, customer_entries: list[LineageEntry]) -> list[str]:
        """Why the customer's orders are on hold: each of its orders (``OrderCreated`` names the customer)
        whose last ``OrderOnHold`` was not followed by its payment (``InvoicePaid``) or its end."""
        holds: list[str] = []
        for created in customer_entries:
            order_id = created.data.get("erpOrderId")
            if created.detail_type != "OrderCreated" or not isinstance(order_id, str):
                continue
            events = self._lineage.entries_for(order_id)
            held = [e for e in events if e.detail_type == "OrderOnHold"]
            settled = [
                e for e in events if e.detail_type in ("InvoicePaid", "OrderCancelled", "OrderActivated")
            ]
            if held and (not settled or held[-1].occurred_at > settled[-1].occurred_at):
                holds.append(f"{order_id}: {held[-1].data.get('reason')}")
        return holds

    # --- payments ----------------------------------------------------------------------------------------

    def payment_view(self, any_id: str) -> PaymentView | None:
        entries = self.trace(any_id)
        intents = [
            e.data["paymentIntentId"]
            for e in entries
            if e.detail_type in ("PaymentCaptured", "PaymentAuthorized", "InvoicePaid")
            and isinstance(e.data.get("paymentIntentId"), str)
        ]
        if not intents:
            return None
        intent_id = any_id if any_id in intents else intents[0]
        paid = [
            e
            for e in entries
            if e.detail_type == "InvoicePaid" and e.data.get("paymentIntentId") == intent_id
        ]
        erp = (
            ErpPaymentView(
                erpPaymentId=paid[0].data["erpPaymentId"],
                erpInvoiceId=paid[0].data.get("erpInvoiceId"),
                amount=Money.parse(paid[0].data["amount"]) if paid[0].data.get("amount") else None,
            )
            if paid and paid[0].data.get("erpPaymentId")
            else None
        )
        stripe_view = self._stripe_view(intent_id)
        status = "other"
        if stripe_view is not None:
            if stripe_view.disputed:
                status = "disputed"
            elif stripe_view.refunded and stripe_view.refunded.amount:
                received = stripe_view.amountReceived.amount if stripe_view.amountReceived else 0
                status = "refunded" if stripe_view.refunded.amount >= received else "partially_refunded"
            elif erp is not None:
                status = "applied"
            elif stripe_view.status == "succeeded":
                status = "captured"
            elif stripe_view.status == "requires_capture":
                status = "authorized"
        return PaymentView(id=intent_id, status=status, stripe=stripe_view, erp=erp)  # type: ignore[arg-type]

    def _stripe_view(self, intent_id: str) -> StripeView | None:
        from shared.outbound.factories import stripe_payments

        stripe = stripe_payments()
        try:
            intent: Mapping[str, Any] = stripe.retrieve_payment_intent(intent_id)
        except NotFound:
            return None
        except TransientError as exc:
            raise Problem("technical-failure", f"Stripe did not answer: {exc}") from None
        currency = intent["currency"]
        charge_id = intent.get("latest_charge")
        charge: Mapping[str, Any] = {}
        if isinstance(charge_id, str):
            try:
                charge = stripe.retrieve_charge(charge_id)
            except TransientError as exc:
                raise Problem("technical-failure", f"Stripe did not answer: {exc}") from None
        return StripeView(
            paymentIntentId=intent_id,
            status=str(intent["status"]),
            amount=from_stripe(int(intent["amount"]), currency),
            amountReceived=from_stripe(int(intent.get("amount_received") or 0), currency),
            chargeId=charge_id if isinstance(charge_id, str) else None,
            refunded=from_stripe(int(charge.get("amount_refunded") or 0), currency) if charge else None,
            disputed=bool(charge.get("disputed")),
        )

    # --- invoices ----------------------------------------------------------------------------------------

    def invoice_view(self, any_id: str) -> InvoiceView | None:
        entries = self.trace(any_id)
        posted = [e for e in entries if e.detail_type == "InvoicePosted" and e.data.get("erpInvoiceId")]
        if not posted:
            return None
        invoice_id = (
            any_id
            if any(e.data["erpInvoiceId"] == any_id for e in posted)
            else posted[0].data["erpInvoiceId"]
        )
        first = next(e for e in posted if e.data["erpInvoiceId"] == invoice_id)
        currency = first.data["amount"]["currency"]
        from shared.outbound.factories import netsuite_erp

        try:
            record: Mapping[str, Any] = netsuite_erp().get("invoice", invoice_id)
        except NotFound:
            return None
        except TransientError as exc:
            raise Problem("technical-failure", f"the ERP did not answer: {exc}") from None

        def money(field: str) -> Money | None:
            value = record.get(field)
            return from_major(Decimal(str(value)), currency) if value not in (None, "") else None

        total, remaining = money("total"), money("amountRemaining")
        status = record.get("status")
        status_text = status.get("refName") or status.get("id") if isinstance(status, dict) else status
        payment_status = "unknown"
        if total is not None and remaining is not None:
            payment_status = (
                "paid"
                if remaining.amount == 0
                else "unpaid"
                if remaining.amount >= total.amount
                else "partially_paid"
            )
        payments = [
            ErpPaymentView(
                erpPaymentId=e.data["erpPaymentId"],
                erpInvoiceId=invoice_id,
                amount=Money.parse(e.data["amount"]) if e.data.get("amount") else None,
            )
            for e in entries
            if e.detail_type == "InvoicePaid"
            and e.data.get("erpInvoiceId") == invoice_id
            and e.data.get("erpPaymentId")
        ]
        return InvoiceView(
            id=invoice_id,
            documentNumber=record.get("tranId") or first.data.get("documentNumber"),
            status=str(status_text) if status_text is not None else None,
            total=total,
            amountRemaining=remaining,
            paymentStatus=payment_status,  # type: ignore[arg-type]
            payments=payments,
        )

    # --- refunds -----------------------------------------------------------------------------------------

    def request_refund(
        self, refund: RefundIn, request_id: str, *, by: str, correlation_id: str | None = None
    ) -> str:
        """Put the ``RefundRequested`` on the bus (``shared.order_to_cash.refunds``: the path ``o2c refund`` takes);
        the refund's correlation id: the caller's (``correlation_id``), else its payment's deal's. Stripe's
        refund carries it back, so the refund's later events (succeeded, booked) carry it too."""
        from shared.order_to_cash.refunds import UnknownPayment, refund_request
        from shared.publisher import stage_publisher

        try:
            event = refund_request(
                self.trace(refund.paymentIntentId),
                refund.paymentIntentId,
                refund.amount,
                reason=refund.reason,
                by=by,
                request_id=request_id,
                correlation_id=correlation_id,
            )
        except UnknownPayment as exc:
            raise Problem("business-rejection", str(exc)) from None
        except ValueError as exc:
            raise Problem("validation", f"amount: {exc}") from None
        stage_publisher().publish([event])
        return event.metadata.correlationId

    def refund_view(self, request_id: str) -> RefundView | None:
        from shared.order_to_cash.refunds import refund_status

        status = refund_status(self._lineage.entries_for, request_id)
        if status is None:
            return None
        return RefundView(
            id=status.request_id,
            status=status.status,  # type: ignore[arg-type]
            paymentIntentId=status.payment_intent_id,
            amount=status.amount,
            stripeRefundId=status.stripe_refund_id,
            erpCreditMemoId=status.erp_credit_memo_id,
            erpRefundId=status.erp_refund_id,
            failureReason=status.failure_reason,
        )
