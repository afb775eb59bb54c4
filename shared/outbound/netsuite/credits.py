"""The NetSuite client after the sale: credit memos (refunds), customer refunds, dispute holds (return
authorizations) and their outcome, renewal invoices, dunning marks, payouts as deposits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from shared.errors import InvalidRecord, NotFound
from shared.money import Money, erp_step, from_major
from shared.outbound.netsuite.model import (
    _DUNNING_STATE,
    RECORD_PATH,
    RMA_ORDER_STATUS,
    RMA_STATUS,
    ErpRef,
    OrderLine,
    _decimal,
    _external_id,
    _internal_id,
    _positive,
    _record_currency,
    _ref,
    _ref_id_of,
    _same_currency,
    _status_id,
)
from shared.outbound.netsuite.query import NetSuiteQuery
from shared.tax_share import refund_tax_share, split_refund


class NetSuiteCredits(NetSuiteQuery):
    """``NetSuiteQuery`` with the bookings after the sale: refunds, disputes, renewals, dunning, payouts."""

    def credit_invoice(
        self,
        invoice_id: str,
        *,
        external_id: str,
        amount: Money,
        memo: str | None,
        invoice: Mapping[str, Any] | None = None,
    ) -> ErpRef:
        """A credit memo of ``amount`` against the invoice, once per ``external_id`` (looked up before the
        transform and after any failure of it, as the invoice transform).

        NetSuite: ``POST /invoice/{id}/!transform/creditMemo``. A full credit (``amount`` = the invoice
        total) keeps the lines NetSuite copies from the invoice, so tax is reversed line by line. A partial
        credit (Stripe refunds an amount, tax included, not lines) replaces them (``?replace=item``) with the
        invoice's lines carrying the refund's share: its tax share (``shared.tax_share``: the invoice's tax in
        proportion to what has been credited, cumulatively, so that all credits together reverse at most the
        invoice's tax and exactly that when the invoice is credited in full) spread over the lines' tax, the
        rest over their net amounts. The memo is applied to the invoice up to what the invoice still owes; the
        rest is unapplied credit for ``refund_credit_memo``. ``invoice``: the invoice as just read with its
        lines (``get_by_external_id(..., expand=True)``), so it is not read again. A new credit memo's
        reference has no document number (nothing the hub does uses it: no read back)."""
        invoice_id = _internal_id(invoice_id, "invoice")
        external_id = _external_id(external_id)
        found = self.get_by_external_id("creditMemo", external_id)
        if found is not None:
            return _ref(found, external_id, "tranId")
        if (
            invoice is None
            or str(invoice.get("id")) != invoice_id
            or not isinstance(invoice.get("item"), dict)
        ):
            invoice = self._get("invoice", invoice_id, expand=True)
        return self._credit("invoice", invoice, external_id, amount, memo, invoice_id, looked_up=True)

    def refund_credit_memo(
        self,
        credit_memo_id: str,
        *,
        external_id: str,
        customer_id: str,
        amount: Money,
        memo: str | None,
        account_id: str | None = None,
    ) -> ErpRef:
        """The money went back to the customer: a customer refund (payment method "Stripe") of ``amount``
        applying the credit memo. ``PUT /customerRefund/eid:{ext}?replace=apply``: one refund per external
        id; a repeat replaces its apply line instead of adding one. ``account_id``: the account paid from."""
        external_id = _external_id(external_id)
        _positive(amount, "a customer refund")
        value = amount.to_decimal()
        body: dict[str, Any] = {
            "externalId": external_id,
            "customer": {"id": _internal_id(customer_id, "customer")},
            "currency": {"id": self._currency_id(amount.currency)},
            "apply": {
                "items": [
                    {
                        "doc": {"id": _internal_id(credit_memo_id, "creditMemo")},
                        "apply": True,
                        "amount": value,
                    }
                ]
            },
        }
        if self._stripe_payment_option_id:
            body["paymentOption"] = {"id": _internal_id(self._stripe_payment_option_id, "payment option")}
        body["paymentOperation"] = {"id": "REFUND"}  # the money went back (not a credit to the card on file)
        if account_id:
            body["account"] = {"id": _internal_id(account_id, "account")}
        if memo:
            body["memo"] = memo
        # the refund's reference is its id (from ``Location``): nothing the hub does uses its document number
        return self._upsert(
            "customerRefund",
            external_id,
            body,
            query={"replace": "apply"},
            number_field="tranId",
            read_number=False,
        )

    def open_dispute_hold(
        self, invoice_id: str, *, external_id: str, amount: Money, memo: str | None
    ) -> ErpRef:
        """A chargeback under review: a return authorization for ``amount`` from the invoice, left Pending
        Approval. It is non-posting (no GL impact, the invoice stays as it is) yet visible on the customer
        and the invoice as a pending credit. Its lines carry the dispute's share of the invoice's lines and tax
        (as a partial credit's), so the credit memo a lost dispute becomes reverses that tax. Once per external
        id (the dispute id)."""
        invoice_id = _internal_id(invoice_id, "invoice")
        external_id = _external_id(external_id)
        found = self.get_by_external_id("returnAuthorization", external_id)
        if found is not None:
            return _ref(found, external_id, "tranId")
        invoice = self._get("invoice", invoice_id, expand=True)
        _positive(amount, "a dispute hold")
        _same_currency(amount, invoice, self._currency_ids, f"invoice {invoice_id}")
        body: dict[str, Any] = {
            "externalId": external_id,
            "item": {"items": self._refund_lines(invoice, external_id, amount)},
            "orderStatus": {"id": RMA_ORDER_STATUS["pendingApproval"]},
        }
        if memo:
            body["memo"] = memo
        return self._transform_once(
            "invoice", invoice_id, "returnAuthorization", external_id, body, query={"replace": "item"}
        )

    def settle_dispute(self, external_id: str, *, outcome: Literal["won", "lost"]) -> ErpRef | None:
        """Close the dispute hold. ``won``: the return authorization is closed, every line (nothing was or will
        be booked) → None. ``lost``: it is approved and transformed into a credit memo (external id
        ``{ext}-cm``, applied to the invoice as far as it is open) and the credit refunded to the customer
        (customer refund ``{ext}-rf``, from ``dispute_account_id``) → the credit memo. Each step looks for
        its result first, so repeating either outcome changes nothing; the other outcome afterwards is an
        ``InvalidRecord``."""
        external_id = _external_id(external_id)
        if outcome not in ("won", "lost"):
            raise ValueError("a dispute is won or lost")
        hold = self.get_by_external_id("returnAuthorization", external_id)
        if hold is None:
            raise NotFound(f"no dispute hold {external_id}")
        hold_id = _internal_id(hold.get("id"), "returnAuthorization")
        status = _status_id(hold)
        called_off = (RMA_STATUS["cancelled"], RMA_STATUS["closed"])
        if outcome == "won":
            if status in called_off:
                return None
            if status != RMA_STATUS["pendingApproval"]:
                raise InvalidRecord(f"dispute {external_id} was already settled as lost")
            self._close_lines("returnAuthorization", hold_id)
            return None
        if status in called_off:
            raise InvalidRecord(f"dispute {external_id} was already settled as won")
        credit_eid = _external_id(f"{external_id}-cm")
        credit = self.get_by_external_id("creditMemo", credit_eid)
        if credit is not None:
            credit_ref = _ref(credit, credit_eid, "tranId")
        else:
            if status == RMA_STATUS["pendingApproval"]:
                self._http.request(
                    "PATCH",
                    f"{RECORD_PATH}/returnAuthorization/{hold_id}",
                    json={"orderStatus": {"id": RMA_ORDER_STATUS["pendingReceipt"]}},
                )
            amount = self._money_field(hold, "total")
            invoice_id = _ref_id_of(hold.get("createdFrom"))
            invoice = self._get("invoice", invoice_id) if invoice_id else None
            credit_ref = self._credit(
                "returnAuthorization", invoice, credit_eid, amount, hold.get("memo"), hold_id
            )
            credit = self._get("creditMemo", credit_ref.id)
        unapplied = self._money_field(credit, "unapplied")
        if unapplied.amount > 0:  # what the invoice did not absorb went back to the customer (the chargeback)
            customer_id = _ref_id_of(credit.get("entity"))
            if customer_id is None:
                raise InvalidRecord(f"credit memo {credit_ref.id}: no customer")
            self.refund_credit_memo(
                credit_ref.id,
                external_id=f"{external_id}-rf",
                customer_id=customer_id,
                amount=unapplied,
                memo=hold.get("memo"),
                account_id=self._dispute_account_id,
            )
        return credit_ref

    def upsert_renewal_invoice(
        self,
        external_id: str,
        *,
        customer_id: str,
        subsidiary_id: str,
        currency: str,
        lines: list[OrderLine],
        period_start: date,
        period_end: date,
        memo: str | None = None,
    ) -> ErpRef:
        """A standalone invoice for one subscription period (``PUT /invoice/eid:{ext}?replace=item``, dated
        ``period_start``, ``startDate``/``endDate`` = the period). Never a second invoice for the external id;
        an invoice that already has payments or credits applied is left as it is."""
        external_id = _external_id(external_id)
        if period_end < period_start:
            raise ValueError("a period ends on or after its start")
        if not lines:
            raise InvalidRecord(f"invoice {external_id}: no lines")
        code = currency.upper()
        existing = self.get_by_external_id("invoice", external_id)
        if existing is not None and _decimal(existing.get("amountRemaining")) != _decimal(
            existing.get("total")
        ):
            return _ref(existing, external_id, "tranId")
        body: dict[str, Any] = {
            "externalId": external_id,
            "entity": {"id": _internal_id(customer_id, "customer")},
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(code)},
            "tranDate": period_start.isoformat(),
            "startDate": period_start.isoformat(),
            "endDate": period_end.isoformat(),
            "item": {"items": [self._line(external_id, n, line, code) for n, line in enumerate(lines, 1)]},
        }
        if memo:
            body["memo"] = memo
        return self._upsert("invoice", external_id, body, query={"replace": "item"}, number_field="tranId")

    def mark_dunning(self, customer_id: str, *, state: str | None) -> None:
        """Show the customer's dunning state in the ERP: the custom entity field ``custentity_o2c_dunning``
        (free-form text, e.g. ``past_due``; None clears it). Idempotent."""
        customer_id = _internal_id(customer_id, "customer")
        if state is not None and not _DUNNING_STATE.match(state):
            raise ValueError(f"{state[:40]!r} is not a dunning state (lower-case letters, digits, _)")
        self._http.request(
            "PATCH", f"{RECORD_PATH}/customer/{customer_id}", json={"custentity_o2c_dunning": state}
        )

    def upsert_deposit(
        self,
        external_id: str,
        *,
        subsidiary_id: str,
        currency: str,
        account_id: str | None,
        payments: list[tuple[str, Money]],
        other: list[tuple[str, Money]],
        total: Money,
        tran_date: date | None = None,
        memo: str | None = None,
    ) -> ErpRef:
        """A payout as a bank deposit (``PUT /deposit/eid:{ext}?replace=payment,other,cashback``): the
        customer payments it pays out (whole, from undeposited funds; each ``Money`` in the deposit's
        currency: a payment in another currency at its base-currency amount, ``shared.money.convert(payment,
        its exchange rate, deposit currency)``, which NetSuite accepts when the deposit is in the base
        currency of the payment's subsidiary), positive ``other`` amounts as
        "other deposits" lines and negative ones (fees, refunds, dispute withdrawals) as "cash back" lines,
        on ``adjustment_account_id``. ``total`` is the payout: lines that do not sum to it exactly are
        refused (``InvalidRecord``) before anything is sent. ``account_id``: the bank account (None: the
        account's default)."""
        external_id = _external_id(external_id)
        code = currency.upper()
        for what, money in [("total", total), *[(f"payment {p}", m) for p, m in payments], *other]:
            if money.currency != code:
                raise ValueError(f"deposit {external_id}: {what} in {money.currency}, deposit in {code}")
        if not payments and not other:
            raise InvalidRecord(f"deposit {external_id}: no lines")
        summed = sum((m.amount for _, m in payments), 0) + sum((m.amount for _, m in other), 0)
        if summed != total.amount:
            raise InvalidRecord(
                f"deposit {external_id}: lines sum to {Money.of(summed, code).format()}, "
                f"the payout is {total.format()}"
            )
        line_account = (
            {"account": {"id": _internal_id(self._adjustment_account_id, "account")}}
            if self._adjustment_account_id
            else {}
        )
        deposits: list[dict[str, Any]] = []
        cash_back: list[dict[str, Any]] = []
        for line_memo, money in other:
            if money.amount == 0:
                continue
            line = {
                **line_account,
                "amount": Money.of(abs(money.amount), code).to_decimal(),
                "memo": line_memo,
            }
            (deposits if money.amount > 0 else cash_back).append(line)
        body: dict[str, Any] = {
            "externalId": external_id,
            "subsidiary": {"id": _internal_id(subsidiary_id, "subsidiary")},
            "currency": {"id": self._currency_id(code)},
            "payment": {
                "items": [
                    {
                        "id": _internal_id(p, "customerPayment"),
                        "deposit": True,
                        "paymentAmount": m.to_decimal(),
                    }
                    for p, m in payments
                ]
            },
            "other": {"items": deposits},
            "cashback": {"items": cash_back},
        }
        if account_id:
            body["account"] = {"id": _internal_id(account_id, "account")}
        if tran_date is not None:
            body["tranDate"] = tran_date.isoformat()
        if memo:
            body["memo"] = memo
        # the deposit's reference is its id (from ``Location``): nothing the hub does uses its document number
        return self._upsert(
            "deposit",
            external_id,
            body,
            query={"replace": "payment,other,cashback"},
            number_field="tranId",
            read_number=False,
        )

    def _credit(
        self,
        source_type: str,
        invoice: Mapping[str, Any] | None,
        external_id: str,
        amount: Money,
        memo: str | None,
        source_id: str,
        *,
        looked_up: bool = False,
    ) -> ErpRef:
        """A credit memo transformed from the invoice or the return authorization, applied to the invoice
        up to its amount remaining. ``looked_up``: the caller has just found no credit memo with that
        external id (the first look-up before the transform is skipped; retries still look)."""
        _positive(amount, "a credit memo")
        body: dict[str, Any] = {"externalId": external_id}
        if memo:
            body["memo"] = memo
        query = None
        if invoice is not None:
            what = f"invoice {invoice.get('id')}"
            _same_currency(amount, invoice, self._currency_ids, what)
            total = self._money_field(invoice, "total")
            if amount.amount > total.amount:
                raise InvalidRecord(
                    f"credit {external_id}: {amount.format()} is more than {what} ({total.format()})"
                )
            if source_type == "invoice" and amount.amount < total.amount:
                body["item"] = {"items": self._refund_lines(invoice, external_id, amount)}
                query = {"replace": "item"}
            remaining = self._money_field(invoice, "amountRemaining")
            applied = min(amount.amount, remaining.amount)
            if applied > 0:
                invoice_id = _internal_id(invoice.get("id"), "invoice")
                body["apply"] = {
                    "items": [
                        {
                            "doc": {"id": invoice_id},
                            "apply": True,
                            "amount": Money.of(applied, amount.currency).to_decimal(),
                        }
                    ]
                }
        return self._transform_once(
            source_type,
            source_id,
            "creditMemo",
            external_id,
            body,
            query=query,
            read_number=not looked_up,
            looked_up=looked_up,
        )

    def _credit_line(self, external_id: str, net: Money, tax: Money) -> dict[str, Any]:
        if not self._credit_item_id:
            raise InvalidRecord(
                f"credit {external_id}: a partial credit needs credit_item_id (or default_item_id)"
            )
        value = net.to_decimal()
        return {
            "item": {"id": _internal_id(self._credit_item_id, "item")},
            "description": "Refund",
            "quantity": 1,
            "rate": value,
            "amount": value,
            "tax1Amt": tax.to_decimal(),
        }

    def credited(self, invoice_id: str) -> tuple[Decimal, Decimal]:
        """What the credit memos made from the invoice add up to so far, in the invoice's currency: (total, tax
        total). SuiteQL gives a credit memo's amounts with the sign of the posting (negative), so their size is
        taken. A lost dispute's credit memo is made from its return authorization and is not counted: Stripe
        refunds nothing of a charge under or lost to a dispute, so no credit follows it."""
        invoice_id = _internal_id(invoice_id, "invoice")
        total = tax = Decimal(0)
        for row in self.list_records("creditMemo", created_from=invoice_id):
            total += abs(row["total"] or 0)
            tax += abs(row["taxTotal"] or 0)
        return total, tax

    def _refund_lines(
        self, invoice: Mapping[str, Any], external_id: str, amount: Money
    ) -> list[dict[str, Any]]:
        """Lines crediting ``amount`` (tax included) of the invoice: its tax share (``shared.tax_share``, given
        what was credited before) over the invoice lines' tax, the rest over their net amounts; each line keeps
        the invoice line's item (and so its tax code). An invoice whose lines cannot be read gets one line of
        the "Refund" item carrying the net and the tax share. Every part is a multiple of what NetSuite holds
        in the currency (``erp_step``: KWD to 2 decimals, 10 fils), as the refund is."""
        code = _record_currency(invoice, self._currency_ids)
        invoice_id = _internal_id(invoice.get("id"), "invoice")
        step = erp_step(code)
        if amount.amount % step:
            raise InvalidRecord(
                f"credit {external_id}: {amount.format()} has more decimals than NetSuite keeps for {code}"
            )
        total = self._money_field(invoice, "total")
        tax_total = from_major(_decimal(invoice.get("taxTotal") or 0), code)
        before, tax_before = self.credited(invoice_id)
        share = refund_tax_share(
            gross=total.amount,
            tax=tax_total.amount,
            credited_before=from_major(before, code).amount,
            tax_credited_before=from_major(tax_before, code).amount,
            amount=amount.amount,
            step=step,
        )
        items = (invoice.get("item") or {}).get("items") if isinstance(invoice.get("item"), dict) else None
        lines = [
            line for line in items or [] if isinstance(line, dict) and isinstance(line.get("item"), dict)
        ]
        if not lines:
            return [
                self._credit_line(external_id, Money.of(amount.amount - share, code), Money.of(share, code))
            ]
        weights = [
            (
                from_major(_decimal(line.get("amount") or 0), code).amount,
                from_major(_decimal(line.get("tax1Amt") or 0), code).amount,
            )
            for line in lines
        ]
        out = []
        for line, (net, tax) in zip(lines, split_refund(weights, amount.amount, share, step), strict=True):
            if net == 0 and tax == 0:
                continue
            item = line["item"]
            ref = {"id": str(item["id"])} if item.get("id") else {"externalId": str(item.get("externalId"))}
            value = Money.of(net, code).to_decimal()
            description = line.get("description")
            out.append(
                {
                    "item": ref,
                    "description": f"Refund: {description}"[:250] if description else "Refund",
                    "quantity": 1,
                    "rate": value,
                    "amount": value,
                    "tax1Amt": Money.of(tax, code).to_decimal(),
                }
            )
        return out
