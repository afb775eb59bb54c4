"""Connectors built from a function's environment, one per process. The vendor URL and credentials differ
between the sandbox and the vendor; the code does not."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.config import secret_json

if TYPE_CHECKING:
    from shared.order_to_cash.ports import Billing, Crm, Erp, Payments, Tax
    from shared.outbound.hubspot import HubSpotCrm
    from shared.outbound.salesforce import SalesforceCrm
    from shared.outbound.stripe_payments import StripePayments
    from shared.outbound.zendesk import ZendeskSupport


@cache
def salesforce_crm() -> SalesforceCrm:
    from shared.outbound.salesforce import SalesforceCrm

    def credentials() -> dict[str, Any]:
        return secret_json("SALESFORCE_CREDENTIALS_ARN")

    my_domain = os.environ.get("SALESFORCE_MY_DOMAIN_URL", "")
    if not my_domain:
        raise ValueError(
            "SALESFORCE_MY_DOMAIN_URL is not set: give the stage its salesforceMyDomainUrl "
            "(https://<your-domain>.my.salesforce.com) in cdk.json"
        )
    return SalesforceCrm(
        my_domain,
        client_id=str(credentials()["client_id"]),
        client_secret=lambda: str(credentials()["client_secret"]),
    )


@cache
def hubspot_crm() -> HubSpotCrm:
    from shared.outbound.hubspot import HubSpotCrm

    return HubSpotCrm(
        base_url=os.environ["HUBSPOT_API_BASE_URL"],
        access_token=lambda: str(secret_json("HUBSPOT_CREDENTIALS_ARN")["access_token"]),
    )


def crm_for(system: str) -> Crm:
    return hubspot_crm() if system == "hubspot" else salesforce_crm()


@cache
def netsuite_erp() -> Erp:
    from shared.aws import client
    from shared.outbound.erp_gate import ErpGate
    from shared.outbound.netsuite import NetSuiteErp, TokenBasedAuth

    def credentials() -> dict[str, Any]:
        return secret_json("NETSUITE_CREDENTIALS_ARN")

    account = str(credentials()["account_id"])
    gate = ErpGate(
        client("dynamodb"),
        os.environ["ERP_GATE_TABLE_NAME"],
        account_id=account,
        limit=int(os.environ.get("ERP_CONCURRENCY_LIMIT", "5")),
    )
    auth = TokenBasedAuth(
        account,
        consumer_key=lambda: str(credentials()["consumer_key"]),
        consumer_secret=lambda: str(credentials()["consumer_secret"]),
        token_id=lambda: str(credentials()["token_id"]),
        token_secret=lambda: str(credentials()["token_secret"]),
    )
    ids = json.loads(os.environ.get("NETSUITE_ACCOUNT_SETTINGS") or "{}")
    return NetSuiteErp(
        os.environ.get("NETSUITE_BASE_URL") or None,
        account_id=account,
        auth=auth,
        gate=gate,
        credit_item_id=ids.get("creditItemId"),
        adjustment_account_id=ids.get("adjustmentAccountId"),
        dispute_account_id=ids.get("disputeAccountId"),
        rounding_item_id=ids.get("roundingItemId"),
        currency_ids=ids.get("currencyIds"),
        **(
            {"stripe_payment_option_id": ids["stripePaymentOptionId"]}
            if ids.get("stripePaymentOptionId")
            else {}
        ),
    )


@cache
def avatax() -> Tax:
    from shared.outbound.avatax import AvaTax

    def credentials() -> dict[str, Any]:
        return secret_json("AVATAX_CREDENTIALS_ARN")

    return AvaTax(
        os.environ["AVATAX_BASE_URL"],
        account_id=str(credentials()["account_id"]),
        license_key=lambda: str(credentials()["license_key"]),
        company_code=str(credentials()["company_code"]),
    )


def stripe_payments() -> Payments:
    return _stripe()


def stripe_subscriptions() -> Billing:
    """Stripe Billing over the same client as ``stripe_payments`` (its retries, Idempotency-Keys)."""
    from shared.outbound.stripe_subscriptions import StripeSubscriptions

    return StripeSubscriptions(_stripe())


@cache
def _stripe() -> StripePayments:
    from shared.outbound.stripe_payments import StripePayments

    return StripePayments(
        lambda: str(secret_json("STRIPE_API_KEY_ARN")["api_key"]), base_url=os.environ["STRIPE_API_BASE_URL"]
    )


@cache
def zendesk_support() -> ZendeskSupport:
    from shared.outbound.zendesk import ZendeskSupport, auth_from_credentials

    base_url = os.environ.get("ZENDESK_API_BASE_URL", "")
    if not base_url:
        raise ValueError(
            "ZENDESK_API_BASE_URL is not set: give the stage its zendeskApiBaseUrl "
            "(https://<subdomain>.zendesk.com) in cdk.json"
        )
    return ZendeskSupport(
        base_url, auth_headers=auth_from_credentials(lambda: secret_json("ZENDESK_CREDENTIALS_ARN"))
    )
