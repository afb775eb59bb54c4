"""A HubSpot portal on loopback: the CRM v3 calls ``shared.outbound.hubspot`` makes, private-app bearer
auth, the properties API, and signed v3 webhook deliveries (``deal.propertyChange`` → the closed-won stage).

A witness, not a mirror: it follows ``vendor-specs/hubspot/crm-v3-contract.json`` (HubSpot's published CRM v3
contract, restated) and imports nothing from the hub. The portal starts with HubSpot's default properties only;
a property the hub needs exists once someone creates it (``POST /crm/v3/properties/{objectType}``, what
``o2c setup crm`` does). Writing a property that does not exist answers HubSpot's 400 ``VALIDATION_ERROR`` with
one ``errors[]`` entry per property, ``code: PROPERTY_DOESNT_EXIST``; reads answer only properties that exist.

Vendor API (``Authorization: Bearer <access_token>``, else 401 with HubSpot's error JSON):
- ``GET /crm/v3/objects/deals/{id}?properties=a,b&associations=companies,contacts,line_items&propertiesWithHistory=c``
  (each change of a deal property is kept: ``[{"value", "timestamp", "sourceType", "sourceId", ...}]``, newest
  first; a user's change is ``CRM_UI``, the hub's PATCH ``INTEGRATION``)
- ``PATCH /crm/v3/objects/deals/{id}`` ``{"properties": {...}}``
- ``POST /crm/v3/objects/{companies|contacts|line_items}/batch/read`` (207 + ``errors`` for unknown ids)
- ``POST /crm/v3/objects/tasks`` (associated to a deal, type 216), ``POST /crm/v3/objects/tasks/search``
- ``GET|POST /crm/v3/properties/{objectType}``, ``GET|DELETE /crm/v3/properties/{objectType}/{name}``

Control (see also ``base``):
- ``POST /_sandbox/deals`` (body = ``create_deal`` keyword arguments) → ``{"id"}``
- ``GET /_sandbox/deals/{id}`` → ``{"id", "properties", "propertiesWithHistory", "associations", "createdAt",
  "updatedAt"}``
- ``POST /_sandbox/deals/{id}/win`` → ``{"status", "body"}`` (the hub's answer to the signed delivery)
- ``POST /_sandbox/deliver`` ``{"events": [...]}`` → ``{"status", "body"}``
Python only: ``answer_late_next(delay_s)`` (the next API request is carried out, then answered late: a client
with a shorter timeout sees a timeout although HubSpot did the work), ``tasks(deal_id)``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import random
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_bytes, json_reply

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "vendor-specs" / "hubspot" / "crm-v3-contract.json"
CONTRACT: dict[str, Any] = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
_PROPERTY_CREATE = CONTRACT["schemas"]["PropertyCreate"]
_TYPES = frozenset(_PROPERTY_CREATE["type"]["enum"])
_FIELD_TYPES = frozenset(_PROPERTY_CREATE["fieldType"]["enum"])
_OPERATORS = frozenset(CONTRACT["schemas"]["Filter"]["operator"]["enum"])
_OBJECT_IDS = {v: k for k, v in CONTRACT["objectTypeIds"].items()}
_TASK_TO_DEAL = int(CONTRACT["associationTypes"]["task_to_deal"])
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_URI_DECODED = CONTRACT["webhookSignatureV3"]["decodedInUri"]


def signature_v3(client_secret: str, method: str, url: str, body: bytes, timestamp_ms: int | str) -> str:
    """``X-HubSpot-Signature-v3`` as HubSpot computes it (``webhookSignatureV3`` of the contract): the URL with its
    query string, the listed percent-escapes decoded, then base64(HMAC-SHA256(secret, method+uri+body+ts))."""
    uri = re.sub("%[0-9A-Fa-f]{2}", lambda m: _URI_DECODED.get(m.group(0).upper(), m.group(0)), url)
    message = method.upper().encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(client_secret.encode(), message, hashlib.sha256).digest()).decode()


_ASSOCIATION_TYPES = {
    "companies": "deal_to_company",
    "company": "deal_to_company",
    "contacts": "deal_to_contact",
    "contact": "deal_to_contact",
    "line_items": "deal_to_line_item",
    "line_item": "deal_to_line_item",
}
_PLURAL = {"company": "companies", "contact": "contacts", "line_item": "line_items"}
_OBJECT_TYPES = ("companies", "contacts", "line_items")
_ALL_TYPES = ("deals", "companies", "contacts", "line_items", "tasks")
_DEFAULT_DEAL_PROPERTIES = ("dealname", "amount", "dealstage", "closedate", "pipeline")
#: what every read answers beside the requested properties (HubSpot's always-returned ones)
_ALWAYS = {
    "deals": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("createdate", "lastmodifieddate", "hs_object_id"),
    "line_items": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
_MODIFIED = {t: next(p for p in props if "modifieddate" in p) for t, props in _ALWAYS.items()}
_CREATED = {t: props[0] for t, props in _ALWAYS.items()}
_OBJECT_NAME = {"companies": "COMPANY", "contacts": "CONTACT", "line_items": "LINE_ITEM"}


def _now_iso() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _prop(value: object) -> str | None:
    """HubSpot stores every property value as a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PropertyRefused(ValueError):
    """A write names properties the portal does not have, or values it does not take (HubSpot's 400)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


class HubSpotSandbox(Sandbox):
    vendor = "hubspot"

    def __init__(
        self,
        *,
        webhook_url: str,
        client_secret: str,
        access_token: str,
        portal_id: int = 62515,
        app_id: int = 1160452,
        closed_won_stage: str = "closedwon",
        subscription_id: int = 2881778,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.client_secret = client_secret
        self.access_token = access_token
        self.portal_id = portal_id
        self.app_id = app_id
        self.closed_won_stage = closed_won_stage
        self.subscription_id = subscription_id
        self._ids = itertools.count(random.randint(10**10, 5 * 10**10))
        self._event_ids = itertools.count(random.randint(10**9, 2 * 10**9))
        self._deals: dict[str, dict[str, Any]] = {}
        self._tasks: list[dict[str, Any]] = []
        self._objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in _OBJECT_TYPES}
        self._late_replies: list[float] = []
        now = _now_iso()
        self._schema: dict[str, dict[str, dict[str, Any]]] = {
            object_type: {
                name: _property(name, spec, hubspot_defined=True, now=now)
                for name, spec in CONTRACT["defaultProperties"][object_type].items()
            }
            for object_type in _ALL_TYPES
        }
        objects = r"(deals|companies|contacts|line_items|tasks|0-[0-9]+)"
        self.api_routes += [
            ("GET", re.compile(r"^/crm/v3/objects/(?:deals|0-3)/([^/]+)$"), self._get_deal),
            ("PATCH", re.compile(r"^/crm/v3/objects/(?:deals|0-3)/([^/]+)$"), self._patch_deal),
            ("POST", re.compile(r"^/crm/v3/objects/(?:tasks|0-27)$"), self._create_task),
            ("POST", re.compile(r"^/crm/v3/objects/(?:tasks|0-27)/search$"), self._search_tasks),
            (
                "POST",
                re.compile(r"^/crm/v3/objects/(companies|contacts|line_items)/batch/read$"),
                self._batch_read,
            ),
            ("GET", re.compile(rf"^/crm/v3/properties/{objects}$"), self._list_properties),
            ("POST", re.compile(rf"^/crm/v3/properties/{objects}$"), self._create_property),
            ("GET", re.compile(rf"^/crm/v3/properties/{objects}/([^/]+)$"), self._get_property),
            ("DELETE", re.compile(rf"^/crm/v3/properties/{objects}/([^/]+)$"), self._archive_property),
        ]
        self.control_routes += [
            ("POST", re.compile(r"^/_sandbox/deals$"), self._c_create),
            ("GET", re.compile(r"^/_sandbox/deals/(\d+)$"), self._c_deal),
            ("POST", re.compile(r"^/_sandbox/deals/(\d+)/win$"), self._c_win),
            ("POST", re.compile(r"^/_sandbox/deliver$"), self._c_deliver),
        ]

    # --- Python API ----------------------------------------------------------------------------------

    def create_deal(
        self,
        name: str,
        amount: str,
        currency: str,
        company: dict[str, Any],
        contacts: list[dict[str, Any]],
        line_items: list[dict[str, Any]],
        *,
        stage: str = "appointmentscheduled",
        pipeline: str = "default",
        close_date: str | None = None,
        owner_id: str | None = None,
    ) -> str:
        """A deal with its company, contacts and line items, as a user enters them in HubSpot (property names of
        the portal: a property that does not exist yet raises ``ValueError``, as HubSpot's UI has no field for
        it). A line item's ``amount`` defaults to quantity x price. Returns the deal id (numeric string)."""
        with self._lock:
            self._check_writable("companies", company)
            for person in contacts:
                self._check_writable("contacts", person)
            for line in line_items:
                self._check_writable("line_items", line)
            company_id = self._create_object("companies", company)
            contact_ids = [self._create_object("contacts", c) for c in contacts]
            line_ids = []
            for line in line_items:
                props = dict(line)
                props.setdefault("hs_line_item_currency_code", currency)
                if props.get("amount") is None and props.get("price") is not None:
                    props["amount"] = Decimal(str(props["price"])) * Decimal(str(props.get("quantity", 1)))
                line_ids.append(self._create_object("line_items", props))
            deal_id = str(next(self._ids))
            now = _now_iso()
            properties = {
                "dealname": name,
                "amount": amount,
                "deal_currency_code": currency,
                "dealstage": stage,
                "pipeline": pipeline,
                "closedate": close_date,
                "hubspot_owner_id": owner_id,
                "createdate": now,
                "hs_lastmodifieddate": now,
                "hs_object_id": deal_id,
            }
            self._deals[deal_id] = {
                "id": deal_id,
                "properties": {},
                "propertiesWithHistory": {},
                "associations": {"companies": [company_id], "contacts": contact_ids, "line_items": line_ids},
                "createdAt": now,
                "updatedAt": now,
            }
            self._set_deal(deal_id, properties, now, self._by_user(owner_id))
            return deal_id

    def update_object(self, object_type: str, object_id: str, properties: dict[str, Any]) -> None:
        """Change a company/contact/line item as a user would in HubSpot (values become strings)."""
        with self._lock:
            self._check_writable(object_type, properties)
            record = self._objects[object_type][str(object_id)]
            record["properties"].update({k: _prop(v) for k, v in properties.items()})

    def deal(self, deal_id: str) -> dict[str, Any]:
        """The stored deal (properties include what PATCH wrote). ``KeyError`` if unknown."""
        with self._lock:
            return json.loads(json.dumps(self._deals[str(deal_id)]))

    def property_names(self, object_type: str) -> list[str]:
        """The portal's properties of an object type (defaults + created, not archived)."""
        with self._lock:
            return sorted(self._schema[object_type])

    def clear_requests(self) -> None:
        """Forget the request log (e.g. after a test's setup calls)."""
        with self._lock:
            self._requests.clear()

    def answer_late_next(self, delay_s: float) -> None:
        """Carry out the next API request, then wait ``delay_s`` before answering (a timeout after the fact)."""
        with self._lock:
            self._late_replies.append(float(delay_s))

    def win(self, deal_id: str) -> tuple[int, str]:
        """Move the deal to the closed-won stage and deliver the signed ``deal.propertyChange`` webhook.
        Returns the hub's (status, body)."""
        moment = datetime.now(UTC)
        now_ms, now = int(moment.timestamp() * 1000), _iso(moment)
        with self._lock:
            props = self._deals[str(deal_id)]["properties"]
            self._set_deal(
                str(deal_id),
                {"dealstage": self.closed_won_stage, "closedate": props.get("closedate") or now},
                now,
                self._by_user(props.get("hubspot_owner_id")),
            )
            event = {
                "eventId": next(self._event_ids),
                "subscriptionId": self.subscription_id,
                "portalId": self.portal_id,
                "appId": self.app_id,
                "occurredAt": now_ms,
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": int(deal_id),
                "propertyName": "dealstage",
                "propertyValue": self.closed_won_stage,
                "changeSource": "CRM",
                "sourceId": "userId:1234567",
            }
        return self.deliver([event])

    def deliver(self, events: list[dict[str, Any]]) -> tuple[int, str]:
        """POST a JSON array of events to ``webhook_url``, signed (v3) as HubSpot signs it."""
        body = json_bytes(events, compact=True)
        return self.post_webhook(body, self._signed_headers(body))

    def next_event_id(self) -> int:
        """A fresh, unique ``eventId`` for hand-made ``deliver`` arrays."""
        with self._lock:
            return next(self._event_ids)

    def redelivery_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return self._signed_headers(body)  # HubSpot signs every attempt anew

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        ts_ms = int(time.time() * 1000)
        return {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": signature_v3(self.client_secret, "POST", self.webhook_url, body, ts_ms),
            "X-HubSpot-Request-Timestamp": str(ts_ms),
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)",
        }

    def _by_user(self, user_id: object) -> dict[str, Any]:
        """The source of a change made by a user in HubSpot's CRM UI."""
        user = int(str(user_id)) if str(user_id or "").isdigit() else 1234567
        return {"sourceType": "CRM_UI", "sourceId": f"userId:{user}", "updatedByUserId": user}

    def _set_deal(self, deal_id: str, changes: dict[str, Any], now: str, source: dict[str, Any]) -> None:
        """Write deal properties and, for each value that changed, a history entry (newest first), as
        HubSpot keeps ``propertiesWithHistory``. The caller holds the lock."""
        deal = self._deals[deal_id]
        changes = {**changes, "hs_lastmodifieddate": now}
        for name, raw in changes.items():
            value, before = _prop(raw), deal["properties"].get(name)
            deal["properties"][name] = value
            if value == before:
                continue
            entry = {"value": "" if value is None else value, "timestamp": now, **source}
            deal["propertiesWithHistory"].setdefault(name, []).insert(0, entry)
        deal["updatedAt"] = now

    def _create_object(self, object_type: str, properties: dict[str, Any]) -> str:
        object_id = str(next(self._ids))
        now = _now_iso()
        props = {k: _prop(val) for k, val in properties.items()}
        props.update({"hs_object_id": object_id, _CREATED[object_type]: now, _MODIFIED[object_type]: now})
        self._objects[object_type][object_id] = {
            "id": object_id,
            "properties": props,
            "createdAt": now,
            "updatedAt": now,
        }
        return object_id

    # --- the contract: properties that exist, values they take ---------------------------------------

    def _property_errors(self, object_type: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
        """HubSpot's ``ErrorDetail``s for a write (caller holds the lock)."""
        schema = self._schema[object_type]
        errors: list[dict[str, Any]] = []
        for name, value in properties.items():
            spec = schema.get(name)
            if spec is None:
                errors.append(
                    {
                        "message": f'Property "{name}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [name]},
                    }
                )
            elif spec["modificationMetadata"]["readOnlyValue"]:
                errors.append(
                    {
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                        "code": "READ_ONLY_VALUE",
                        "context": {"propertyName": [name]},
                    }
                )
            elif (
                spec["options"]
                and value not in (None, "")
                and not any(str(value) == o["value"] for o in spec["options"])
            ):
                allowed = ", ".join(o["value"] for o in spec["options"])
                errors.append(
                    {
                        "message": f"{value} was not one of the allowed options: [{allowed}]",
                        "code": "INVALID_OPTION",
                        "context": {"propertyName": [name]},
                    }
                )
            elif spec["type"] == "number" and value not in (None, "") and not _is_number(value):
                errors.append(
                    {
                        "message": f"{value} was not a valid number.",
                        "code": "INVALID_DECIMAL",
                        "context": {"propertyName": [name]},
                    }
                )
        return errors

    def _check_writable(self, object_type: str, properties: dict[str, Any]) -> None:
        errors = self._property_errors(object_type, properties)
        if errors:
            raise PropertyRefused(errors)

    def _validation_error(self, errors: list[dict[str, Any]]) -> Reply:
        listed = [
            {
                "isValid": False,
                "message": e["message"],
                "error": e["code"],
                "name": e["context"]["propertyName"][0],
            }
            for e in errors
        ]
        return self._error(
            400,
            "VALIDATION_ERROR",
            f"Property values were not valid: {json.dumps(listed)}",
            errors=errors,
        )

    def _shown(self, object_type: str, props: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
        """Only properties the portal has: unknown requested names are left out (HubSpot does not fail reads)."""
        schema = self._schema[object_type]
        names = [p for p in (wanted or []) if p in schema]
        shown = {p: props.get(p) for p in names}
        shown.update({k: props.get(k) for k in _ALWAYS[object_type]})
        return shown

    # --- vendor API ------------------------------------------------------------------------------------

    def _error(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
    ) -> Reply:
        body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        if errors:
            body["errors"] = errors
        if context:
            body["context"] = context
        return json_reply(status, body)

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        if status == 429:
            return json_reply(
                429,
                {
                    "status": "error",
                    "message": message or "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": "SECONDLY",
                },
            )
        default = {
            400: ("Invalid input.", "VALIDATION_ERROR"),
            401: ("Authentication credentials not found.", "INVALID_AUTHENTICATION"),
            404: ("resource not found", "OBJECT_NOT_FOUND"),
            405: ("method not allowed", "VALIDATION_ERROR"),
        }.get(status, ("internal error", "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"))
        return self._error(status, code or default[1], message or default[0])

    def dispatch(self, request: Request) -> Reply:
        if not request.path.startswith("/_sandbox") and (
            request.headers.get("Authorization") != f"Bearer {self.access_token}"
        ):
            with self._lock:
                self._requests.append(f"{request.method} {request.path}")
            return self.error_reply(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        late = None
        if not request.path.startswith("/_sandbox"):
            with self._lock:
                late = self._late_replies.pop(0) if self._late_replies else None
        reply = super().dispatch(request)
        if late:
            time.sleep(late)
        return reply

    def _get_deal(self, request: Request, match: re.Match[str]) -> Reply:
        deal_id = match.group(1)
        with self._lock:
            deal = self._deals.get(deal_id)
            if deal is None:
                return self.error_reply(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            wanted = [p for p in request.query.get("properties", "").split(",") if p]
            shown = self._shown("deals", deal["properties"], wanted or list(_DEFAULT_DEAL_PROPERTIES))
            answer: dict[str, Any] = {
                "id": deal_id,
                "properties": shown,
                "createdAt": deal["createdAt"],
                "updatedAt": deal["updatedAt"],
                "archived": False,
            }
            associations: dict[str, Any] = {}
            for requested in [a for a in request.query.get("associations", "").split(",") if a]:
                key = _PLURAL.get(requested, requested)
                if requested not in _ASSOCIATION_TYPES:
                    continue
                results = []
                for target in deal["associations"].get(key, []):
                    results.append({"id": target, "type": _ASSOCIATION_TYPES[requested]})
                    if key == "companies":  # the primary company is listed under both types
                        results.append({"id": target, "type": "deal_to_company_unlabeled"})
                if results:
                    associations[key] = {"results": results}
            if associations:
                answer["associations"] = associations
            with_history = [p for p in request.query.get("propertiesWithHistory", "").split(",") if p]
            if with_history:
                history = deal["propertiesWithHistory"]
                answer["propertiesWithHistory"] = {
                    name: copy.deepcopy(history.get(name, []))
                    for name in with_history
                    if name in self._schema["deals"]
                }
        return json_reply(200, answer)

    def tasks(self, deal_id: str | None = None) -> list[dict[str, Any]]:
        """Tasks created through the API (with the deal ids they are associated to)."""
        with self._lock:
            return [
                json.loads(json.dumps(t))
                for t in self._tasks
                if deal_id is None or str(deal_id) in t["deals"]
            ]

    def _create_task(self, request: Request, match: re.Match[str]) -> Reply:
        payload = request.json()
        properties = payload.get("properties") if isinstance(payload, dict) else None
        if not isinstance(properties, dict) or not _scalar_values(properties):
            return self.error_reply(400, "Invalid input JSON: properties must be an object of strings")
        with self._lock:
            errors = self._property_errors("tasks", properties)
            if errors:
                return self._validation_error(errors)
        if not properties.get("hs_timestamp"):
            return self._error(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: hs_timestamp is required",
                errors=[
                    {
                        "message": "hs_timestamp is required",
                        "code": "REQUIRED_PROPERTY",
                        "context": {"propertyName": ["hs_timestamp"]},
                    }
                ],
            )
        deals = []
        for association in payload.get("associations") or []:
            target = (association or {}).get("to") or {} if isinstance(association, dict) else {}
            types = association.get("types") if isinstance(association, dict) else None
            if not target.get("id") or not isinstance(types, list) or not types:
                return self.error_reply(400, "Invalid input JSON: associations need to.id and types")
            for spec in types:
                if (spec or {}).get("associationCategory") != "HUBSPOT_DEFINED" or (spec or {}).get(
                    "associationTypeId"
                ) != _TASK_TO_DEAL:
                    return self.error_reply(400, f"association type {spec} is not valid from task to deal")
            deals.append(str(target["id"]))
        with self._lock:
            unknown = [d for d in deals if d not in self._deals]
            if unknown:
                return self.error_reply(400, f"Association target {unknown[0]} not found", "VALIDATION_ERROR")
            task_id = str(next(self._ids))
            now = _now_iso()
            props = {k: _prop(v) for k, v in properties.items()}
            props.update({"hs_object_id": task_id, "hs_createdate": now, "hs_lastmodifieddate": now})
            task = {"id": task_id, "properties": props, "deals": deals, "createdAt": now, "updatedAt": now}
            self._tasks.append(task)
            answer = {
                "id": task_id,
                "properties": dict(props),
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            }
        return json_reply(201, answer)

    def _search_tasks(self, request: Request, match: re.Match[str]) -> Reply:
        payload = request.json()
        if not isinstance(payload, dict):
            raise BadRequest("Invalid input JSON")
        groups = payload.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            return self.error_reply(400, "filterGroups: at most 5 groups")
        limit = int(payload.get("limit") or 10)
        after = int(payload.get("after") or 0)
        if not 1 <= limit <= 200:
            return self.error_reply(400, "limit must be between 1 and 200")
        with self._lock:
            schema = self._schema["tasks"]
            for group in groups:
                for flt in (group or {}).get("filters") or []:
                    name, operator = flt.get("propertyName"), flt.get("operator")
                    if operator not in _OPERATORS:
                        return self.error_reply(400, f"Invalid operator {operator!r}")
                    if name not in schema and name != "associations.deal":
                        return self._error(
                            400,
                            "VALIDATION_ERROR",
                            f"There was a problem with the request: property {name!r} does not exist",
                        )
            hits = [t for t in self._tasks if not groups or any(_matches(t, g) for g in groups)]
            wanted = [str(p) for p in payload.get("properties") or []]
            page = hits[after : after + limit]
            answer: dict[str, Any] = {
                "total": len(hits),
                "results": [
                    {
                        "id": t["id"],
                        "properties": self._shown("tasks", t["properties"], wanted),
                        "createdAt": t["createdAt"],
                        "updatedAt": t["updatedAt"],
                        "archived": False,
                    }
                    for t in page
                ],
            }
            if after + limit < len(hits):
                answer["paging"] = {"next": {"after": str(after + limit)}}
        return json_reply(200, answer)

    def _patch_deal(self, request: Request, match: re.Match[str]) -> Reply:
        deal_id = match.group(1)
        payload = request.json()
        properties = payload.get("properties") if isinstance(payload, dict) else None
        if not isinstance(properties, dict) or not _scalar_values(properties):
            return self.error_reply(400, "Property values were not valid", "VALIDATION_ERROR")
        with self._lock:
            deal = self._deals.get(deal_id)
            if deal is None:
                return self.error_reply(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            errors = self._property_errors("deals", properties)
            if errors:
                return self._validation_error(errors)
            source = {"sourceType": "INTEGRATION", "sourceId": str(self.app_id)}
            self._set_deal(deal_id, properties, _now_iso(), source)
            shown = {k: v for k, v in deal["properties"].items() if k in self._schema["deals"]}
            answer = {
                "id": deal_id,
                "properties": shown,
                "createdAt": deal["createdAt"],
                "updatedAt": deal["updatedAt"],
                "archived": False,
            }
        return json_reply(200, answer)

    def _batch_read(self, request: Request, match: re.Match[str]) -> Reply:
        object_type = match.group(1)
        payload = request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
            raise BadRequest("Invalid input JSON: inputs is required")
        inputs = payload["inputs"]
        if len(inputs) > 100:
            return self.error_reply(400, "Batch input limit is 100", "VALIDATION_ERROR")
        wanted = [str(p) for p in payload.get("properties") or []]
        started = _now_iso()
        results, missing = [], []
        with self._lock:
            store = self._objects[object_type]
            for item in inputs:
                object_id = str(item.get("id")) if isinstance(item, dict) else ""
                record = store.get(object_id)
                if record is None:
                    missing.append(object_id)
                    continue
                results.append(
                    {
                        "id": object_id,
                        "properties": self._shown(object_type, record["properties"], wanted),
                        "createdAt": record["createdAt"],
                        "updatedAt": record["updatedAt"],
                        "archived": False,
                    }
                )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now_iso(),
        }
        if missing:
            answer["numErrors"] = 1
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {_OBJECT_NAME[object_type]} objects, they may be deleted or "
                    "not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return json_reply(207, answer)
        return json_reply(200, answer)

    # --- properties API ----------------------------------------------------------------------------------

    def _object_type(self, name: str) -> str | None:
        object_type = _OBJECT_IDS.get(name, name)
        return object_type if object_type in self._schema else None

    def _list_properties(self, request: Request, match: re.Match[str]) -> Reply:
        object_type = self._object_type(match.group(1))
        if object_type is None:
            return self.error_reply(400, f"Unable to infer object type from: {match.group(1)}")
        with self._lock:
            return json_reply(200, {"results": copy.deepcopy(list(self._schema[object_type].values()))})

    def _get_property(self, request: Request, match: re.Match[str]) -> Reply:
        object_type, name = self._object_type(match.group(1)), match.group(2)
        if object_type is None:
            return self.error_reply(400, f"Unable to infer object type from: {match.group(1)}")
        with self._lock:
            spec = self._schema[object_type].get(name)
            if spec is None:
                return self._error(
                    404,
                    "OBJECT_NOT_FOUND",
                    f"Unable to find property {name} for object type {object_type}",
                )
            return json_reply(200, copy.deepcopy(spec))

    def _archive_property(self, request: Request, match: re.Match[str]) -> Reply:
        object_type, name = self._object_type(match.group(1)), match.group(2)
        if object_type is None:
            return self.error_reply(400, f"Unable to infer object type from: {match.group(1)}")
        with self._lock:
            spec = self._schema[object_type].get(name)
            if spec is None:
                return self._error(
                    404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {object_type}"
                )
            if spec["hubspotDefined"]:
                return self._error(400, "VALIDATION_ERROR", f"{name} is a HubSpot defined property")
            del self._schema[object_type][name]
        return Reply(204)

    def _create_property(self, request: Request, match: re.Match[str]) -> Reply:
        object_type = self._object_type(match.group(1))
        if object_type is None:
            return self.error_reply(400, f"Unable to infer object type from: {match.group(1)}")
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Invalid input JSON")
        problems = []
        unknown = sorted(set(body) - set(_PROPERTY_CREATE))
        if unknown:
            problems.append(f"Unrecognized field(s) {unknown}")
        for key, spec in _PROPERTY_CREATE.items():
            if spec.get("required") and not body.get(key):
                problems.append(f"{key} is required")
            elif "enum" in spec and key in body and body[key] not in spec["enum"]:
                problems.append(f"{key} {body[key]!r} is not one of {spec['enum']}")
        name = str(body.get("name") or "")
        if name and not _PROPERTY_NAME.match(name):
            problems.append(f"name {name!r} must start with a letter and hold lower-case letters, digits, _")
        if body.get("type") == "enumeration" and not body.get("options") and not body.get("externalOptions"):
            problems.append("an enumeration property needs options")
        if problems:
            return self._error(
                400,
                "VALIDATION_ERROR",
                "Invalid input: " + "; ".join(problems),
                errors=[{"message": p, "code": "INVALID_PROPERTY_DEFINITION"} for p in problems],
            )
        with self._lock:
            if name in self._schema[object_type]:
                return self._error(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
            spec = _property(name, body, hubspot_defined=False, now=_now_iso())
            self._schema[object_type][name] = spec
            return json_reply(201, copy.deepcopy(spec))

    # --- control -----------------------------------------------------------------------------------------

    def _c_create(self, request: Request, match: re.Match[str]) -> Reply:
        spec = request.json()
        if not isinstance(spec, dict):
            raise BadRequest("body must be a JSON object of create_deal arguments")
        return json_reply(201, {"id": self.create_deal(**spec)})

    def _c_deal(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, self.deal(match.group(1)))

    def _c_win(self, request: Request, match: re.Match[str]) -> Reply:
        status, body = self.win(match.group(1))
        return json_reply(200, {"status": status, "body": body})

    def _c_deliver(self, request: Request, match: re.Match[str]) -> Reply:
        spec = request.json()
        events = spec.get("events") if isinstance(spec, dict) else spec
        if not isinstance(events, list):
            raise BadRequest('body must be {"events": [...]} or a JSON array')
        status, body = self.deliver(events)
        return json_reply(200, {"status": status, "body": body})


def _property(name: str, spec: dict[str, Any], *, hubspot_defined: bool, now: str) -> dict[str, Any]:
    """A ``Property`` (the contract's response schema) from a default-property entry or a ``PropertyCreate``."""
    read_only = bool(spec.get("readOnlyValue"))
    return {
        "name": name,
        "label": spec.get("label") or name.replace("_", " ").capitalize(),
        "description": spec.get("description") or "",
        "groupName": spec.get("groupName") or "",
        "type": spec["type"],
        "fieldType": spec["fieldType"],
        "options": [
            {
                "label": str(o.get("label", o.get("value", o)) if isinstance(o, dict) else o),
                "value": str(o.get("value") if isinstance(o, dict) else o),
                "displayOrder": index,
                "hidden": bool(o.get("hidden", False)) if isinstance(o, dict) else False,
            }
            for index, o in enumerate(spec.get("options") or [])
        ],
        "displayOrder": int(spec.get("displayOrder", -1)),
        "calculated": False,
        "externalOptions": bool(spec.get("externalOptions", False)),
        "hasUniqueValue": bool(spec.get("hasUniqueValue", False)),
        "hidden": bool(spec.get("hidden", False)),
        "formField": bool(spec.get("formField", False)),
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }


def _scalar_values(properties: dict[str, Any]) -> bool:
    return all(
        isinstance(val, str | int | float | bool | Decimal) or val is None for val in properties.values()
    )


def _is_number(value: object) -> bool:
    try:
        Decimal(str(value))
    except InvalidOperation:
        return False
    return True


def _matches(task: dict[str, Any], group: dict[str, Any]) -> bool:
    """Every filter of a filter group holds (HubSpot: groups are OR-ed, filters inside a group AND-ed)."""
    for flt in group.get("filters") or []:
        name, operator = flt.get("propertyName"), flt.get("operator")
        values = task["deals"] if name == "associations.deal" else [task["properties"].get(name)]
        present = [v for v in values if v not in (None, "")]
        wanted = str(flt.get("value", ""))
        if operator == "EQ":
            ok = any(str(v).lower() == wanted.lower() for v in present)
        elif operator == "NEQ":
            ok = all(str(v).lower() != wanted.lower() for v in present)
        elif operator == "IN":
            ok = any(str(v) in [str(x) for x in flt.get("values") or []] for v in present)
        elif operator == "NOT_IN":
            ok = all(str(v) not in [str(x) for x in flt.get("values") or []] for v in present)
        elif operator == "HAS_PROPERTY":
            ok = bool(present)
        elif operator == "NOT_HAS_PROPERTY":
            ok = not present
        elif operator == "CONTAINS_TOKEN":
            ok = any(wanted.strip("*").lower() in str(v).lower() for v in present)
        elif operator == "NOT_CONTAINS_TOKEN":
            ok = all(wanted.strip("*").lower() not in str(v).lower() for v in present)
        else:  # range operators on the few properties the hub searches: not supported here
            raise BadRequest(f"operator {operator} is not supported by the sandbox")
        if not ok:
            return False
    return True
