"""The CRM sandboxes as witnesses of HubSpot's and Salesforce's published contracts (vendor-specs/): a new
portal/org has no O2C fields, an invented property/field is refused the vendor's way, ``o2c setup crm`` creates
what the hub needs; and the connector defects they expose: a refused write-back names the missing fields
(issue 10, defect 11), a task creation retried after a timeout creates one task (defect 12), and Salesforce's
client credentials need the org's My Domain (defect 10)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from localcloud.sandboxes import HubSpotSandbox, SalesforceSandbox
from o2c_cli.crm_setup import CREATED, PRESENT, hubspot_status, salesforce_status
from shared.errors import UnknownFields
from shared.outbound.salesforce import SalesforceCrm
from tests.connectors.conftest import HUBSPOT_TOKEN, SF_CLIENT_ID, FakeSleep, hubspot_crm, salesforce_crm
from tests.connectors.test_hubspot_connector import given_acme_deal
from tests.connectors.test_salesforce_connector import given_yen_opportunity

ACME_BARE = {"name": "Acme GmbH", "domain": "acme.de", "country": "DE"}
DUE = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)


def call(url: str, method: str, path: str, body: Any = None, token: str = HUBSPOT_TOKEN) -> tuple[int, Any]:
    """A raw vendor API call: (status, decoded JSON body or None)."""
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def salesforce_token(sandbox: SalesforceSandbox) -> str:
    crm = salesforce_crm(sandbox, FakeSleep())
    return crm._current_token().access_token


# --- HubSpot ---------------------------------------------------------------------------------------------


def test_hubspot_refuses_an_invented_property_with_its_validation_error(
    fresh_hubspot: HubSpotSandbox,
) -> None:
    # Given a new portal and a deal in it
    deal_id = fresh_hubspot.create_deal(
        "Acme", "100.00", "EUR", company=ACME_BARE, contacts=[], line_items=[]
    )

    # When a client writes a property the portal does not have
    status, body = call(
        fresh_hubspot.url,
        "PATCH",
        f"/crm/v3/objects/deals/{deal_id}",
        {"properties": {"dealname": "Acme 2", "o2c_invented": "x"}},
    )

    # Then HubSpot's 400: VALIDATION_ERROR, one ErrorDetail with PROPERTY_DOESNT_EXIST naming it; nothing written
    assert status == 400
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error" and body["correlationId"]
    assert [(e["code"], e["context"]["propertyName"]) for e in body["errors"]] == [
        ("PROPERTY_DOESNT_EXIST", ["o2c_invented"])
    ]
    assert fresh_hubspot.deal(deal_id)["properties"]["dealname"] == "Acme"


def test_hubspot_refuses_invented_properties_and_values_on_create(fresh_hubspot: HubSpotSandbox) -> None:
    deal_id = fresh_hubspot.create_deal(
        "Acme", "100.00", "EUR", company=ACME_BARE, contacts=[], line_items=[]
    )
    association = [
        {
            "to": {"id": deal_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}],
        }
    ]
    base = {"hs_task_subject": "Call", "hs_timestamp": "2026-12-08T17:00:00.000Z"}

    # An invented property, and a value outside a HubSpot enumeration, are both refused
    status, body = call(
        fresh_hubspot.url,
        "POST",
        "/crm/v3/objects/tasks",
        {"properties": {**base, "o2c_idempotency_key": "k"}, "associations": association},
    )
    assert (status, body["errors"][0]["code"]) == (400, "PROPERTY_DOESNT_EXIST")
    status, body = call(
        fresh_hubspot.url,
        "POST",
        "/crm/v3/objects/tasks",
        {"properties": {**base, "hs_task_status": "OPEN"}, "associations": association},
    )
    assert (status, body["errors"][0]["code"]) == (400, "INVALID_OPTION")
    assert fresh_hubspot.tasks() == []


def test_hubspot_reads_answer_only_properties_the_portal_has(fresh_hubspot: HubSpotSandbox) -> None:
    deal_id = fresh_hubspot.create_deal(
        "Acme", "100.00", "EUR", company=ACME_BARE, contacts=[], line_items=[]
    )
    status, body = call(
        fresh_hubspot.url, "GET", f"/crm/v3/objects/deals/{deal_id}?properties=dealname,o2c_payment_status"
    )
    assert status == 200
    assert "o2c_payment_status" not in body["properties"] and body["properties"]["dealname"] == "Acme"


def test_hubspot_properties_api_creates_a_property_once(fresh_hubspot: HubSpotSandbox) -> None:
    definition = {
        "name": "o2c_payment_status",
        "label": "Payment status",
        "groupName": "dealinformation",
        "type": "string",
        "fieldType": "text",
    }
    # A type outside PropertyCreate's enum is refused
    status, body = call(fresh_hubspot.url, "POST", "/crm/v3/properties/deals", {**definition, "type": "text"})
    assert (status, body["category"]) == (400, "VALIDATION_ERROR")
    # Created once; the second time HubSpot answers 409; GET finds it; the deal takes it now
    status, body = call(fresh_hubspot.url, "POST", "/crm/v3/properties/deals", definition)
    assert status == 201 and (body["name"], body["type"], body["fieldType"], body["hubspotDefined"]) == (
        "o2c_payment_status",
        "string",
        "text",
        False,
    )
    assert call(fresh_hubspot.url, "POST", "/crm/v3/properties/deals", definition)[0] == 409
    assert call(fresh_hubspot.url, "GET", "/crm/v3/properties/0-3/o2c_payment_status")[0] == 200
    assert call(fresh_hubspot.url, "GET", "/crm/v3/properties/deals/o2c_nope")[0] == 404


def test_setup_crm_creates_the_hub_properties_then_leaves_them(fresh_hubspot: HubSpotSandbox) -> None:
    crm = hubspot_crm(fresh_hubspot, FakeSleep())
    first = hubspot_status(crm, create=True)
    assert {s.state for s in first} == {CREATED}
    assert {s.state for s in hubspot_status(crm, create=True)} == {PRESENT}
    assert "o2c_erp_order_number" in fresh_hubspot.property_names("deals")


def test_a_refused_hubspot_write_back_names_the_missing_properties(fresh_hubspot: HubSpotSandbox) -> None:
    # Given a portal where nobody ran o2c setup crm (company fields the hub reads are absent too)
    deal_id = fresh_hubspot.create_deal(
        "Acme", "100.00", "EUR", company=ACME_BARE, contacts=[], line_items=[]
    )

    # When the hub writes back, Then UnknownFields names what HubSpot lacks (defect 11: not a generic 4xx)
    with pytest.raises(UnknownFields) as raised:
        hubspot_crm(fresh_hubspot, FakeSleep()).update_deal(
            deal_id, {"o2c_erp_order_number": "SO-1", "o2c_payment_status": "paid"}
        )
    assert raised.value.fields == ("o2c_erp_order_number", "o2c_payment_status")
    assert raised.value.status == 400


def test_a_hubspot_task_retried_after_a_timeout_is_created_once(hubspot: HubSpotSandbox) -> None:
    # Given HubSpot creates the task but answers after the client gave up (timeout)
    deal_id = given_acme_deal(hubspot)
    crm = hubspot_crm(hubspot, FakeSleep(), timeout_s=0.3)
    hubspot.answer_late_next(0.0)  # the first search answers at once
    hubspot.answer_late_next(1.0)  # the POST is carried out, its answer comes too late

    # When the connector retries
    task_id = crm.create_task(
        deal_id,
        subject="Chargeback",
        body="Submit evidence",
        due=DUE,
        owner_id=None,
        idempotency_key="o2c-dispute-dp_1",
    )

    # Then the deal has one task (defect 12: a blind retry of the POST made two), the one returned
    tasks = hubspot.tasks(deal_id)
    assert [t["id"] for t in tasks] == [task_id]
    assert tasks[0]["properties"]["hs_task_subject"] == "Chargeback [o2c-dispute-dp_1]"
    # and asking again for the same key finds it instead of creating another
    again = crm.create_task(
        deal_id,
        subject="Chargeback",
        body="Submit evidence",
        due=DUE,
        owner_id=None,
        idempotency_key="o2c-dispute-dp_1",
    )
    assert again == task_id and len(hubspot.tasks(deal_id)) == 1


# --- Salesforce ------------------------------------------------------------------------------------------


def test_salesforce_refuses_an_invented_field_with_invalid_field(fresh_salesforce: SalesforceSandbox) -> None:
    # Given a new org (no custom fields) and an opportunity in it
    opp_id = fresh_salesforce.create_opportunity(
        "Kaisha", "50000", "JPY", account={"Name": "Kaisha KK"}, contacts=[], line_items=[]
    )
    token = salesforce_token(fresh_salesforce)

    # When a client writes a field the org does not have
    status, body = call(
        fresh_salesforce.url,
        "PATCH",
        f"/services/data/v62.0/sobjects/Opportunity/{opp_id}",
        {"NextStep": "Invoice", "Invented__c": "x"},
        token=token,
    )
    # Then Salesforce's 400 error array with INVALID_FIELD; nothing written
    assert status == 400
    assert body == [
        {
            "message": "No such column 'Invented__c' on sobject of type Opportunity",
            "errorCode": "INVALID_FIELD",
        }
    ]
    assert fresh_salesforce.opportunity(opp_id)["fields"].get("NextStep") is None

    # A field that cannot be written: INVALID_FIELD_FOR_INSERT_UPDATE naming it
    status, body = call(
        fresh_salesforce.url,
        "PATCH",
        f"/services/data/v62.0/sobjects/Opportunity/{opp_id}",
        {"IsWon": True},
        token=token,
    )
    assert (status, body[0]["errorCode"], body[0]["fields"]) == (
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ["IsWon"],
    )

    # Creating a Task with an invented field: INVALID_FIELD too
    status, body = call(
        fresh_salesforce.url,
        "POST",
        "/services/data/v62.0/sobjects/Task",
        {"Subject": "Call", "WhatId": opp_id, "Colour__c": "red"},
        token=token,
    )
    assert (status, body[0]["errorCode"]) == (400, "INVALID_FIELD")


def test_salesforce_reads_answer_the_sobjects_fields_and_only_those(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    opp_id = fresh_salesforce.create_opportunity(
        "Kaisha", "50000", "JPY", account={"Name": "Kaisha KK"}, contacts=[], line_items=[]
    )
    token = salesforce_token(fresh_salesforce)
    status, record = call(
        fresh_salesforce.url, "GET", f"/services/data/v62.0/sobjects/Opportunity/{opp_id}", token=token
    )
    assert status == 200
    assert {"Id", "StageName", "CloseDate", "IsWon", "Pricebook2Id", "CurrencyIsoCode"} <= set(record)
    assert not [name for name in record if name.endswith("__c")]


def test_salesforce_custom_fields_are_deployed_through_the_tooling_api(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    token = salesforce_token(fresh_salesforce)
    field = {
        "FullName": "Opportunity.ERP_Order_Number__c",
        "Metadata": {"label": "ERP Order Number", "type": "Text", "length": 80},
    }
    # A field type outside the Metadata API's list is refused
    status, body = call(
        fresh_salesforce.url,
        "POST",
        "/services/data/v62.0/tooling/sobjects/CustomField",
        {**field, "Metadata": {**field["Metadata"], "type": "String"}},
        token=token,
    )
    assert status == 400
    status, body = call(
        fresh_salesforce.url, "POST", "/services/data/v62.0/tooling/sobjects/CustomField", field, token=token
    )
    assert status == 201 and body["success"] is True and body["id"].startswith("00N")
    status, body = call(
        fresh_salesforce.url, "POST", "/services/data/v62.0/tooling/sobjects/CustomField", field, token=token
    )
    assert (status, body[0]["errorCode"]) == (400, "DUPLICATE_DEVELOPER_NAME")
    status, described = call(
        fresh_salesforce.url, "GET", "/services/data/v62.0/sobjects/Opportunity/describe", token=token
    )
    custom = {f["name"]: f for f in described["fields"] if f["custom"]}
    assert custom["ERP_Order_Number__c"]["type"] == "string"


def test_setup_crm_deploys_the_hub_custom_fields_then_leaves_them(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    crm = salesforce_crm(fresh_salesforce, FakeSleep())
    assert {s.state for s in salesforce_status(crm, create=False)} == {"missing"}
    assert {s.state for s in salesforce_status(crm, create=True)} == {CREATED}
    assert {s.state for s in salesforce_status(crm, create=True)} == {PRESENT}
    assert "O2C_Idempotency_Key__c" in fresh_salesforce.field_names("Task")
    # the recurring line fields: a restricted picklist whose values the connector maps, and a number
    line_fields = {f["name"]: f for f in crm.describe("OpportunityLineItem")["fields"] if f["custom"]}
    frequency = line_fields["O2C_Billing_Frequency__c"]
    assert (frequency["type"], frequency["restrictedPicklist"]) == ("picklist", True)
    assert [p["value"] for p in frequency["picklistValues"]] == [
        "Monthly",
        "Quarterly",
        "Semiannually",
        "Annually",
        "Every 2 Years",
        "Every 3 Years",
    ]
    assert line_fields["O2C_Billing_Term_Months__c"]["type"] == "double"


def test_a_refused_salesforce_write_back_names_the_missing_fields(
    fresh_salesforce: SalesforceSandbox,
) -> None:
    opp_id = fresh_salesforce.create_opportunity(
        "Kaisha", "50000", "JPY", account={"Name": "Kaisha KK"}, contacts=[], line_items=[]
    )
    with pytest.raises(UnknownFields) as raised:
        salesforce_crm(fresh_salesforce, FakeSleep()).update_opportunity(
            opp_id, {"ERP_Order_Number__c": "SO-1", "Payment_Status__c": "paid"}
        )
    assert raised.value.fields == ("ERP_Order_Number__c",)  # Salesforce names the first unknown column


def test_a_salesforce_task_retried_after_a_timeout_is_created_once(salesforce: SalesforceSandbox) -> None:
    # Given Salesforce creates the task but answers after the client gave up (timeout)
    opp_id = given_yen_opportunity(salesforce)
    crm = salesforce_crm(salesforce, FakeSleep(), timeout_s=0.3)
    crm.fetch_opportunity(opp_id)  # a session first, so the late answer is the task's
    salesforce.answer_late_next(1.0)

    # When the connector retries
    task_id = crm.create_task(
        opp_id,
        subject="Chargeback",
        body="Submit evidence",
        due=DUE,
        owner_id=None,
        idempotency_key="o2c-dispute-dp_1",
    )

    # Then the opportunity has one task (defect 12), upserted on the idempotency key
    tasks = salesforce.tasks(opp_id)
    assert [t["Id"] for t in tasks] == [task_id]
    assert tasks[0]["O2C_Idempotency_Key__c"] == "o2c-dispute-dp_1"


def test_client_credentials_need_the_orgs_my_domain() -> None:
    # Salesforce serves the client credentials flow on My Domain only (defect 10)
    for login in ("https://login.salesforce.com", "https://test.salesforce.com/"):
        with pytest.raises(ValueError, match="My Domain"):
            SalesforceCrm(login, client_id=SF_CLIENT_ID, client_secret=lambda: "s")
    SalesforceCrm("https://acme.my.salesforce.com", client_id=SF_CLIENT_ID, client_secret=lambda: "s")
