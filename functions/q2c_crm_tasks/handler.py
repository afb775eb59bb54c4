"""Quote-to-cash CRM steps: re-check a held deal after sales operations fixed it, and write the ERP order,
invoice and payment status back onto the opportunity/deal."""

from __future__ import annotations

from typing import Any

from shared.connectors.factories import crm_for
from shared.crm.completeness import missing_fields
from shared.o2c.tasks import opportunity_of, task_handler


def recheck(event: dict[str, Any]) -> dict[str, Any]:
    """Fetch the deal again and re-evaluate completeness (the new snapshot replaces the old one)."""
    current = opportunity_of(event)
    fresh = crm_for(current.crmSystem).fetch_opportunity(current.opportunityId)
    missing = missing_fields(fresh)
    return {
        **event["opportunity"],
        "opportunity": fresh.model_dump(mode="json"),
        "complete": not missing,
        "missingFields": missing,
    }


def write_back(event: dict[str, Any]) -> dict[str, Any]:
    opportunity = opportunity_of(event)
    order, invoice = event["order"], event.get("invoice") or {}
    status = event.get("paymentStatus", "paid")
    crm = crm_for(opportunity.crmSystem)
    if opportunity.crmSystem == "hubspot":
        crm.update_deal(
            opportunity.opportunityId,
            {
                "o2c_erp_order_number": order.get("documentNumber") or order["erpOrderId"],
                "o2c_erp_invoice_number": invoice.get("documentNumber") or invoice.get("erpInvoiceId") or "",
                "o2c_payment_status": status,
            },
        )
    else:
        crm.update_opportunity(
            opportunity.opportunityId,
            {
                "ERP_Order_Number__c": order.get("documentNumber") or order["erpOrderId"],
                "ERP_Invoice_Number__c": invoice.get("documentNumber") or invoice.get("erpInvoiceId"),
                "Payment_Status__c": status,
            },
        )
    return {"crmUpdated": True, "paymentStatus": status}


lambda_handler = task_handler({"recheck": recheck, "write_back": write_back})
