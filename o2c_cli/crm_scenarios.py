"""Deals the demo and the flow tests create in the CRM sandboxes (vendor field names, as the CRMs hold them)."""

from __future__ import annotations

from typing import Any


def hubspot_deal(sandbox: Any, *, complete: bool = True, name: str = "Northwind - annual platform") -> str:
    company: dict[str, Any] = {
        "name": "Northwind Traders GmbH",
        "domain": "northwind.example",
        "o2c_region": "EMEA",
    }
    if complete:
        company |= {
            "address": "Friedrichstrasse 68",
            "city": "Berlin",
            "zip": "10117",
            "country": "DE",
            "currency": "EUR",
            "tax_id": "DE298765432",
        }
    return str(
        sandbox.create_deal(
            name=name,
            amount="28560.00",
            currency="EUR",
            company=company,
            contacts=[{"email": "ap@northwind.example", "firstname": "Nora", "lastname": "Payables"}],
            line_items=[
                {"name": "Platform subscription", "quantity": 12, "price": "2000.00", "hs_sku": "PLAT-12"},
                {"name": "Onboarding", "quantity": 1, "price": "4560.00", "hs_sku": "ONB-1"},
            ],
        )
    )


def hubspot_subscription_deal(
    sandbox: Any, *, start: str, name: str = "Fabrikam - platform subscription + onboarding"
) -> str:
    """A subscription + services deal: a yearly platform subscription (HubSpot's recurring line properties:
    billed annually for a 12-month term from ``start``, YYYY-MM-DD) and one-time onboarding services."""
    return str(
        sandbox.create_deal(
            name=name,
            amount="28560.00",
            currency="EUR",
            company={
                "name": "Fabrikam AG",
                "domain": "fabrikam.example",
                "o2c_region": "EMEA",
                "address": "Bahnhofstrasse 10",
                "city": "Hamburg",
                "zip": "20095",
                "country": "DE",
                "currency": "EUR",
                "tax_id": "DE276543210",
            },
            contacts=[{"email": "ap@fabrikam.example", "firstname": "Fritz", "lastname": "Payables"}],
            line_items=[
                {
                    "name": "Platform subscription",
                    "quantity": 1,
                    "price": "24000.00",
                    "hs_sku": "PLAT-Y",
                    "recurringbillingfrequency": "annually",
                    "hs_recurring_billing_period": "P12M",
                    "hs_recurring_billing_start_date": start,
                },
                {"name": "Onboarding", "quantity": 1, "price": "4560.00", "hs_sku": "ONB-1"},
            ],
        )
    )


def hubspot_us_deal(
    sandbox: Any, *, currency: str = "USD", price: str = "1200.00", name: str = "Contoso - starter"
) -> str:
    """A deal of a US company: booked by the ERP's US subsidiary (USD), in ``currency``."""
    return str(
        sandbox.create_deal(
            name=name,
            amount=price,
            currency=currency,
            company={
                "name": "Contoso Inc.",
                "domain": "contoso.example",
                "o2c_region": "NA",
                "address": "1 Main St",
                "city": "Seattle",
                "zip": "98101",
                "country": "US",
                "state": "WA",
                "currency": currency,
            },
            contacts=[{"email": "ap@contoso.example", "firstname": "Cody", "lastname": "Payables"}],
            line_items=[{"name": "Starter plan", "quantity": 1, "price": price, "hs_sku": "START-1"}],
        )
    )


#: a Dutch Salesforce Account (EUR, EMEA, with the hub's Account custom fields) and its billing contact
CONTOSO_NL = {
    "Name": "Contoso BV",
    "BillingStreet": "Herengracht 182",
    "BillingCity": "Amsterdam",
    "BillingPostalCode": "1016 BR",
    "BillingCountryCode": "NL",
    "CurrencyIsoCode": "EUR",
    "Tax_Id__c": "NL859012345B01",
    "O2C_Region__c": "EMEA",
    "Website": "contoso.example",
}
CONTOSO_BILLING = {
    "FirstName": "Cas",
    "LastName": "Finance",
    "Email": "finance@contoso.example",
    "Role": "Billing",
    "IsPrimary": True,
}


def salesforce_opportunity(sandbox: Any, *, name: str = "Contoso - EU rollout") -> str:
    return str(
        sandbox.create_opportunity(
            name=name,
            amount="24000.00",
            currency="EUR",
            account=dict(CONTOSO_NL),
            contacts=[dict(CONTOSO_BILLING)],
            line_items=[{"Name": "Seats", "ProductCode": "SEAT", "Quantity": 100, "UnitPrice": "240.00"}],
        )
    )


def salesforce_subscription_opportunity(
    sandbox: Any,
    *,
    start: str,
    frequency: str = "Annually",
    term_months: float | None = 12,
    name: str = "Contoso - platform subscription + onboarding",
) -> str:
    """A subscription + services opportunity: a yearly platform subscription (the hub's line custom fields
    ``O2C_Billing_Frequency__c``/``O2C_Billing_Term_Months__c``, deployed by ``o2c setup crm``: billed annually
    for 12 months from the line's ``ServiceDate``, ``start`` YYYY-MM-DD, unless told otherwise) and one-time
    onboarding services."""
    return str(
        sandbox.create_opportunity(
            name=name,
            amount="28560.00",
            currency="EUR",
            account=dict(CONTOSO_NL),
            contacts=[dict(CONTOSO_BILLING)],
            line_items=[
                {
                    "Name": "Platform subscription",
                    "ProductCode": "PLAT-Y",
                    "Quantity": 1,
                    "UnitPrice": "24000.00",
                    "ServiceDate": start,
                    "O2C_Billing_Frequency__c": frequency,
                    "O2C_Billing_Term_Months__c": term_months,
                },
                {"Name": "Onboarding", "ProductCode": "ONB-1", "Quantity": 1, "UnitPrice": "4560.00"},
            ],
        )
    )


def hubspot_stage(sandbox: Any, deal_id: str, stage: str = "closedwon") -> None:
    """Move a deal to ``stage`` as a user would, through HubSpot's API (no webhook is sent): the hub acts
    on a "won" message only when HubSpot itself has the deal in a closed-won stage."""
    from shared.outbound.hubspot import HubSpotCrm

    HubSpotCrm(sandbox.url, access_token=lambda: str(sandbox.access_token)).update_deal(
        deal_id, {"dealstage": stage}
    )


def salesforce_stage(sandbox: Any, opportunity_id: str, stage: str = "Closed Won") -> None:
    """Move an opportunity to ``stage`` through Salesforce's REST API (no Outbound Message is sent), as the
    user whose edit makes a Flow publish ``O2C_Opportunity_Won__e``."""
    from shared.outbound.salesforce import SalesforceCrm

    crm = SalesforceCrm(
        sandbox.url, client_id=sandbox.client_id, client_secret=lambda: str(sandbox.client_secret)
    )
    crm.update_opportunity(opportunity_id, {"StageName": stage})
