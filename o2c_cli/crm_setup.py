"""``o2c setup crm``: the fields O2C Hub reads and writes in the CRMs, created where they are missing.

HubSpot: the properties of ``vendor-specs/hubspot/o2c-properties.json`` through the properties API
(``GET /crm/v3/properties/{objectType}/{name}``; missing → ``POST /crm/v3/properties/{objectType}``).
Salesforce: the custom fields of ``vendor-specs/salesforce/o2c-custom-fields.json``, checked with
``GET /sobjects/{Object}/describe`` and deployed through the Tooling API (``POST /tooling/sobjects/CustomField``;
Activity fields show on Task). Idempotent: what exists is left alone.

Locally the CRMs are the local cloud's sandboxes (``.o2c/local.json``); with ``--stack`` they are the stage's own
CRMs, reached with the stage's secrets and vendor URLs (read from its CrmTasks function's configuration).

``missing_crm_fields(target)`` is the check alone (for ``o2c doctor``): ``["hubspot deals.o2c_erp_order_number",
...]``, empty when everything is there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o2c_cli.targets import Target, TargetError

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "setup crm": (
        ("crm_status",),
        frozenset(
            {
                "cloudformation:ListStackResources",
                "lambda:GetFunctionConfiguration",
                "secretsmanager:GetSecretValue",
            }
        ),
    ),
}

REPO_ROOT = Path(__file__).resolve().parents[1]
HUBSPOT_PROPERTIES_PATH = REPO_ROOT / "vendor-specs" / "hubspot" / "o2c-properties.json"
SALESFORCE_FIELDS_PATH = REPO_ROOT / "vendor-specs" / "salesforce" / "o2c-custom-fields.json"

PRESENT, CREATED, MISSING, MISMATCH, SKIPPED = "present", "created", "missing", "mismatch", "skipped"


@dataclass(frozen=True)
class FieldStatus:
    crm: str  # hubspot | salesforce
    object: str  # HubSpot object type (deals) or Salesforce sObject (Opportunity, Activity)
    name: str
    state: str  # present | created | missing | mismatch | skipped
    detail: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.crm} {self.object}.{self.name}"

    @property
    def ok(self) -> bool:
        return self.state in (PRESENT, CREATED)

    def line(self) -> str:
        return f"{self.state:<9} {self.qualified}" + (f"  ({self.detail})" if self.detail else "")


def hubspot_properties() -> dict[str, list[dict[str, Any]]]:
    """Object type → the ``PropertyCreate`` bodies the hub needs."""
    data: dict[str, list[dict[str, Any]]] = json.loads(HUBSPOT_PROPERTIES_PATH.read_text())["properties"]
    return data


def salesforce_fields() -> list[dict[str, Any]]:
    """The ``CustomField`` bodies (``FullName``, ``Metadata``) the hub needs."""
    data: list[dict[str, Any]] = json.loads(SALESFORCE_FIELDS_PATH.read_text())["fields"]
    return data


# --- HubSpot ---------------------------------------------------------------------------------------------


def hubspot_status(crm: Any, *, create: bool) -> list[FieldStatus]:
    """Each hub property of the portal: present, created (when ``create``), missing or of another type."""
    out: list[FieldStatus] = []
    for object_type, definitions in hubspot_properties().items():
        for definition in definitions:
            name = definition["name"]
            existing = crm.get_property(object_type, name)
            if existing is not None:
                if existing.get("type") != definition["type"]:
                    detail = f"exists as type {existing.get('type')}, the hub writes {definition['type']}"
                    out.append(FieldStatus("hubspot", object_type, name, MISMATCH, detail))
                else:
                    out.append(FieldStatus("hubspot", object_type, name, PRESENT))
            elif create:
                crm.create_property(object_type, definition)
                out.append(FieldStatus("hubspot", object_type, name, CREATED))
            else:
                out.append(FieldStatus("hubspot", object_type, name, MISSING, "o2c setup crm creates it"))
    return out


# --- Salesforce ------------------------------------------------------------------------------------------


def _describe_object(sobject: str) -> str:
    return "Task" if sobject == "Activity" else sobject  # Activity custom fields are described on Task/Event


def salesforce_status(crm: Any, *, create: bool) -> list[FieldStatus]:
    """Each hub custom field of the org: present, deployed (when ``create``), missing or not as the hub needs."""
    out: list[FieldStatus] = []
    described: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in salesforce_fields():
        sobject, name = spec["FullName"].split(".", 1)
        target = _describe_object(sobject)
        if target not in described:
            described[target] = {f["name"]: f for f in crm.describe(target).get("fields") or []}
        field = described[target].get(name)
        meta = spec["Metadata"]
        if field is not None:
            if meta.get("externalId") and not field.get("externalId"):
                detail = "exists but is not an External ID; mark it External ID (Unique) in Setup"
                out.append(FieldStatus("salesforce", sobject, name, MISMATCH, detail))
            else:
                out.append(FieldStatus("salesforce", sobject, name, PRESENT))
        elif create:
            crm.create_custom_field(spec["FullName"], meta)
            out.append(FieldStatus("salesforce", sobject, name, CREATED))
        else:
            out.append(FieldStatus("salesforce", sobject, name, MISSING, "o2c setup crm deploys it"))
    return out


# --- where the CRMs are ----------------------------------------------------------------------------------


@dataclass
class CrmClients:
    hubspot: Any = None
    salesforce: Any = None


def _secret(target: Target, arn: str) -> dict[str, Any]:
    value = target.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    data: dict[str, Any] = json.loads(value)
    return data


def _stack_settings(target: Target) -> dict[str, str]:
    """The CrmTasks function's environment: the CRM secrets' ARNs and the stage's CRM URLs."""
    cfn = target.client("cloudformation")
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=target.name)
    for page in pages:
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function" and resource[
                "LogicalResourceId"
            ].startswith("FunctionsCrmTasksFunction"):
                config = target.client("lambda").get_function_configuration(
                    FunctionName=resource["PhysicalResourceId"]
                )
                env: dict[str, str] = (config.get("Environment") or {}).get("Variables") or {}
                return env
    raise TargetError(f"stack {target.name} has no CrmTasks function")


