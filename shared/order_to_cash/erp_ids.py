"""The hub's external ids in the ERP, one function per kind of record: what the bookings write and what
reconciliation (and the API, the CLI) look up, so the two cannot drift apart (a slip here would make
reconciliation report ``missing_in_erp`` for a record that is there).

``source`` is where an order comes from: a CRM (``hubspot``, ``salesforce``) or the hub's API (``api``).

======================  ===========================  =========================================
record                  external id                  written by
======================  ===========================  =========================================
customer                ``<source>-<account>``       ``steps.ensure_erp_customer``
sales order             ``<source>-<order>``         ``steps.create_sales_order``
invoice (a deal's)      ``inv-<source>-<order>``     ``steps.create_invoice``
invoice (a renewal)     ``ren-<Stripe invoice>``     ``bookings.book_renewal``
customer payment        ``pay-<PaymentIntent>``      ``steps.apply_payment``, ``bookings.book_renewal``
credit memo             ``cm-<refund>``              ``bookings.book_refund``
customer refund         ``cr-<refund>``              ``bookings.book_refund``
return authorization    ``dsp-<dispute>``            ``bookings.record_dispute``, ``settle_dispute``
deposit                 ``dep-<payout>``             ``bookings.book_payout``
======================  ===========================  =========================================

And the tax engine's document code of a return (``rtn-<refund or dispute>``), the same kind of id at AvaTax.
"""

from __future__ import annotations


def customer(source: str, account_id: str) -> str:
    """``hubspot-<company>``, ``salesforce-<Account Id>``, ``api-<the caller's customer id>``."""
    return f"{source}-{account_id}"


def customer_of(external_id: str) -> tuple[str, str]:
    """(source, account id) of a customer's external id (``customer``); ("", "") for an id without one."""
    source, dash, account = external_id.partition("-")
    return (source, account) if dash else ("", "")


def sales_order(source: str, order_id: str) -> str:
    """``hubspot-<deal>``, ``salesforce-<Opportunity Id>``, ``api-<order id>``."""
    return f"{source}-{order_id}"


def invoice(source: str, order_id: str) -> str:
    """The invoice of a sales order: ``inv-<its sales order's external id>``."""
    return invoice_of_order(sales_order(source, order_id))


def invoice_of_order(order_external_id: str) -> str:
    """The invoice of the sales order whose external id is ``order_external_id`` (``sales_order``)."""
    return f"inv-{order_external_id}"


def renewal_invoice(billing_invoice_id: str) -> str:
    """A subscription cycle's invoice: ``ren-<Stripe invoice id>``."""
    return f"ren-{billing_invoice_id}"


def payment(payment_intent_id: str) -> str:
    """A customer payment: ``pay-<PaymentIntent id>`` (a deal's or a renewal's alike, so a payout's deposit
    finds either; a renewal paid out of band, without a PaymentIntent, is ``pay-<Stripe invoice id>``)."""
    return f"pay-{payment_intent_id}"


def credit_memo(refund_id: str) -> str:
    return f"cm-{refund_id}"


def customer_refund(refund_id: str) -> str:
    return f"cr-{refund_id}"


def dispute_hold(dispute_id: str) -> str:
    """The return authorization a dispute opens (and its outcome settles): ``dsp-<dispute id>``."""
    return f"dsp-{dispute_id}"


def deposit(payout_id: str) -> str:
    return f"dep-{payout_id}"


def tax_return(refund_or_dispute_id: str) -> str:
    """The tax engine's document code of the return a refund or a lost dispute records."""
    return f"rtn-{refund_or_dispute_id}"
