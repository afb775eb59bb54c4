"""A Stripe account (test mode) on loopback: the part of the v1 API ``shared.outbound.stripe_payments``
calls, in Stripe's wire format, with Idempotency-Key semantics, test payment methods, and Stripe-signed
webhook events delivered asynchronously, as Stripe delivers them.

One module per Stripe resource, each documenting its part of the contract; ``StripeSandbox`` (``app``) is
made of their mixins:
- ``app``: the ``StripeSandbox`` class, routing, authentication, idempotency, Stripe's error shape, faults
- ``forms``: form bodies and query strings in bracket notation, parameter checks; ``errors``: ``ApiError``
- ``customers``, ``setup_intents``, ``payment_methods`` (test cards), ``payment_intents`` (and charges),
  ``refunds``, ``disputes``, ``radar`` (risk levels, reviews, early fraud warnings, wallet cards), ``billing``
  (subscriptions, invoices, invoice payments), ``balance`` (balance transactions, payouts, FX settlement,
  fees), ``currencies`` (Stripe's smallest units, conversion), ``debits`` (SEPA and ACH debits: mandates,
  ``processing``, the sandbox's clock)
- ``webhooks``: events, their delivery and signing; ``webhook_endpoints``: Stripe's WebhookEndpoint objects
  (events go to them too); ``control``: the ``/_sandbox`` control endpoints
- ``contract``: Stripe's published contract (``vendor-specs/stripe/stripe-contract.json``) every request is
  checked against
- ``state``: the records a ``StripeSandbox`` holds
"""

from localcloud.sandboxes.stripe.app import StripeSandbox
from localcloud.sandboxes.stripe.balance import conversion_fee, processing_fee
from localcloud.sandboxes.stripe.cards import TEST_CARDS, SandboxCard
from localcloud.sandboxes.stripe.disputes import DISPUTE_FEE
from localcloud.sandboxes.stripe.forms import decode_form
from localcloud.sandboxes.stripe.state import API_VERSION

__all__ = [
    "API_VERSION",
    "DISPUTE_FEE",
    "TEST_CARDS",
    "SandboxCard",
    "StripeSandbox",
    "conversion_fee",
    "decode_form",
    "processing_fee",
]