def crm_clients(target: Target) -> CrmClients:
    """HubSpot and Salesforce connectors for the target's CRMs (None for a CRM the target has no access to)."""
    from shared.outbound.hubspot import HubSpotCrm
    from shared.outbound.salesforce import SalesforceCrm

    if target.is_local:
        info = target.local_info
        secrets = info.get("resources", {}).get("secrets", {})
        sandboxes = info.get("sandboxes", {})
        urls = {"hubspot": sandboxes.get("hubspot"), "salesforce": sandboxes.get("salesforce")}
        arns = {
            "hubspot": secrets.get("HubSpotCredentials"),
            "salesforce": secrets.get("SalesforceCredentials"),
        }
    else:
        env = _stack_settings(target)
        urls = {"hubspot": env.get("HUBSPOT_API_BASE_URL"), "salesforce": env.get("SALESFORCE_MY_DOMAIN_URL")}
        arns = {
            "hubspot": env.get("HUBSPOT_CREDENTIALS_ARN"),
            "salesforce": env.get("SALESFORCE_CREDENTIALS_ARN"),
        }
    clients = CrmClients()
    if urls["hubspot"] and arns["hubspot"]:
        hubspot = _secret(target, arns["hubspot"])
        if hubspot.get("access_token"):
            clients.hubspot = HubSpotCrm(urls["hubspot"], access_token=lambda: str(hubspot["access_token"]))
    if urls["salesforce"] and arns["salesforce"]:
        salesforce = _secret(target, arns["salesforce"])
        if salesforce.get("client_id") and salesforce.get("client_secret"):
            clients.salesforce = SalesforceCrm(
                urls["salesforce"],
                client_id=str(salesforce["client_id"]),
                client_secret=lambda: str(salesforce["client_secret"]),
            )
    return clients


def crm_status(
    target: Target, *, create: bool, crms: Sequence[str] = ("hubspot", "salesforce")
) -> list[FieldStatus]:
    """Every hub field in every CRM the target has credentials for (a CRM without them: one ``skipped``)."""
    clients = crm_clients(target)
    out: list[FieldStatus] = []
    if "hubspot" in crms:
        if clients.hubspot is None:
            out.append(FieldStatus("hubspot", "*", "*", SKIPPED, "no HubSpot access token / API URL"))
        else:
            out.extend(hubspot_status(clients.hubspot, create=create))
    if "salesforce" in crms:
        if clients.salesforce is None:
            out.append(
                FieldStatus("salesforce", "*", "*", SKIPPED, "no Salesforce credentials / My Domain URL")
            )
        else:
            out.extend(salesforce_status(clients.salesforce, create=create))
    return out


def setup_crm(target: Target, *, crms: Sequence[str] = ("hubspot", "salesforce")) -> list[FieldStatus]:
    """Create what is missing; answer the state of every field afterwards."""
    return crm_status(target, create=True, crms=crms)


def missing_crm_fields(target: Target) -> list[str]:
    """The hub's CRM fields the target's CRMs lack (or hold in another shape), qualified
    (``"salesforce Opportunity.ERP_Order_Number__c"``); empty when all are there. For ``o2c doctor``."""
    return [s.qualified for s in crm_status(target, create=False) if s.state in (MISSING, MISMATCH)]
