"""Quote-to-cash CRM steps: re-check a held deal after sales operations fixed it, and write the ERP order,
invoice and payment status back onto the opportunity/deal."""

from __future__ import annotations

from typing import Any

from shared.config import csv_setting
from shared.connectors.factories import crm_for
from shared.o2c.steps import recheck_opportunity
from shared.o2c.tasks import opportunity_of, task_handler
from shared.observability import logger


def recheck(event: dict[str, Any]) -> dict[str, Any]:
    """Fetch the deal again: still won in the CRM (else the execution ends ``Cancelled``, see
    ``DealNoLongerWon``), and its completeness re-evaluated (the new snapshot replaces the old one)."""
    current = opportunity_of(event)
    if current.crmSystem == "hubspot":
        stages = csv_setting("HUBSPOT_CLOSED_WON_STAGES", "closedwon")
    else:
        stages = csv_setting("SALESFORCE_CLOSED_WON_STAGES", "Closed Won")
    fresh = recheck_opportunity(crm_for(current.crmSystem), current, stages)
    if not fresh["wonInCrm"]:
        logger.warning(
            "deal no longer won in the CRM: not booked",
            extra={"crm": current.crmSystem, "stage": fresh["crmStage"]},
        )
    return {**event["opportunity"], **fresh}


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
