"""NetSuite (the reference ERP): REST Web Services, record API v1, as production adapter.

The same code talks to a real account (``https://<account>.suitetalk.api.netsuite.com``) and to the
local sandbox (``localcloud.sandboxes.netsuite``): only the base URL and the credentials differ.

Calls, as NetSuite documents them (paths under ``/services/rest/record/v1``):
- ``PUT /customer/eid:{ext}?replace=addressBook`` upsert → 204, ``Location: .../customer/{id}``
- ``PUT /salesOrder/eid:{ext}?replace=item`` upsert (``replace`` so a retried upsert replaces the lines
  instead of appending them) → 204 + ``Location``
- ``PUT /customerPayment/eid:{ext}?replace=apply`` → 204 + ``Location`` (``exchangeRate``: the payment
  currency's rate to the subsidiary's base currency, when the hub knows it, e.g. Stripe's)
- ``POST /salesOrder/{id}/!transform/invoice`` ``{"externalId"}`` → 204 + ``Location``
- ``PATCH /salesOrder/{id}`` ``{"orderStatus": {"id": "B"}}`` (approve: ``orderStatus`` takes only A/B) or
  ``{"item": {"items": [{"line": n, "isClosed": true}, ...]}}`` (close every line: the order is Closed — Oracle's
  "Close a Sales Order"; the lifecycle is the read-only ``status``, A..H, which no client writes) → 204
- ``GET /{type}/{id}``, ``GET /{type}/eid:{ext}``

After the sale (refunds, disputes, renewals, dunning, payouts):
- ``POST /invoice/{id}/!transform/creditMemo`` ``{"externalId", "memo", "apply", ["item"]}`` (``?replace=item``
  for a partial credit: the invoice's lines with the refund's share of each, net ``amount`` and ``tax1Amt``) →
  a credit memo, applied to the invoice as far as it is still open; the rest of it is unapplied credit that a
  customer refund pays out. The credit memos already made from the invoice (SuiteQL ``createdfrom``) tell what
  was credited before, so the tax shares of several refunds add up to the invoice's tax, never more
- ``PUT /customerRefund/eid:{ext}?replace=apply`` (applies credit memos; ``paymentOption`` = the account's
  "Stripe" payment method, ``paymentOperation`` ``REFUND``)
- ``POST /invoice/{id}/!transform/returnAuthorization`` (a dispute hold), ``PATCH /returnAuthorization/{id}``
  (approve: ``orderStatus`` B; close: every line ``isClosed``), ``POST /returnAuthorization/{id}/!transform/
  creditMemo`` (a lost dispute)
- ``PUT /invoice/eid:{ext}?replace=item`` a standalone (renewal) invoice
- ``PATCH /customer/{id}`` ``{"custentity_o2c_dunning"}``
- ``PUT /deposit/eid:{ext}?replace=payment,other,cashback`` a Stripe payout as a bank deposit
- ``POST /services/rest/query/v1/suiteql?limit=&offset=`` (``Prefer: transient``) for reconciliation reads

Representations chosen (see the methods): a refund is a credit memo transformed from the invoice plus a
customer refund applying it; a dispute is held as a *return authorization* (non-posting, Pending Approval,
so nothing moves in the GL or on the invoice while Stripe decides) — won: it is closed; lost: approved,
transformed into a credit memo and refunded; a payout is a deposit of the customer payments with "other
deposits" (positive) and "cash back" (negative: fees, refunds, dispute withdrawals) lines.

Once only: every record the hub creates carries an ``externalId`` and is written by upsert, so repeating a
write whose outcome is unknown (timeout after commit) never creates a second record. The one create that
has no upsert, the invoice transform, is guarded by looking the invoice up by its external id before the
POST and again after any failure of it; the POST itself is never blindly re-sent.

Auth strategies (``Auth``): ``TokenBasedAuth`` (TBA, OAuth 1.0a HMAC-SHA256, realm = account id, signed
by ``oauthlib``) and ``BearerAuth`` (OAuth 2.0: the access token of the machine-to-machine client
credentials flow — a JWT assertion signed with the integration's certificate, exchanged at
``/services/rest/auth/oauth2/v1/token`` — is what a future ``M2MAuth`` would fetch and cache).

Concurrency: NetSuite limits concurrent requests per *account*. Pass an ``ErpGate`` (DynamoDB semaphore
shared by every function and execution); each HTTP attempt holds one slot, backoff sleeps hold none —
or, within ``NetSuiteErp.session()`` (a task's few requests in sequence), all of them share one slot.

Every request says ``X-NetSuite-PropertyNameValidation: Error`` and ``X-NetSuite-PropertyValueValidation:
Error``: a field name or select id NetSuite does not have is a 400, never silently dropped.

Statuses are NetSuite's ids (``status.id``): sales order A..H (``SALES_ORDER_STATUS``), return authorization
A..H (``RMA_STATUS``), invoice A Open / B Paid In Full / D / E / V (``INVOICE_STATUS``), customer payment
B Not Deposited / C Deposited.

Money goes on the wire as JSON numbers with the exact digits of ``Money.to_decimal()`` in the record's
currency, never through a float; numbers coming back are parsed as ``Decimal``.

The package, by concern: ``auth`` (TBA / bearer), ``wire`` (HTTP, the gate, errors, JSON), ``model`` (ids,
statuses, references, field checks), ``records`` (record reads and the sale's writes), ``query`` (SuiteQL),
``credits`` (after the sale) and ``client`` (``NetSuiteErp``, all of them). Import from the package.
"""

from __future__ import annotations

from shared.outbound.netsuite.auth import Auth, BearerAuth, TokenBasedAuth, base_url_for, realm_for
from shared.outbound.netsuite.client import NetSuiteErp
from shared.outbound.netsuite.model import (
    ACCOUNT_RECORD_TYPES,
    DEFAULT_CURRENCY_IDS,
    DEFAULT_STRIPE_PAYMENT_OPTION_ID,
    INVOICE_STATUS,
    ORDER_STATUS,
    PAYMENT_STATUS,
    RECORD_PATH,
    RECORD_TYPES,
    RMA_ORDER_STATUS,
    RMA_STATUS,
    SALES_ORDER_STATUS,
    CustomerPayment,
    ErpRef,
    OrderLine,
    is_external_id,
    is_internal_id,
)
from shared.outbound.netsuite.query import SUITEQL_PAGE_LIMIT, SUITEQL_PATH, TRANSACTION_TYPES
from shared.outbound.netsuite.wire import (
    NetSuiteHttp,
    RequestOutcomeUnknown,
    Response,
    classify,
    dumps,
    netsuite_error,
)

__all__ = [
    "ACCOUNT_RECORD_TYPES",
    "DEFAULT_CURRENCY_IDS",
    "DEFAULT_STRIPE_PAYMENT_OPTION_ID",
    "INVOICE_STATUS",
    "ORDER_STATUS",
    "PAYMENT_STATUS",
    "RECORD_PATH",
    "RECORD_TYPES",
    "RMA_ORDER_STATUS",
    "RMA_STATUS",
    "SALES_ORDER_STATUS",
    "SUITEQL_PAGE_LIMIT",
    "SUITEQL_PATH",
    "TRANSACTION_TYPES",
    "Auth",
    "BearerAuth",
    "CustomerPayment",
    "ErpRef",
    "NetSuiteErp",
    "NetSuiteHttp",
    "OrderLine",
    "RequestOutcomeUnknown",
    "Response",
    "TokenBasedAuth",
    "base_url_for",
    "classify",
    "dumps",
    "is_external_id",
    "is_internal_id",
    "netsuite_error",
    "realm_for",
]
