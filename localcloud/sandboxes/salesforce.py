"""A Salesforce org on loopback: OAuth 2.0 client credentials, the REST calls
``shared.outbound.salesforce`` makes, and Outbound Messages (SOAP 1.1) when an Opportunity is won.

A witness, not a mirror: the sObjects and their fields are those of ``vendor-specs/salesforce/
sobjects-o2c-subset.jsforce.json`` (standard fields, with multi-currency and State/Country picklists turned on),
and nothing from the hub is imported. The org starts WITHOUT custom fields: ``*__c`` fields exist once deployed
through the Tooling API (``POST .../tooling/sobjects/CustomField``, what ``o2c setup crm`` does). Writing a field
the org does not have answers 400 ``[{"errorCode": "INVALID_FIELD", ...}]``; a field that cannot be written,
``INVALID_FIELD_FOR_INSERT_UPDATE``; a record read answers every field of the sObject, and only those.

Vendor API (login and instance are the same server; the token's ``instance_url`` is ``url``):
- ``POST /services/oauth2/token`` (form ``grant_type=client_credentials``, ``client_id``, ``client_secret``);
  wrong credentials → 400 ``{"error": "invalid_client", ...}`` as Salesforce answers
- ``GET /services/oauth2/userinfo`` (OpenID Connect UserInfo, ``Authorization: Bearer <token or session id>``):
  ``{"sub", "user_id", "organization_id", "preferred_username", ..., "urls"}``; a missing or dead token →
  403 ``Missing_OAuth_Token`` / ``Bad_OAuth_Token`` (text/plain), as Salesforce's identity service answers
- Outbound Messages carry ``SessionId``: a live session of the org, as with "Send Session ID" ticked
  (``send_session_id=False``: ``xsi:nil``); it is a bearer token like an issued one, until ``expire_tokens``
- ``GET /services/data/vXX.X/sobjects/{Opportunity|Account|Contact}/{id}[?fields=A,B]``
- ``PATCH /services/data/vXX.X/sobjects/Opportunity/{id}`` → 204
- ``POST /services/data/vXX.X/sobjects/Task`` → 201; upsert ``PATCH .../sobjects/Task/{ExternalIdField}/{value}``
  → 201 ``created: true`` / 200 ``created: false`` (404 ``NOT_FOUND`` when the field is not an external id)
- ``GET /services/data/vXX.X/sobjects/{Object}/describe``; Tooling API
  ``POST /services/data/vXX.X/tooling/sobjects/CustomField`` ``{"FullName": "Object.Name__c", "Metadata": {...}}``
  → ``{"id"}``; ``DELETE .../tooling/sobjects/CustomField/{id}`` → 204
- ``GET /services/data/vXX.X/query?q=SELECT ... FROM OpportunityLineItem|OpportunityContactRole WHERE
  OpportunityId = '<id>'`` (anything else → 400 MALFORMED_QUERY), paged by ``query_page_size`` with
  ``nextRecordsUrl`` → ``GET /services/data/vXX.X/query/{cursor}``
Data API calls need ``Authorization: Bearer <issued token>``, else 401 ``[{"message", "errorCode":
"INVALID_SESSION_ID"}]``.

Control (see also ``base``):
- ``POST /_sandbox/opportunities`` (body = ``create_opportunity`` keyword arguments) → ``{"id"}``
- ``GET /_sandbox/opportunities/{id}`` → ``{"id", "fields", "account", "lineItems", "contactRoles"}``
- ``POST /_sandbox/opportunities/{id}/win`` → ``{"status", "body"}`` (the hub's answer to the message)
- ``POST /_sandbox/tokens/expire`` → ``{"expired": n}`` (every issued token now answers 401)
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import secrets
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_reply

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_PREFIX = {
    "Opportunity": "006",
    "Account": "001",
    "Contact": "003",
    "OpportunityContactRole": "00K",
    "OpportunityLineItem": "00k",
    "Product2": "01t",
    "User": "005",
    "Task": "00T",
    "CustomField": "00N",
    "Notification": "04l",
    "Action": "04k",
}
_V = r"/services/data/(v[0-9]{2,3}\.[0-9])"
_ID = r"([a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?)"
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)\s+WHERE\s+OpportunityId\s*=\s*"
    r"'(?P<id>(?:[^'\\]|\\.)*)'\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SOQL_OBJECTS = {
    "opportunitylineitem": "OpportunityLineItem",
    "opportunitycontactrole": "OpportunityContactRole",
}
SCHEMA_PATH = (
    Path(__file__).resolve().parents[2] / "vendor-specs" / "salesforce" / "sobjects-o2c-subset.jsforce.json"
)
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
#: org features this sandbox org has turned on (their fields exist)
ORG_FEATURES = ("multiCurrency", "stateAndCountryPicklists")
#: Metadata API field types the Tooling API takes for a CustomField, and the describe type each becomes
_CUSTOM_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Picklist": "picklist",
}
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c$")
_DATE_FIELDS = {"CloseDate", "ActivityDate", "ServiceDate", "Birthdate", "RecurrenceStartDateOnly"}
_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

OUTBOUND_MESSAGE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>{action_id}</ActionId>
   {session}
   <EnterpriseUrl>{base}/services/Soap/c/62.0/{org15}</EnterpriseUrl>
   <PartnerUrl>{base}/services/Soap/u/62.0/{org15}</PartnerUrl>
{notifications}  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"""
NOTIFICATION = """   <Notification>
    <Id>{notification_id}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{Id}</sf:Id>
     <sf:AccountId>{AccountId}</sf:AccountId>
     <sf:Amount>{Amount}</sf:Amount>
     <sf:CurrencyIsoCode>{CurrencyIsoCode}</sf:CurrencyIsoCode>
     <sf:IsWon>{IsWon}</sf:IsWon>
     <sf:StageName>{StageName}</sf:StageName>
     <sf:LastModifiedDate>{LastModifiedDate}</sf:LastModifiedDate>
    </sObject>
   </Notification>
"""


