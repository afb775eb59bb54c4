"""``NetSuiteErp``: the NetSuite client the hub uses, all of it (records, SuiteQL, after the sale)."""

from __future__ import annotations

from shared.outbound.netsuite.credits import NetSuiteCredits


class NetSuiteErp(NetSuiteCredits):
    """NetSuite REST record API. ``auth`` is a strategy (``TokenBasedAuth``, ``BearerAuth``). ``http``,
    when given, is used as is (it carries its own auth and gate); otherwise one is built from ``base_url``
    (default: the account's SuiteTalk host), ``auth`` and ``gate``.

    ``currency_ids`` maps ISO codes to the account's currency internal ids; ``default_item_id`` is the item
    (e.g. a non-inventory "CRM line" item) used for order lines that name no item external id.

    After the sale: ``credit_item_id`` is the (non-taxable, non-inventory) "Refund" item of a partial credit
    memo's single line (default: ``default_item_id``); ``stripe_payment_option_id`` the payment method
    "Stripe" a customer refund's ``paymentOption`` references; ``dispute_account_id`` the account a lost dispute's refund is paid from
    (the Stripe clearing account the payout's dispute withdrawal went to; default: the refund's default);
    ``adjustment_account_id`` the account of a deposit's other-deposit / cash-back lines (Stripe fees and
    adjustments clearing). ``rounding_item_id``: the (non-taxable, other charge) "Rounding" item of an order's
    cash-rounding line (a KWD total rounded to 10 fils: NetSuite keeps 2 decimals, Stripe takes multiples of 10).
    """
