"""A HubSpot portal on loopback: the CRM v3 calls ``shared.connectors.hubspot`` makes, private-app bearer
auth, and signed v3 webhook deliveries (``deal.propertyChange`` → the closed-won stage).

Vendor API (``Authorization: Bearer <access_token>``, else 401 with HubSpot's error JSON):
- ``GET /crm/v3/objects/deals/{id}?properties=a,b&associations=companies,contacts,line_items``
- ``PATCH /crm/v3/objects/deals/{id}`` ``{"properties": {...}}``
- ``POST /crm/v3/objects/{companies|contacts|line_items}/batch/read`` (207 + ``errors`` for unknown ids)

Control (see also ``base``):
- ``POST /_sandbox/deals`` (body = ``create_deal`` keyword arguments) → ``{"id"}``
- ``GET /_sandbox/deals/{id}`` → ``{"id", "properties", "associations", "createdAt", "updatedAt"}``
- ``POST /_sandbox/deals/{id}/win`` → ``{"status", "body"}`` (the hub's answer to the signed delivery)
- ``POST /_sandbox/deliver`` ``{"events": [...]}`` → ``{"status", "body"}``
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, json_bytes, json_reply
from shared.providers.signatures import hubspot_v3

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
_DEFAULT_DEAL_PROPERTIES = ("dealname", "amount", "dealstage", "closedate", "pipeline")
_OBJECT_NAME = {"companies": "COMPANY", "contacts": "CONTACT", "line_items": "LINE_ITEM"}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _prop(value: object) -> str | None:
    """HubSpot stores every property value as a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
        self.api_routes += [
            ("GET", re.compile(r"^/crm/v3/objects/deals/([^/]+)$"), self._get_deal),
            ("PATCH", re.compile(r"^/crm/v3/objects/deals/([^/]+)$"), self._patch_deal),
            ("POST", re.compile(r"^/crm/v3/objects/tasks$"), self._create_task),
            (
                "POST",
                re.compile(r"^/crm/v3/objects/(companies|contacts|line_items)/batch/read$"),
                self._batch_read,
            ),
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
        """A deal with its company, contacts and line items (HubSpot property names; values become strings).
        A line item's ``amount`` defaults to quantity x price. Returns the deal id (numeric string)."""
        with self._lock:
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
                "properties": {k: _prop(val) for k, val in properties.items()},
                "associations": {"companies": [company_id], "contacts": contact_ids, "line_items": line_ids},
                "createdAt": now,
                "updatedAt": now,
            }
            return deal_id

    def update_object(self, object_type: str, object_id: str, properties: dict[str, Any]) -> None:
        """Change a company/contact/line item as a user would in HubSpot (values become strings)."""
        with self._lock:
            record = self._objects[object_type][str(object_id)]
            record["properties"].update({k: _prop(v) for k, v in properties.items()})

    def deal(self, deal_id: str) -> dict[str, Any]:
        """The stored deal (properties include what PATCH wrote). ``KeyError`` if unknown."""
        with self._lock:
            return json.loads(json.dumps(self._deals[str(deal_id)]))

    def win(self, deal_id: str) -> tuple[int, str]:
        """Move the deal to the closed-won stage and deliver the signed ``deal.propertyChange`` webhook.
        Returns the hub's (status, body)."""
        now_ms = int(time.time() * 1000)
        with self._lock:
            deal = self._deals[str(deal_id)]
            props = deal["properties"]
            props["dealstage"] = self.closed_won_stage
            props["closedate"] = props.get("closedate") or _now_iso()
            props["hs_lastmodifieddate"] = deal["updatedAt"] = _now_iso()
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
            "X-HubSpot-Signature-v3": hubspot_v3(self.client_secret, "POST", self.webhook_url, body, ts_ms),
            "X-HubSpot-Request-Timestamp": str(ts_ms),
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)",
        }

    def _create_object(self, object_type: str, properties: dict[str, Any]) -> str:
        object_id = str(next(self._ids))
        now = _now_iso()
        props = {k: _prop(val) for k, val in properties.items()}
        props.update({"hs_object_id": object_id, "createdate": now, "hs_lastmodifieddate": now})
        self._objects[object_type][object_id] = {
            "id": object_id,
            "properties": props,
            "createdAt": now,
            "updatedAt": now,
        }
        return object_id

    # --- vendor API ------------------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        body: dict[str, Any] = {"status": "error", "correlationId": str(uuid.uuid4())}
        if status == 429:
            body.update(
                message=message or "You have reached your secondly limit.",
                errorType="RATE_LIMIT",
                policyName="SECONDLY",
            )
        else:
            default = {
                400: ("Invalid input.", "VALIDATION_ERROR"),
                401: ("Authentication credentials not found.", "INVALID_AUTHENTICATION"),
                404: ("resource not found", "OBJECT_NOT_FOUND"),
                405: ("method not allowed", "VALIDATION_ERROR"),
            }.get(status, ("internal error", "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"))
            body.update(message=message or default[0], category=code or default[1])
        return json_reply(status, body)

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
        return super().dispatch(request)

    def _get_deal(self, request: Request, match: re.Match[str]) -> Reply:
        deal_id = match.group(1)
        with self._lock:
            deal = self._deals.get(deal_id)
            if deal is None:
                return self.error_reply(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            wanted = [p for p in request.query.get("properties", "").split(",") if p]
            props = deal["properties"]
            shown = {p: props.get(p) for p in (wanted or _DEFAULT_DEAL_PROPERTIES)}
            shown.update({k: props[k] for k in ("createdate", "hs_lastmodifieddate", "hs_object_id")})
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
        if (
            not isinstance(properties, dict)
            or not properties.get("hs_task_subject")
            or not properties.get("hs_timestamp")
        ):
            return self.error_reply(400, "hs_task_subject and hs_timestamp are required", "VALIDATION_ERROR")
        deals = [str(a["to"]["id"]) for a in payload.get("associations") or [] if isinstance(a, dict)]
        with self._lock:
            unknown = [d for d in deals if d not in self._deals]
            if unknown:
                return self.error_reply(400, f"Association target {unknown[0]} not found", "VALIDATION_ERROR")
            task_id = str(next(self._ids))
            task = {
                "id": task_id,
                "properties": {k: _prop(v) for k, v in properties.items()},
                "deals": deals,
                "createdAt": _now_iso(),
            }
            self._tasks.append(task)
        return json_reply(
            201, {"id": task_id, "properties": task["properties"], "createdAt": task["createdAt"]}
        )

    def _patch_deal(self, request: Request, match: re.Match[str]) -> Reply:
        deal_id = match.group(1)
        payload = request.json()
        properties = payload.get("properties") if isinstance(payload, dict) else None
        if not isinstance(properties, dict) or not all(
            isinstance(val, str | int | bool | Decimal) or val is None for val in properties.values()
        ):
            return self.error_reply(400, "Property values were not valid", "VALIDATION_ERROR")
        with self._lock:
            deal = self._deals.get(deal_id)
            if deal is None:
                return self.error_reply(
                    404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND"
                )
            deal["properties"].update({k: _prop(val) for k, val in properties.items()})
            deal["properties"]["hs_lastmodifieddate"] = deal["updatedAt"] = _now_iso()
            answer = {
                "id": deal_id,
                "properties": dict(deal["properties"]),
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
                props = record["properties"]
                shown = {p: props.get(p) for p in wanted} if wanted else dict(props)
                shown.update({k: props[k] for k in ("createdate", "hs_lastmodifieddate", "hs_object_id")})
                results.append(
                    {
                        "id": object_id,
                        "properties": shown,
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
                }
            ]
            return json_reply(207, answer)
        return json_reply(200, answer)

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