def to_18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: a checksum of the upper-case positions of each 5 chars."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def _rest_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _soap_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _soap_double(value: object) -> str:
    """A currency field as an Outbound Message writes it: 24000 → ``24000.0``, 1234.50 → ``1234.5``."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{int(number)}.0"
    return format(number.normalize(), "f")


def _number(value: object) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


class SalesforceSandbox(Sandbox):
    vendor = "salesforce"

    def __init__(
        self,
        *,
        webhook_url: str,
        org_id: str,
        client_id: str,
        client_secret: str,
        query_page_size: int = 2000,
        send_session_id: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.org_id = org_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.query_page_size = query_page_size
        #: the outbound message's "Send Session ID" box: each message carries a live session of the org
        self.send_session_id = send_session_id
        self._counter = itertools.count(random.randint(62**4, 62**5))
        self.action_id = self._new_id("Action")
        self.owner_id = self._new_id("User")
        self._tokens: set[str] = set()
        self._records: dict[str, dict[str, dict[str, Any]]] = {
            name: {}
            for name in ("Opportunity", "Account", "Contact", "OpportunityLineItem", "OpportunityContactRole")
        }
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._tasks: list[dict[str, Any]] = []
        self._late_replies: list[float] = []
        #: deployed custom fields: sObject → field name → describe entry (Activity's go to Task)
        self._custom: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA["sobjects"]}
        #: CustomField id → (the sObjects it is on, its name)
        self._custom_ids: dict[str, tuple[list[str], str]] = {}
        self.api_routes += [
            ("POST", re.compile(r"^/services/oauth2/token$"), self._token),
            ("GET", re.compile(r"^/services/oauth2/userinfo$"), self._userinfo),
            ("GET", re.compile(rf"^{_V}/sobjects/(\w+)/describe/?$"), self._describe),
            ("POST", re.compile(rf"^{_V}/tooling/sobjects/CustomField/?$"), self._create_custom_field),
            ("DELETE", re.compile(rf"^{_V}/tooling/sobjects/CustomField/{_ID}$"), self._delete_custom_field),
            ("GET", re.compile(rf"^{_V}/sobjects/(Opportunity|Account|Contact)/{_ID}$"), self._get_sobject),
            ("PATCH", re.compile(rf"^{_V}/sobjects/(Opportunity)/{_ID}$"), self._patch_sobject),
            ("PATCH", re.compile(rf"^{_V}/sobjects/Task/(\w+__c)/([^/]+)$"), self._upsert_task),
            ("GET", re.compile(rf"^{_V}/query/?$"), self._query),
            ("POST", re.compile(rf"^{_V}/sobjects/Task/?$"), self._create_task),
            ("GET", re.compile(rf"^{_V}/query/([0-9A-Za-z]+-[0-9]+)$"), self._query_more),
        ]
        self.control_routes += [
            ("POST", re.compile(r"^/_sandbox/opportunities$"), self._c_create),
            ("GET", re.compile(rf"^/_sandbox/opportunities/{_ID}$"), self._c_opportunity),
            ("POST", re.compile(rf"^/_sandbox/opportunities/{_ID}/win$"), self._c_win),
            ("POST", re.compile(r"^/_sandbox/tokens/expire$"), self._c_expire),
        ]

    # --- Python API ----------------------------------------------------------------------------------

    def create_opportunity(
        self,
        name: str,
        amount: str,
        currency: str,
        account: dict[str, Any],
        contacts: list[dict[str, Any]],
        line_items: list[dict[str, Any]],
        *,
        stage: str = "Prospecting",
        close_date: str | None = None,
        owner_id: str | None = None,
    ) -> str:
        """An Opportunity with its Account, contacts (with roles) and line items, as a user enters them, all by
        the org's field names: account ``Name``, ``BillingStreet`` ... ``BillingCountryCode``, ``Website`` and
        custom fields once deployed (``Tax_Id__c``, ``O2C_Region__c``); contact ``FirstName``, ``LastName``,
        ``Email`` (+ ``Role``, ``IsPrimary``); line ``Name``, ``ProductCode``, ``Quantity``, ``UnitPrice``
        (+ ``TotalPrice``, ``Product2Id``, ``ServiceDate`` and custom fields once deployed). A field the org
        does not have, or a value outside a restricted picklist, raises ``ValueError``.
        Returns the 18-character Opportunity id."""
        now = _rest_time(datetime.now(UTC))
        with self._lock:
            self._check_fields("Account", account)
            for person in contacts:
                self._check_fields(
                    "Contact", {k: v for k, v in person.items() if k not in ("Role", "IsPrimary")}
                )
            account_id = self._new_id("Account")
            self._records["Account"][account_id] = self._record(
                "Account",
                account_id,
                {
                    "Name": None,
                    "BillingStreet": None,
                    "BillingCity": None,
                    "BillingState": None,
                    "BillingStateCode": None,
                    "BillingPostalCode": None,
                    "BillingCountry": None,
                    "BillingCountryCode": None,
                    "Website": None,
                    "CurrencyIsoCode": currency,
                    "OwnerId": owner_id or self.owner_id,
                    **account,
                },
                now,
            )
            opp_id = self._new_id("Opportunity")
            self._records["Opportunity"][opp_id] = self._record(
                "Opportunity",
                opp_id,
                {
                    "IsDeleted": False,
                    "AccountId": account_id,
                    "Name": name,
                    "StageName": stage,
                    "Amount": _number(amount),
                    "CloseDate": close_date or date.today().isoformat(),
                    "IsClosed": False,
                    "IsWon": False,
                    "Probability": Decimal(10),
                    "Type": None,
                    "LeadSource": None,
                    "NextStep": None,
                    "Description": None,
                    "OwnerId": owner_id or self.owner_id,
                    "CurrencyIsoCode": currency,
                },
                now,
            )
            explicit_primary = any("IsPrimary" in person for person in contacts)
            for index, person in enumerate(contacts):
                fields = dict(person)
                role = fields.pop("Role", "Decision Maker")
                primary = bool(fields.pop("IsPrimary", index == 0 and not explicit_primary))
                contact_id = self._new_id("Contact")
                self._records["Contact"][contact_id] = self._record(
                    "Contact",
                    contact_id,
                    {"FirstName": None, "LastName": None, "Email": None, "AccountId": account_id, **fields},
                    now,
                )
                role_id = self._new_id("OpportunityContactRole")
                self._records["OpportunityContactRole"][role_id] = self._record(
                    "OpportunityContactRole",
                    role_id,
                    {"OpportunityId": opp_id, "ContactId": contact_id, "Role": role, "IsPrimary": primary},
                    now,
                )
            standard_line = {"Name", "ProductCode", "Quantity", "UnitPrice", "TotalPrice", "Product2Id"}
            for line in line_items:
                extra = {k: v for k, v in line.items() if k not in standard_line}
                self._check_fields("OpportunityLineItem", extra)
                self._check_picklists("OpportunityLineItem", extra)
                quantity = _number(line.get("Quantity", 1))
                unit_price = _number(line.get("UnitPrice"))
                total = _number(line.get("TotalPrice"))
                if total is None and quantity is not None and unit_price is not None:
                    total = quantity * unit_price
                line_id = self._new_id("OpportunityLineItem")
                self._records["OpportunityLineItem"][line_id] = self._record(
                    "OpportunityLineItem",
                    line_id,
                    {
                        "OpportunityId": opp_id,
                        "Product2Id": line.get("Product2Id") or self._new_id("Product2"),
                        "ProductCode": line.get("ProductCode"),
                        "Name": line.get("Name"),
                        "Quantity": quantity,
                        "UnitPrice": unit_price,
                        "TotalPrice": total,
                        "ServiceDate": None,
                        **dict.fromkeys(self._custom["OpportunityLineItem"]),
                        **extra,
                    },
                    now,
                )
            return opp_id

    def opportunity(self, opportunity_id: str) -> dict[str, Any]:
        """The stored Opportunity (with fields PATCH wrote), its Account, line items and contact roles."""
        with self._lock:
            opp_id = self._find("Opportunity", opportunity_id)
            if opp_id is None:
                raise KeyError(opportunity_id)
            opp = self._records["Opportunity"][opp_id]
            return copy.deepcopy(
                {
                    "id": opp_id,
                    "fields": opp,
                    "account": self._records["Account"].get(opp["AccountId"]),
                    "lineItems": self._children("OpportunityLineItem", opp_id),
                    "contactRoles": self._children("OpportunityContactRole", opp_id),
                }
            )

    def win(self, opportunity_id: str) -> tuple[int, str]:
        """Close the Opportunity as won and send its Outbound Message. Returns the hub's (status, body)."""
        moment = datetime.now(UTC)
        with self._lock:
            opp_id = self._find("Opportunity", opportunity_id)
            if opp_id is None:
                raise KeyError(opportunity_id)
            opp = self._records["Opportunity"][opp_id]
            opp.update(StageName="Closed Won", IsWon=True, IsClosed=True)
            opp["LastModifiedDate"] = opp["SystemModstamp"] = _rest_time(moment)
            notification = NOTIFICATION.format(
                notification_id=self._new_id("Notification"),
                Id=escape(opp_id),
                AccountId=escape(str(opp.get("AccountId") or "")),
                Amount=_soap_double(opp.get("Amount")),
                CurrencyIsoCode=escape(str(opp.get("CurrencyIsoCode") or "")),
                IsWon="true",
                StageName=escape(str(opp["StageName"])),
                LastModifiedDate=_soap_time(moment),
            )
        return self.deliver_notifications(notification)

    def deliver_notifications(self, notifications_xml: str) -> tuple[int, str]:
        """Send an Outbound Message envelope around ``Notification`` elements (already XML). With
        ``send_session_id`` it carries a fresh session of the org (usable as a bearer token until
        ``expire_tokens``), as Salesforce sends one when "Send Session ID" is ticked; else ``xsi:nil``."""
        session = '<SessionId xsi:nil="true"/>'
        if self.send_session_id:
            session = f"<SessionId>{escape(self._new_session())}</SessionId>"
        body = OUTBOUND_MESSAGE.format(
            session=session,
            org_id=escape(self.org_id),
            action_id=self.action_id,
            base=escape(self.url),
            org15=escape(self.org_id[:15]),
            notifications=notifications_xml,
        ).encode()
        return self.post_webhook(body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})

    def field_names(self, sobject: str) -> list[str]:
        """Every field the org has on ``sobject`` (standard, org-feature and deployed custom fields)."""
        with self._lock:
            return sorted(self._fields(sobject))

    def clear_requests(self) -> None:
        """Forget the request log (e.g. after a test's setup calls)."""
        with self._lock:
            self._requests.clear()

    def answer_late_next(self, delay_s: float) -> None:
        """Carry out the next API request, then wait ``delay_s`` before answering (a timeout after the fact)."""
        with self._lock:
            self._late_replies.append(float(delay_s))

    def expire_tokens(self) -> int:
        """Revoke every issued access token (the next data call answers 401 INVALID_SESSION_ID)."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    # --- helpers ---------------------------------------------------------------------------------------

    def _new_id(self, sobject: str) -> str:
        n = next(self._counter)
        digits = ""
        for _ in range(6):
            n, r = divmod(n, 62)
            digits = _ALPHABET[r] + digits
        return to_18(_PREFIX[sobject] + "5g0000" + digits)

    def _fields(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Field name → jsforce-style spec (``type``, ``nullable``) or a custom field's describe entry."""
        spec = SCHEMA["sobjects"][sobject]
        fields: dict[str, dict[str, Any]] = dict(spec["fields"])
        for feature in ORG_FEATURES:
            fields.update(SCHEMA["orgFeatureFields"][feature]["fields"].get(sobject, {}))
        fields.update(self._custom.get(sobject, {}))
        return fields

    def _read_only(self, sobject: str) -> set[str]:
        listed = SCHEMA["readOnlyFields"]
        return {*listed["*"], *listed.get(sobject, [])}

    def _check_fields(self, sobject: str, fields: dict[str, Any]) -> None:
        known = self._fields(sobject)
        for name in fields:
            if name not in known:
                raise ValueError(f"No such column '{name}' on sobject of type {sobject}")

    def _check_picklists(self, sobject: str, fields: dict[str, Any]) -> None:
        """A value outside a restricted picklist is refused (Salesforce's
        ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``)."""
        known = self._fields(sobject)
        for name, value in fields.items():
            spec = known[name]
            allowed = {p["value"] for p in spec.get("picklistValues") or []}
            if spec.get("restrictedPicklist") and value is not None and value not in allowed:
                raise ValueError(f"bad value for restricted picklist field: {value}")

    def _write_errors(self, sobject: str, fields: dict[str, Any]) -> Reply | None:
        """Salesforce's 400 for a create/update body naming a field the org does not have or cannot write."""
        known, read_only = self._fields(sobject), self._read_only(sobject)
        for name, value in fields.items():
            if name not in known:
                return self.error_reply(
                    400, f"No such column '{name}' on sobject of type {sobject}", "INVALID_FIELD"
                )
            if isinstance(value, dict | list):
                return self.error_reply(400, f"Cannot deserialize value of {name}", "JSON_PARSER_ERROR")
        refused = [name for name in fields if name in read_only]
        if refused:
            return json_reply(
                400,
                [
                    {
                        "message": f"Unable to create/update fields: {', '.join(refused)}. Please check the "
                        "security settings of this field and verify that it is read/write for your profile or "
                        "permission set.",
                        "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "fields": refused,
                    }
                ],
            )
        return None

    def _full(self, sobject: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the REST API answers it: every field of the sObject (null when unset), nothing else."""
        out: dict[str, Any] = {"attributes": dict(record["attributes"])}
        for name, spec in self._fields(sobject).items():
            if spec.get("type") == "Address":
                out[name] = _address(record, name.removesuffix("Address"))
            else:
                out[name] = record.get(name)
        return out

    def _record(self, sobject: str, record_id: str, fields: dict[str, Any], now: str) -> dict[str, Any]:
        return {
            "attributes": {"type": sobject, "url": f"/services/data/v62.0/sobjects/{sobject}/{record_id}"},
            "Id": record_id,
            **fields,
            "CreatedDate": now,
            "LastModifiedDate": now,
            "SystemModstamp": now,
        }

    def _find(self, sobject: str, record_id: str) -> str | None:
        """The stored 18-char id for a 15- or 18-char id (15-char ids are case-sensitive)."""
        full = to_18(record_id) if len(record_id) == 15 else record_id
        if full in self._records[sobject]:
            return full
        for known in self._records[sobject]:  # 18-char ids are case-insensitive
            if known.lower() == full.lower():
                return known
        return None

    def _children(self, sobject: str, opp_id: str) -> list[dict[str, Any]]:
        return [r for r in self._records[sobject].values() if r.get("OpportunityId") == opp_id]

    # --- vendor API ------------------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        default = {
            400: ("Bad request", "BAD_REQUEST"),
            401: ("Session expired or invalid", "INVALID_SESSION_ID"),
            403: ("The REST API is not enabled for this Organization.", "API_DISABLED_FOR_ORG"),
            404: ("The requested resource does not exist", "NOT_FOUND"),
            405: ("HTTP Method not allowed", "METHOD_NOT_ALLOWED"),
            429: ("Too many requests", "REQUEST_LIMIT_EXCEEDED"),
            503: ("Server unavailable", "SERVER_UNAVAILABLE"),
        }.get(status, ("An unexpected error occurred.", "UNKNOWN_EXCEPTION"))
        return json_reply(status, [{"message": message or default[0], "errorCode": code or default[1]}])

    def dispatch(self, request: Request) -> Reply:
        if request.path.startswith("/services/data/"):
            header = request.headers.get("Authorization") or ""
            token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
            with self._lock:
                valid = token is not None and token in self._tokens
                if not valid:
                    self._requests.append(f"{request.method} {request.path}")
            if not valid:
                return self.error_reply(401)
        late = None
        if not request.path.startswith("/_sandbox"):
            with self._lock:
                late = self._late_replies.pop(0) if self._late_replies else None
        reply = super().dispatch(request)
        if late:
            time.sleep(late)
        return reply

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_reply(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        if form.get("client_id") != self.client_id:
            return json_reply(
                400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            )
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            return json_reply(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        access_token = self._new_session()
        issued = str(int(datetime.now(UTC).timestamp() * 1000))
        return json_reply(
            200,
            {
                "access_token": access_token,
                "signature": secrets.token_urlsafe(32),
                "scope": "api",
                "instance_url": self.url,
                "id": f"{self.url}/id/{self.org_id}/{self.owner_id}",
                "token_type": "Bearer",
                "issued_at": issued,
            },
        )

    def _new_session(self) -> str:
        """A session id / access token of the org: ``{org id (15)}!{opaque}``, live until expired."""
        session = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens.add(session)
        return session

    def _userinfo(self, request: Request, match: re.Match[str]) -> Reply:
        """Salesforce's OpenID Connect UserInfo endpoint: who the bearer token's session belongs to. The
        identity service answers a missing or dead token with 403 and a bare error code as text."""
        header = request.headers.get("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            return _identity_error("Missing_OAuth_Token")
        with self._lock:
            if token not in self._tokens:
                return _identity_error("Bad_OAuth_Token")
        base, user = self.url, self.owner_id
        return json_reply(
            200,
            {
                "sub": f"{base}/id/{self.org_id}/{user}",
                "user_id": user,
                "organization_id": self.org_id,
                "preferred_username": "integration@o2c-hub.example.com",
                "nickname": "integration",
                "name": "O2C Integration",
                "email": "integration@o2c-hub.example.com",
                "email_verified": True,
                "given_name": "O2C",
                "family_name": "Integration",
                "zoneinfo": "Europe/London",
                "photos": {
                    "picture": f"{base}/profilephoto/005/F",
                    "thumbnail": f"{base}/profilephoto/005/T",
                },
                "profile": f"{base}/{user}",
                "picture": f"{base}/profilephoto/005/F",
                "address": {"country": "GB"},
                "urls": {
                    "enterprise": f"{base}/services/Soap/c/{{version}}/{self.org_id}",
                    "partner": f"{base}/services/Soap/u/{{version}}/{self.org_id}",
                    "rest": f"{base}/services/data/v{{version}}/",
                    "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                    "query": f"{base}/services/data/v{{version}}/query/",
                    "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
                    "profile": f"{base}/{user}",
                    "custom_domain": base,
                },
                "active": True,
                "user_type": "STANDARD",
                "language": "en_US",
                "locale": "en_GB",
                "utcOffset": 0,
                "updated_at": "2026-01-05T09:00:00Z",
                "is_app_installed": True,
            },
        )

    def _get_sobject(self, request: Request, match: re.Match[str]) -> Reply:
        sobject, record_id = match.group(2), match.group(3)
        with self._lock:
            found = self._find(sobject, record_id)
            if found is None:
                return json_reply(404, _NOT_FOUND)
            record = copy.deepcopy(self._full(sobject, self._records[sobject][found]))
        wanted = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()]
        if wanted:
            unknown = [f for f in wanted if f not in record]
            if unknown:
                return self.error_reply(
                    400, f"No such column '{unknown[0]}' on sobject of type {sobject}", "INVALID_FIELD"
                )
            record = {"attributes": record["attributes"], **{f: record[f] for f in wanted}}
        return json_reply(200, record)

    def tasks(self, opportunity_id: str | None = None) -> list[dict[str, Any]]:
        """Tasks created through the API (``WhatId`` = the opportunity)."""
        with self._lock:
            return [
                dict(t) for t in self._tasks if opportunity_id is None or t.get("WhatId") == opportunity_id
            ]

    def _create_task(self, request: Request, match: re.Match[str]) -> Reply:
        fields = request.json()
        if not isinstance(fields, dict):
            return self.error_reply(400, "Json Deserialization failed", "JSON_PARSER_ERROR")
        with self._lock:
            refused = self._task_refusal(fields)
            if refused is not None:
                return refused
            task_id = self._new_task(fields)
        return json_reply(201, {"id": task_id, "success": True, "errors": []})

    def _task_refusal(self, fields: dict[str, Any]) -> Reply | None:
        refused = self._write_errors("Task", fields)
        if refused is not None:
            return refused
        if fields.get("WhatId") and self._find("Opportunity", str(fields["WhatId"])) is None:
            return self.error_reply(400, "WhatId: id value of incorrect type", "MALFORMED_ID")
        return None

    def _new_task(self, fields: dict[str, Any]) -> str:
        task_id = self._new_id("Task")
        self._tasks.append({"Id": task_id, "Status": "Not Started", "Priority": "Normal", **fields})
        return task_id

    def _upsert_task(self, request: Request, match: re.Match[str]) -> Reply:
        """Upsert by external id: one Task per key value, however often the request is sent."""
        field, value = match.group(2), match.group(3)
        fields = request.json()
        if not isinstance(fields, dict):
            return self.error_reply(400, "Json Deserialization failed", "JSON_PARSER_ERROR")
        with self._lock:
            spec = self._fields("Task").get(field)
            if spec is None or not spec.get("externalId"):
                return json_reply(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": f"Provided external ID field does not exist or is not accessible: {field}",
                        }
                    ],
                )
            if field in fields and str(fields[field]) != value:
                return self.error_reply(
                    400, f"The value of {field} in the body does not match the URL", "INVALID_FIELD"
                )
            refused = self._task_refusal(fields)
            if refused is not None:
                return refused
            existing = [t for t in self._tasks if str(t.get(field)) == value]
            if len(existing) > 1:
                return json_reply(300, [f"/services/data/v62.0/sobjects/Task/{t['Id']}" for t in existing])
            if existing:
                existing[0].update(fields)
                return json_reply(
                    200, {"id": existing[0]["Id"], "success": True, "errors": [], "created": False}
                )
            task_id = self._new_task({**fields, field: value})
        return json_reply(201, {"id": task_id, "success": True, "errors": [], "created": True})

    # --- metadata: describe and the Tooling API -------------------------------------------------------

    def _describe(self, request: Request, match: re.Match[str]) -> Reply:
        sobject = match.group(2)
        if sobject not in SCHEMA["sobjects"]:
            return self.error_reply(404, f"The requested resource does not exist: {sobject}", "NOT_FOUND")
        with self._lock:
            read_only = self._read_only(sobject)
            fields = []
            for name, spec in self._fields(sobject).items():
                if spec.get("custom"):
                    fields.append(copy.deepcopy(spec))
                    continue
                fields.append(
                    {
                        "name": name,
                        "label": name,
                        "type": _describe_type(name, spec, sobject),
                        "custom": False,
                        "externalId": False,
                        "unique": False,
                        "nillable": bool(spec.get("nullable")),
                        "createable": name not in read_only,
                        "updateable": name not in read_only,
                    }
                )
        return json_reply(
            200,
            {
                "name": sobject,
                "label": sobject,
                "custom": False,
                "createable": True,
                "updateable": True,
                "urls": {"describe": f"/services/data/v62.0/sobjects/{sobject}/describe"},
                "fields": fields,
            },
        )

    def _create_custom_field(self, request: Request, match: re.Match[str]) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            return self.error_reply(400, "Metadata: required field missing", "REQUIRED_FIELD_MISSING")
        unknown = sorted(set(body) - {"FullName", "Metadata"})
        if unknown:
            return self.error_reply(
                400, f"No such column '{unknown[0]}' on sobject of type CustomField", "INVALID_FIELD"
            )
        full_name, meta = str(body.get("FullName") or ""), body["Metadata"]
        sobject, _, name = full_name.partition(".")
        targets = ["Task"] if sobject == "Activity" else [sobject]
        if not name or not all(t in SCHEMA["sobjects"] for t in targets):
            return self.error_reply(400, f"Cannot find entity: {sobject}", "INVALID_INPUT")
        if not _CUSTOM_NAME.match(name) or len(name) > 43:
            return self.error_reply(
                400,
                f"The API name {name} is not valid: it must end in __c and hold letters, digits, _",
                "INVALID_INPUT",
            )
        kind = meta.get("type")
        if kind not in _CUSTOM_TYPES:
            return self.error_reply(
                400,
                f"type: bad value for restricted picklist field: {kind}",
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            )
        if not meta.get("label"):
            return self.error_reply(400, "Required fields are missing: [Label]", "REQUIRED_FIELD_MISSING")
        if kind == "Text" and not 1 <= int(meta.get("length") or 0) <= 255:
            return self.error_reply(
                400, "Length: the length must be between 1 and 255", "FIELD_INTEGRITY_EXCEPTION"
            )
        with self._lock:
            if any(name in self._fields(t) for t in targets):
                return self.error_reply(
                    400, f"There's already a field named {name} on {sobject}.", "DUPLICATE_DEVELOPER_NAME"
                )
            field_id = self._new_id("CustomField")
            for target in targets:
                self._custom[target][name] = {
                    "name": name,
                    "label": str(meta["label"]),
                    "type": _CUSTOM_TYPES[kind],
                    "length": int(meta.get("length") or 0),
                    "custom": True,
                    "externalId": bool(meta.get("externalId", False)),
                    "unique": bool(meta.get("unique", False)),
                    "nillable": not meta.get("required", False),
                    "createable": True,
                    "updateable": True,
                    **_picklist(meta),
                }
            self._custom_ids[field_id] = (targets, name)
        return json_reply(201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []})

    def _delete_custom_field(self, request: Request, match: re.Match[str]) -> Reply:
        """Tooling API ``DELETE /tooling/sobjects/CustomField/{id}`` → 204: the field and its values are gone
        (an admin deleting it in Setup)."""
        with self._lock:
            found = self._custom_ids.pop(match.group(2), None)
            if found is None:
                return json_reply(404, _NOT_FOUND)
            targets, name = found
            for target in targets:
                self._custom[target].pop(name, None)
                for record in self._records.get(target, {}).values():
                    record.pop(name, None)
        return Reply(204)

    def _patch_sobject(self, request: Request, match: re.Match[str]) -> Reply:
        sobject, record_id = match.group(2), match.group(3)
        fields = request.json()
        if not isinstance(fields, dict):
            return self.error_reply(400, "Json Deserialization failed", "JSON_PARSER_ERROR")
        with self._lock:
            found = self._find(sobject, record_id)
            if found is None:
                return json_reply(404, _NOT_FOUND)
            record = self._records[sobject][found]
            refused = self._write_errors(sobject, fields)
            if refused is not None:
                return refused
            record.update(fields)
            record["LastModifiedDate"] = record["SystemModstamp"] = _rest_time(datetime.now(UTC))
        return Reply(204)

    def _query(self, request: Request, match: re.Match[str]) -> Reply:
        version = match.group(1)
        parsed = _SOQL.match(request.query.get("q", ""))
        sobject = _SOQL_OBJECTS.get(parsed.group("object").lower()) if parsed else None
        if parsed is None or sobject is None:
            return self.error_reply(
                400, "unexpected token: the sandbox only knows the connector's queries", "MALFORMED_QUERY"
            )
        literal = re.sub(r"\\(.)", r"\1", parsed.group("id"))
        fields = [f.strip() for f in parsed.group("fields").split(",") if f.strip()]
        with self._lock:
            opp_id = self._find("Opportunity", literal) if re.fullmatch(_ID, literal) else None
            rows = self._children(sobject, opp_id) if opp_id else []
            try:
                # Salesforce checks the SELECT list when it parses the query, whether or not a row matches
                self._check_select(sobject, fields)
                records = [self._project(sobject, row, fields, version) for row in rows]
            except LookupError as exc:
                return self.error_reply(
                    400, f"No such column '{exc.args[0]}' on entity '{sobject}'", "INVALID_FIELD"
                )
            return self._page(records, version, total=len(records))

    def _query_more(self, request: Request, match: re.Match[str]) -> Reply:
        version, cursor = match.group(1), match.group(2)
        with self._lock:
            records = self._cursors.pop(cursor, None)
            if records is None:
                return self.error_reply(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
            return self._page(records, version, total=int(cursor.rsplit("-", 1)[1]) + len(records))

    def _page(self, records: list[dict[str, Any]], version: str, *, total: int) -> Reply:
        page, rest = records[: self.query_page_size], records[self.query_page_size :]
        answer: dict[str, Any] = {"totalSize": total, "done": not rest, "records": page}
        if rest:
            cursor = f"01g{secrets.token_hex(6)}-{total - len(rest)}"
            self._cursors[cursor] = rest
            answer["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}"
        return json_reply(200, answer)

    def _check_select(self, sobject: str, fields: list[str]) -> None:
        """``LookupError(name)`` for a selected field the org does not have (a ``Contact.X`` path included)."""
        for name in fields:
            relation, _, sub = name.rpartition(".")
            if relation and (relation != "Contact" or "ContactId" not in self._fields(sobject)):
                raise LookupError(name)
            if sub not in self._fields("Contact" if relation else sobject):
                raise LookupError(name)

    def _project(self, sobject: str, row: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{row['Id']}"}
        }
        for name in fields:
            if "." in name:
                relation, sub = name.split(".", 1)
                related_id = row.get(f"{relation}Id")
                if relation != "Contact" or "ContactId" not in row:
                    raise LookupError(name)
                related = self._records["Contact"].get(str(related_id))
                if sub not in self._fields("Contact"):
                    raise LookupError(name)
                if related is None:
                    out[relation] = None
                    continue
                target = out.setdefault(relation, {"attributes": dict(related["attributes"])})
                target[sub] = related.get(sub)
            elif name in self._fields(sobject):
                out[name] = row.get(name)
            else:
                raise LookupError(name)
        return out

    # --- control -----------------------------------------------------------------------------------------

    def _c_create(self, request: Request, match: re.Match[str]) -> Reply:
        spec = request.json()
        if not isinstance(spec, dict):
            raise BadRequest("body must be a JSON object of create_opportunity arguments")
        return json_reply(201, {"id": self.create_opportunity(**spec)})

    def _c_opportunity(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, self.opportunity(match.group(1)))

    def _c_win(self, request: Request, match: re.Match[str]) -> Reply:
        status, body = self.win(match.group(1))
        return json_reply(200, {"status": status, "body": body})

    def _c_expire(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"expired": self.expire_tokens()})


def _picklist(meta: dict[str, Any]) -> dict[str, Any]:
    """A Picklist's describe keys from its Metadata ``valueSet`` (``valueSetDefinition.value[].fullName``):
    ``picklistValues`` ``[{value, label, active, defaultValue}]`` and ``restrictedPicklist``."""
    if meta.get("type") != "Picklist":
        return {}
    value_set = meta.get("valueSet") or {}
    values = (value_set.get("valueSetDefinition") or {}).get("value") or []
    return {
        "picklistValues": [
            {
                "value": str(v.get("fullName")),
                "label": str(v.get("label") or v.get("fullName")),
                "active": True,
                "defaultValue": bool(v.get("default", False)),
                "validFor": None,
            }
            for v in values
        ],
        "restrictedPicklist": bool(value_set.get("restricted", False)),
    }


def _identity_error(code: str) -> Reply:
    return Reply(403, code.encode(), {"Content-Type": "text/plain;charset=UTF-8"})


def _describe_type(name: str, spec: dict[str, Any], sobject: str) -> str:
    kind = spec.get("type")
    if name == "Id":
        return "id"
    if kind == "boolean":
        return "boolean"
    if kind == "number":
        return "double"
    if kind == "Address":
        return "address"
    if kind == "DateString":
        return "date" if name in _DATE_FIELDS else "datetime"
    parents = SCHEMA["sobjects"][sobject].get("parentReferences") or {}
    if name.endswith("Id") and name.removesuffix("Id") in parents:
        return "reference"
    return "string"


def _address(record: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    parts = {
        "street": record.get(f"{prefix}Street"),
        "city": record.get(f"{prefix}City"),
        "state": record.get(f"{prefix}State"),
        "stateCode": record.get(f"{prefix}StateCode"),
        "postalCode": record.get(f"{prefix}PostalCode"),
        "country": record.get(f"{prefix}Country"),
        "countryCode": record.get(f"{prefix}CountryCode"),
        "latitude": record.get(f"{prefix}Latitude"),
        "longitude": record.get(f"{prefix}Longitude"),
        "geocodeAccuracy": record.get(f"{prefix}GeocodeAccuracy"),
    }
    return parts if any(v is not None for v in parts.values()) else None
