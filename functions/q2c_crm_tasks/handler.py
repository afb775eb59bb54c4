"""Quote-to-cash CRM steps: re-check a held deal after sales operations fixed it, and write the ERP order,
invoice and payment status back onto the opportunity/deal.

A write-back the CRM refuses (HubSpot ``PROPERTY_DOESNT_EXIST``, Salesforce ``INVALID_FIELD``: the hub's fields
were never created there; or any other 4xx) does not end the execution ``Paid`` with nothing written: the step
answers ``crmUpdated: false`` with the reason and the missing fields, counts ``CrmWriteBackRefused`` (alarmed),
and the state machine puts the order on hold (``OrderOnHold``) and ends ``NeedsAttention``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from shared.errors import AuthError, PermanentError, UnknownFields
from shared.observability import MetricUnit, logger, metrics
from shared.order_to_cash.fraud import wallet_label
from shared.order_to_cash.steps import recheck_opportunity
from shared.order_to_cash.tasks import opportunity_of, task_handler
from shared.outbound.factories import crm_for
from shared.settings import Env, EnvSettings, LambdaHandler, lazy_handler

#: what the hub writes on a won deal, per CRM (HubSpot deal properties / Salesforce Opportunity fields);
#: ``o2c setup crm`` creates them from vendor-specs/{hubspot/o2c-properties,salesforce/o2c-custom-fields}.json
HUBSPOT_DEAL_PROPERTIES = ("o2c_erp_order_number", "o2c_erp_invoice_number", "o2c_payment_status")
SALESFORCE_OPPORTUNITY_FIELDS = ("ERP_Order_Number__c", "ERP_Invoice_Number__c", "Payment_Status__c")
#: written besides them when the card was paid from a wallet (Apple Pay, Google Pay: shared.order_to_cash.fraud)
WALLET_FIELD = {"hubspot": "o2c_payment_wallet", "salesforce": "Payment_Wallet__c"}


@dataclass(frozen=True)
class Settings(EnvSettings):
    #: the deal stages each CRM calls won
    hubspot_closed_won_stages: tuple[str, ...] = ("closedwon",)
    salesforce_closed_won_stages: tuple[str, ...] = ("Closed Won",)

    @classmethod
    def read(cls, env: Env) -> Settings:
        return cls(
            hubspot_closed_won_stages=env.csv("HUBSPOT_CLOSED_WON_STAGES", "closedwon"),
            salesforce_closed_won_stages=env.csv("SALESFORCE_CLOSED_WON_STAGES", "Closed Won"),
        )


@dataclass(frozen=True)
class Deps:
    #: the CRM client of ``hubspot`` or ``salesforce``
    crm_for: Callable[[str], Any] = crm_for


def recheck(event: dict[str, Any], *, settings: Settings, deps: Deps) -> dict[str, Any]:
    """Fetch the deal again: still won in the CRM (else the execution ends ``Cancelled``, see
    ``DealNoLongerWon``), and its completeness re-evaluated (the new snapshot replaces the old one)."""
    current = opportunity_of(event)
    if current.crmSystem == "hubspot":
        stages = settings.hubspot_closed_won_stages
    else:
        stages = settings.salesforce_closed_won_stages
    fresh = recheck_opportunity(deps.crm_for(current.crmSystem), current, stages)
    if not fresh["wonInCrm"]:
        logger.warning(
            "deal no longer won in the CRM: not booked",
            extra={"crm": current.crmSystem, "stage": fresh["crmStage"]},
        )
    return {**event["opportunity"], **fresh}


def write_back(event: dict[str, Any], *, deps: Deps) -> dict[str, Any]:
    opportunity = opportunity_of(event)
    order, invoice = event["order"], event.get("invoice") or {}
    status = event.get("paymentStatus", "paid")
    system = opportunity.crmSystem
    crm = deps.crm_for(system)
    order_number = order.get("documentNumber") or order["erpOrderId"]
    invoice_number = invoice.get("documentNumber") or invoice.get("erpInvoiceId")
    wallet = wallet_label(event.get("wallet"))
    extra = {WALLET_FIELD[system]: wallet} if wallet and system in WALLET_FIELD else {}
    try:
        if system == "hubspot":
            crm.update_deal(
                opportunity.opportunityId,
                dict(zip(HUBSPOT_DEAL_PROPERTIES, (order_number, invoice_number or "", status), strict=True))
                | extra,
            )
        else:
            crm.update_opportunity(
                opportunity.opportunityId,
                dict(zip(SALESFORCE_OPPORTUNITY_FIELDS, (order_number, invoice_number, status), strict=True))
                | extra,
            )
    except AuthError:
        raise  # credentials: the step fails and is redriven once they are fixed
    except PermanentError as exc:
        missing = list(exc.fields) if isinstance(exc, UnknownFields) else []
        reason = (
            f"crm_write_back_refused: {system} has no {', '.join(missing)} (run o2c setup crm)"
            if missing
            else f"crm_write_back_refused: {system} answered {exc}"
        )
        metrics.add_metric(name="CrmWriteBackRefused", unit=MetricUnit.Count, value=1)
        logger.error(
            "CRM write-back refused", extra={"crm": system, "missingFields": missing, "error": str(exc)}
        )
        return {"crmUpdated": False, "paymentStatus": status, "reason": reason, "missingFields": missing}
    return {"crmUpdated": True, "paymentStatus": status}


def make_handler(settings: Settings, deps: Deps | None = None) -> LambdaHandler:
    deps = deps or Deps()
    return task_handler(
        {
            "recheck": partial(recheck, settings=settings, deps=deps),
            "write_back": partial(write_back, deps=deps),
        }
    )


lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env()))
