"""Regenerate ``records.json`` from the team's NetSuite fact sheet (run by hand, never by tests or CI):

    python vendor-specs/netsuite/extract_facts.py /path/to/NETSUITE_RECORD_FACTS.md > vendor-specs/netsuite/records.json

The fact sheet restates Oracle's REST API Browser 2026.1 (see SOURCES.md) in a compact notation:
``name:type`` · ``name→X`` (reference to record X, or ``→sublist`` / ``→subrecord``) · ``name{id}`` (a select field).
This script parses that notation; the sections the sheet itemises only by reference ("same field family as
invoice.item") are filled from the record they name, and what the sheet states in prose (which select
fields are read-only, the enum ids) is added from ``_ENUMS`` / ``_READ_ONLY`` below, each citing its line.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

RECORDS = (
    "customer",
    "salesOrder",
    "invoice",
    "creditMemo",
    "customerPayment",
    "returnAuthorization",
    "customerRefund",
    "deposit",
)
_SOURCE_STATUS = "read-side lifecycle status (facts: 'read-side'); written by NetSuite, never by a client"
# enum ids per select field, as the fact sheet lists them ("Key enums" and inline ``enum`` notes)
_ENUMS: dict[str, dict[str, list[str]]] = {
    "salesOrder": {
        "orderStatus": ["A", "B"],
        "status": ["A", "B", "C", "D", "E", "F", "G", "H"],
        "handlingMode": ["MIMIC", "PROCESS", "SAVE_ONLY"],
        "paymentOperation": ["SALE", "VOID", "AUTHORIZATION"],
        "intercoStatus": ["1", "2", "3"],
    },
    "returnAuthorization": {
        "orderStatus": ["A", "B"],
        "status": ["A", "B", "C", "D", "E", "F", "G", "H"],
        "handlingMode": ["SAVE_ONLY"],
        "intercoStatus": ["1", "2", "3"],
    },
    "invoice": {
        "status": ["A", "B", "D", "E", "V"],
        "approvalStatus": ["11", "1", "2", "3"],
        "intercoStatus": ["1", "2", "3"],
        "predictedPaymentDateAvailability": ["AVAILABLE", "UNAVAILABLE_NOT_ENOUGH_DATA"],
        "userEstimateSource": ["COMPANY_ESTIMATE", "CUSTOMER_PROMISED_DATE"],
        "whichChargesToAdd": ["ALL", "TRANSACTION_DATE", "AS_OF_DATE"],
    },
    "creditMemo": {
        "status": ["A", "B", "V"],
        "intercoStatus": ["1", "2", "3"],
        "whichChargesToAdd": ["ALL", "TRANSACTION_DATE", "AS_OF_DATE"],
    },
    "customerPayment": {
        "status": ["A", "R", "B", "C"],
        "handlingMode": ["MIMIC", "PROCESS", "SAVE_ONLY"],
        "paymentOperation": ["SALE", "CAPTURE"],
    },
    "customerRefund": {
        "status": ["R", "V"],
        "handlingMode": ["MIMIC", "PROCESS", "SAVE_ONLY"],
        "paymentOperation": ["CREDIT", "REFUND"],
    },
    "customer": {
        "billingTransactionType": ["CashSale", "CustInvc"],
        "creditHoldOverride": ["AUTO", "OFF", "ON"],
        "emailPreference": ["PDF", "HTML", "DEFAULT"],
        "alcoholRecipientType": ["CONSUMER", "LICENSEE"],
        "globalSubscriptionStatus": ["1", "2", "3", "4"],
        "monthlyClosing": ["1", "5", "10", "15", "20", "25", "31"],
        "numberFormat": ["0", "1", "2", "3", "4", "5"],
        "negativeNumberFormat": ["0", "1"],
        "symbolPlacement": ["1", "2"],
        "thirdPartyCarrier": ["fedex", "ups", "usps"],
    },
    "deposit": {},
}
_ITEM_ENUMS = {
    "commitInventory": ["1", "2", "3"],
    "itemFulfillmentChoice": ["1", "2"],
    "itemSubtype": ["Sale", "Purchase", "Resale"],
    "shipCarrier": ["ups", "nonups"],
    "vsoeDeferral": ["DEFERALLUNTIL", "DEFERUNTIL"],
    "vsoePermitDiscount": ["IFDELIVERED", "NEVER"],
    "vsoeSOPGroup": ["EXCLUDE", "NORMAL", "SOFTWARE"],
    "costEstimateType": [
        "PREFVENDORRATE",
        "AVGCOST",
        "PURCHORDERRATE",
        "LASTPURCHPRICE",
        "MEMBERDEFINED",
        "CUSTOM",
        "ITEMDEFINED",
        "PURCHPRICE",
    ],
    "itemType": [
        "Group",
        "Description",
        "Discount",
        "EndGroup",
        "GiftCert",
        "Subtotal",
        "Service",
        "ShipItem",
        "TaxItem",
        "InvtPart",
        "Payment",
        "Expense",
        "NonInvtPart",
        "TaxGroup",
        "Kit",
        "Markup",
        "DwnLdItem",
        "OthCharge",
        "Assembly",
        "SubscriPlan",
    ],
}
# Fields NetSuite computes (the facts: status is "read-side"; links are "read-only"; totals and balances are
# NetSuite's sums). A client that writes one is refused.
_READ_ONLY = {
    "id",
    "links",
    "refName",
    "status",
    "createdDate",
    "lastModifiedDate",
    "total",
    "subtotal",
    "taxTotal",
    "amountRemaining",
    "amountPaid",
    "applied",
    "unapplied",
    "balance",
    "depositBalance",
    "overdueBalance",
    "unbilledOrders",
    "amountRemainingTotalBox",
    "totalAfterTaxes",
}
_ADDRESS = (
    "addr1 · addr2 · addr3 · addrPhone · addrText · addressee · attention · city · country{id} · externalId · "
    "lastModifiedDate · links · override:boolean · refName · state · zip"
)
_ABOUT = (
    "NetSuite Record REST API v1 (REST API Browser 2026.1) as restated in the team's NETSUITE_RECORD_FACTS.md "
    "(from github wsjmnh/netsuite-record-rest-docs; see SOURCES.md). Field names, types, reference targets, "
    "select-field ids and sublist element fields of the records the hub reads and writes. Generated by "
    "extract_facts.py; 'readOnly' marks what NetSuite computes (status is read-side; totals are its sums)."
)
_CONVENTIONS = {
    "basePath": "/services/rest/record/v1",
    "headers": {
        "X-NetSuite-PropertyNameValidation": ["Error", "Warning", "Ignore"],
        "X-NetSuite-PropertyValueValidation": ["Error", "Warning", "Ignore"],
        "Prefer": ["respond-async", "transient (SuiteQL)"],
    },
    "queryParameters": [
        "q",
        "limit",
        "offset",
        "ids",
        "expandRecords",
        "expandSubResources",
        "expand",
        "fields",
        "replace",
        "replaceSelectedFields",
        "simpleEnumFormat",
    ],
    "errorMediaType": "application/vnd.oracle.resource+json; type=error",
    "nsError": {
        "type": "uri",
        "title": "string",
        "status": "int32",
        "o:errorDetails": [
            "detail",
            "o:errorCode",
            "o:errorHeader",
            "o:errorPath",
            "o:errorQueryParam",
            "o:errorUrl",
        ],
    },
    "sublist": ["count", "hasMore", "items", "links", "offset", "totalResults"],
    "reference": {"write": ["id", "externalId"], "read": ["id", "refName", "links"]},
    "select": {"write": ["id"], "read": ["id", "refName"]},
}
# The fact sheet gives ids only; these labels are NetSuite's usual names (the sheet: "in NetSuite convention
# A = Pending Approval, B = Pending Fulfillment; verify").
_LABELS = {
    "salesOrder.orderStatus": {"A": "Pending Approval", "B": "Pending Fulfillment"},
    "salesOrder.status": {
        "A": "Pending Approval",
        "B": "Pending Fulfillment",
        "C": "Cancelled",
        "D": "Partially Fulfilled",
        "E": "Pending Billing/Partially Fulfilled",
        "F": "Pending Billing",
        "G": "Billed",
        "H": "Closed",
    },
    "returnAuthorization.orderStatus": {"A": "Pending Approval", "B": "Pending Receipt"},
    "returnAuthorization.status": {
        "A": "Pending Approval",
        "B": "Pending Receipt",
        "C": "Cancelled",
        "D": "Partially Received",
        "E": "Pending Refund/Partially Received",
        "F": "Pending Refund",
        "G": "Refunded",
        "H": "Closed",
    },
    "invoice.status": {
        "A": "Open",
        "B": "Paid In Full",
        "D": "Pending Approval",
        "E": "Rejected",
        "V": "Voided",
    },
    "creditMemo.status": {"A": "Open", "B": "Fully Applied", "V": "Voided"},
    "customerPayment.status": {
        "A": "Unapproved Payment",
        "B": "Not Deposited",
        "C": "Deposited",
        "R": "Rejected",
    },
    "customerRefund.status": {"R": "Refunded", "V": "Voided"},
}
# Custom fields vary per account; these are the ones the hub's setup defines in the account (README, "NetSuite").
_CUSTOM_FIELDS = {
    "salesOrder": {
        "custbody_o2c_released": {"type": "boolean", "purpose": "paid: released to fulfilment"},
    },
    "customer": {"custentity_o2c_dunning": {"type": "string", "purpose": "dunning state (past_due)"}},
}
_TOKEN = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?::(?P<type>[A-Za-z0-9-]+(?:\[\])?))|(?:→(?P<ref>[A-Za-z0-9-]+))|(?P<enum>\{id[^}]*\}))?"
)


def _split(text: str) -> list[str]:
    """Split on `` · `` outside parentheses."""
    parts, depth, current = [], 0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and text.startswith(" · ", i):
            parts.append(current)
            current = ""
            i += 3
            continue
        current += ch
        i += 1
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _fields(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    text = text.replace("**", "")
    for raw in _split(text):
        token = raw.strip().rstrip(".")
        plural = re.match(r"^(.+?) \((booleans|floats|double)\)$", token)
        if plural:  # "toBeEmailed · toBeFaxed · toBePrinted (booleans)" came as the last name
            token = plural.group(1)
        names: list[str] = []
        slash = re.match(r"^([A-Za-z]+?)(\d)/(?:[A-Za-z]+\d/?)+(:\w+)?$", token)
        dots = re.match(r"^([A-Za-z]+?)(\d)\.\.(\d)$", token)
        if slash:
            names = [f"{slash.group(1)}{n}" for n in range(1, 4)]
            token = names[0] + (slash.group(3) or "")
        elif dots:
            names = [f"{dots.group(1)}{n}" for n in range(int(dots.group(2)), int(dots.group(3)) + 1)]
            token = names[0]
        match = _TOKEN.match(token)
        if not match:
            continue
        name = match.group("name")
        spec: dict[str, Any]
        if match.group("ref"):
            ref = match.group("ref")
            spec = {"type": ref} if ref in ("sublist", "subrecord") else {"type": "reference", "record": ref}
        elif match.group("enum"):
            spec = {"type": "select"}
        elif match.group("type"):
            spec = {"type": match.group("type")}
        else:
            spec = {
                "type": {"booleans": "boolean", "floats": "float", "double": "double"}.get(
                    plural.group(2), "string"
                )
                if plural
                else "string"
            }
        for n in names or [name]:
            out[n] = dict(spec)
    return out


def _paragraph(lines: list[str], start: int) -> str:
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line.strip())
    return " ".join(out)


def _section(text: str, record: str) -> list[str]:
    found = re.search(rf"^## {record} .*?(?=^## |\Z)", text, re.M | re.S)
    assert found, record
    return found.group(0).splitlines()


def main(path: str) -> None:
    with open(path, encoding="utf-8") as source:
        text = source.read()
    records: dict[str, Any] = {}
    for record in RECORDS:
        lines = _section(text, record)
        source = next(line for line in lines if line.startswith("Source:"))
        body_at = next(i for i, line in enumerate(lines) if line.startswith("Body ("))
        body_text = _paragraph(lines, body_at).split(":", 1)[1]
        fields = _fields(body_text)
        sublists: dict[str, Any] = {}
        for i, line in enumerate(lines):
            m = re.match(r"^(?:- |Sublist )`(\w+)` \(([^)]*)\)(?: —[^:]*)?:(.*)$", line)
            if m and i != body_at:
                para = _paragraph(lines, i)
                rest = para.split(":", 1)[1] if ":" in para else ""
                # the element list ends where the next "- `name`" bullet starts
                rest = re.split(r" - `", rest)[0]
                sublists[m.group(1)] = {"element": m.group(2).split(",")[0].strip(), "fields": _fields(rest)}
        for name, spec in fields.items():
            if name in _ENUMS.get(record, {}):
                spec["type"] = "select"
                spec["enum"] = _ENUMS[record][name]
            if name in _READ_ONLY:
                spec["readOnly"] = True
            if name == "status" and "enum" in spec:
                spec["note"] = _SOURCE_STATUS
        records[record] = {"source": source.removeprefix("Source: "), "fields": fields, "sublists": sublists}
    # sublists the sheet names only by family
    so_item = records["salesOrder"]["sublists"]["item"]["fields"]
    inv_item = records["invoice"]["sublists"]["item"]["fields"]
    for spec_fields in (so_item, inv_item):
        for name, values in _ITEM_ENUMS.items():
            if name in spec_fields:
                spec_fields[name] = {"type": "select", "enum": values}
    records["creditMemo"]["sublists"]["item"] = {
        "element": "creditMemo-itemElement",
        "fields": {**inv_item, "isDropShipment": {"type": "boolean"}},
        "note": "facts: 'same field family as invoice.item, plus isDropShipment'",
    }
    records["returnAuthorization"]["sublists"]["item"] = {
        "element": "returnAuthorization-itemElement",
        "fields": dict(so_item),
        "note": "facts: 'same field family as salesOrder.item / creditMemo.item'",
    }
    records["creditMemo"]["sublists"]["apply"] = {
        "element": "creditMemo-applyElement",
        "fields": records["customerPayment"]["sublists"]["apply"]["fields"],
        "note": "facts: 'same shape as customerPayment.apply'",
    }
    address = {"fields": _fields(_ADDRESS), "note": "facts: address subrecords (18), one shape for all"}
    records["customer"]["sublists"]["addressBook"]["fields"]["addressBookAddress"]["fields"] = address[
        "fields"
    ]
    for record in ("salesOrder", "invoice", "creditMemo", "returnAuthorization"):
        for name in ("billingAddress", "shippingAddress"):
            if name in records[record]["fields"]:
                records[record]["fields"][name]["fields"] = address["fields"]
    records["customerRefund"]["fields"]["payeeAddress"]["fields"] = address["fields"]
    records["deposit"]["sublists"]["payment"]["fields"]["type"] = {"type": "select"}
    out = {
        "about": _ABOUT,
        "conventions": _CONVENTIONS,
        "enumLabels": _LABELS,
        "accountCustomFields": _CUSTOM_FIELDS,
        "records": records,
    }
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
