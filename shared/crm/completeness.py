"""What the ERP needs from a CRM account before an order can be booked. A deal that lacks it is still
published, flagged incomplete with the missing fields named, so the orchestration routes it to sales
operations instead of failing later in the ERP."""

from __future__ import annotations

from collections.abc import Iterable

from shared.crm.models import CrmOpportunity

#: Countries where a B2B invoice needs the buyer's tax (VAT/GST) id. Configurable per deployment.
DEFAULT_TAX_ID_COUNTRIES = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "GB",
        "NO",
        "CH",
        "AU",
        "NZ",
        "IN",
        "BR",
        "MX",
    }
)


def missing_fields(
    opportunity: CrmOpportunity, tax_id_countries: Iterable[str] = DEFAULT_TAX_ID_COUNTRIES
) -> list[str]:
    missing: list[str] = []
    account = opportunity.account
    address = account.billingAddress
    for part in ("street", "city", "postalCode", "country"):
        if address is None or not getattr(address, part):
            missing.append(f"account.billingAddress.{part}")
    if not (account.currency or opportunity.amount.currency):
        missing.append("account.currency")
    country = (address.country or "").upper() if address else ""
    if country in set(tax_id_countries) and not account.taxId:
        missing.append("account.taxId")
    if not opportunity.lines:
        missing.append("lines")
    if not any(c.email for c in opportunity.contacts):
        missing.append("contacts.email")
    return missing
