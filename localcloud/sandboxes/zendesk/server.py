"""A Zendesk Support account on a loopback port, as Zendesk documents it (``vendor-specs/zendesk``):

- auth: API token (basic ``{email}/token:{api_token}``) or OAuth bearer; anything else → 401
  ``{"error": "Couldn't authenticate you"}``
- ``GET /api/v2/users/me.json``; ``GET /api/v2/users/search.json?external_id=``;
  ``GET /api/v2/organizations/search.json?external_id=``; ``GET|PUT /api/v2/organizations/{id}.json``
  (``organization_fields``: only keys of fields the account has are kept, values as given);
  ``GET|POST /api/v2/organization_fields.json``
- ``GET /api/v2/organizations/{id}/tickets.json``, ``GET /api/v2/users/{id}/tickets/requested.json``,
  ``GET|PUT /api/v2/tickets/{id}.json`` (``comment`` with ``body`` and ``public``; ``tags``;
  ``custom_fields``), ``GET /api/v2/tickets/{id}/comments.json``; lists paged by ``page``/``per_page`` with
  an absolute ``next_page`` URL
- errors: 404 ``{"error": "RecordNotFound", "description": "Not found"}``, 422 ``{"error": "RecordInvalid",
  "description": "Record validation errors", "details": {...}}``, 429 with ``Retry-After`` (seconds)
- webhooks (event subscriptions): ``zen:event-type:ticket.tags_changed`` with Zendesk's envelope
  (``account_id``, ``detail``, ``event``, ``id``, ``subject``, ``time``, ``type``, ``zendesk_event_version``),
  signed ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, timestamp + body)) with
  ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601, UTC); every attempt is signed anew.

Python API for tests and the demo: ``create_organization``, ``create_user``, ``create_ticket``,
``create_organization_field``, ``ticket_field`` (a custom ticket field id), ``request_refund`` (an agent tags a
ticket for a refund: the tag is added and the signed webhook delivered), ``notes(ticket_id)``,
``organization(org_id)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from localcloud.sandboxes.base import BadRequest, Reply, Request, Sandbox, _object, json_bytes, json_reply

ACCOUNT_ID = 24681357
EVENT_VERSION = "2022-11-06"
UNSOLVED = ("new", "open", "pending", "hold")
STATUSES = (*UNSOLVED, "solved", "closed")
FIELD_TYPES = ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "dropdown")
_FIELD_KEY = re.compile(r"^(?![0-9]+$)[A-Za-z0-9_]+$")
MAX_PER_PAGE = 100


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(signing secret, timestamp + body)), as Zendesk signs a webhook request."""
    return base64.b64encode(
        hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    ).decode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskSandbox(Sandbox):
    vendor = "zendesk"

    def __init__(
        self,
        *,
        webhook_url: str,
        email: str,
        api_token: str,
        signing_secret: str,
        oauth_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(webhook_url=webhook_url, host=host, port=port)
        self.email = email
        self.api_token = api_token
        self.signing_secret = signing_secret
        self.oauth_token = oauth_token
        self._ids = itertools.count(360_000_001)
        self._users: dict[int, dict[str, Any]] = {}
        self._orgs: dict[int, dict[str, Any]] = {}
        self._org_fields: dict[int, dict[str, Any]] = {}
        self._ticket_fields: dict[int, dict[str, Any]] = {}
        self._tickets: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._api_user = self._new_user("O2C Hub integration", email, role="admin")
        num, org, user, ticket = r"([0-9]{1,20})", "/api/v2/organizations", "/api/v2/users", "/api/v2/tickets"
        self.api_routes += [
            ("GET", re.compile(rf"^{user}/me\.json$"), self._me),
            ("GET", re.compile(rf"^{user}/search\.json$"), self._search_users),
            ("GET", re.compile(rf"^{user}/{num}/tickets/requested\.json$"), self._requested),
            ("GET", re.compile(rf"^{org}/search\.json$"), self._search_orgs),
            ("GET", re.compile(rf"^{org}/{num}\.json$"), self._get_org),
            ("PUT", re.compile(rf"^{org}/{num}\.json$"), self._put_org),
            ("GET", re.compile(rf"^{org}/{num}/tickets\.json$"), self._org_tickets),
            ("GET", re.compile(r"^/api/v2/organization_fields\.json$"), self._list_org_fields),
            ("POST", re.compile(r"^/api/v2/organization_fields\.json$"), self._post_org_field),
            ("GET", re.compile(rf"^{ticket}/{num}\.json$"), self._get_ticket),
            ("PUT", re.compile(rf"^{ticket}/{num}\.json$"), self._put_ticket),
            ("GET", re.compile(rf"^{ticket}/{num}/comments\.json$"), self._list_comments),
        ]

    # --- records (Python API) -------------------------------------------------------------------------

    def _new_id(self) -> int:
        return next(self._ids)

    def _new_user(
        self, name: str, email: str | None, *, role: str = "end-user", **extra: Any
    ) -> dict[str, Any]:
        uid = self._new_id()
        user = {
            "id": uid,
            "url": f"/api/v2/users/{uid}.json",
            "name": name,
            "email": email,
            "role": role,
            "active": True,
            "external_id": None,
            "organization_id": None,
            "created_at": _now(),
            "updated_at": _now(),
            "user_fields": {},
            **extra,
        }
        self._users[uid] = user
        return user

    def create_organization(self, name: str, *, external_id: str | None = None) -> int:
        with self._lock:
            oid = self._new_id()
            self._orgs[oid] = {
                "id": oid,
                "url": f"/api/v2/organizations/{oid}.json",
                "name": name,
                "external_id": external_id,
                "domain_names": [],
                "details": "",
                "notes": "",
                "group_id": None,
                "shared_tickets": False,
                "shared_comments": False,
                "tags": [],
                "organization_fields": {},
                "created_at": _now(),
                "updated_at": _now(),
            }
            return oid

    def create_user(
        self,
        name: str,
        email: str | None = None,
        *,
        external_id: str | None = None,
        organization_id: int | None = None,
    ) -> int:
        with self._lock:
            return int(
                self._new_user(name, email, external_id=external_id, organization_id=organization_id)["id"]
            )

    def create_organization_field(self, key: str, title: str, field_type: str = "text") -> int:
        with self._lock:
            reply = self._add_org_field({"key": key, "title": title, "type": field_type})
            if isinstance(reply, Reply):
                raise ValueError(reply.body.decode())
            return reply

    def ensure_ticket_field(self, title: str, field_type: str = "text") -> int:
        """The custom ticket field with this title, created if the account has none."""
        with self._lock:
            for fid, field in self._ticket_fields.items():
                if field["title"] == title:
                    return fid
            return self.ticket_field(title, field_type)

    def ensure_organization_field(self, key: str, title: str, field_type: str = "text") -> int:
        """The organization field with this key, created if the account has none."""
        with self._lock:
            for fid, field in self._org_fields.items():
                if field["key"] == key:
                    return fid
            return self.create_organization_field(key, title, field_type)

    def ticket_field(self, title: str, field_type: str = "text") -> int:
        """A custom ticket field (admin center), its id."""
        with self._lock:
            fid = self._new_id()
            self._ticket_fields[fid] = {"id": fid, "title": title, "type": field_type, "active": True}
            return fid

    def create_ticket(
        self,
        subject: str,
        *,
        requester_id: int,
        organization_id: int | None = None,
        status: str = "open",
        tags: list[str] | None = None,
        custom_fields: dict[int, Any] | None = None,
    ) -> int:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            tid = self._new_id()
            fields = [{"id": fid, "value": (custom_fields or {}).get(fid)} for fid in self._ticket_fields]
            self._tickets[tid] = {
                "id": tid,
                "url": f"/api/v2/tickets/{tid}.json",
                "external_id": None,
                "type": "question",
                "subject": subject,
                "raw_subject": subject,
                "description": subject,
                "priority": "normal",
                "status": status,
                "requester_id": requester_id,
                "submitter_id": requester_id,
                "assignee_id": None,
                "organization_id": organization_id,
                "group_id": None,
                "tags": list(tags or []),
                "custom_fields": fields,
                "fields": [dict(f) for f in fields],
                "via": {"channel": "web"},
                "created_at": _now(),
                "updated_at": _now(),
            }
            self._comments[tid] = [self._comment(requester_id, subject, public=True)]
            return tid

    def _comment(self, author_id: int, body: str, *, public: bool) -> dict[str, Any]:
        return {
            "id": self._new_id(),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": [],
            "audit_id": self._new_id(),
            "via": {"channel": "api"},
            "created_at": _now(),
            "metadata": {},
        }

    def notes(self, ticket_id: int) -> list[str]:
        """The internal (non-public) comments' bodies, oldest first."""
        with self._lock:
            return [c["body"] for c in self._comments[int(ticket_id)] if not c["public"]]

    def organization(self, org_id: int) -> dict[str, Any]:
        with self._lock:
            return json_copy(self._orgs[int(org_id)])

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        with self._lock:
            return json_copy(self._tickets[int(ticket_id)])

    # --- webhooks --------------------------------------------------------------------------------------

    def request_refund(
        self, ticket_id: int, tag: str = "refund_requested", *, actor_id: int | None = None
    ) -> tuple[int, str]:
        """An agent adds ``tag`` to the ticket: Zendesk fires ``ticket.tags_changed`` to the webhook.
        Returns the hub's (status, body)."""
        with self._lock:
            ticket = self._tickets[int(ticket_id)]
            added = [] if tag in ticket["tags"] else [tag]
            ticket["tags"] = [*ticket["tags"], *added]
            ticket["updated_at"] = _now()
            body = self.tags_changed_body(int(ticket_id), added=added, removed=[], actor_id=actor_id)
        return self.post_webhook(body, self.signed_headers(body))

    def tags_changed_body(
        self, ticket_id: int, *, added: list[str], removed: list[str], actor_id: int | None = None
    ) -> bytes:
        """The ``zen:event-type:ticket.tags_changed`` payload for a ticket (ids as strings, status upper)."""
        with self._lock:
            t = self._tickets[int(ticket_id)]
            detail = {
                "actor_id": str(actor_id or self._api_user["id"]),
                "assignee_id": None if t["assignee_id"] is None else str(t["assignee_id"]),
                "brand_id": "360000000001",
                "created_at": t["created_at"],
                "custom_status": None,
                "description": t["description"],
                "external_id": t["external_id"],
                "form_id": "360000000002",
                "group_id": None if t["group_id"] is None else str(t["group_id"]),
                "id": str(t["id"]),
                "is_public": True,
                "organization_id": None if t["organization_id"] is None else str(t["organization_id"]),
                "priority": str(t["priority"]).upper(),
                "requester_id": str(t["requester_id"]),
                "status": str(t["status"]).upper(),
                "subject": t["subject"],
                "submitter_id": str(t["submitter_id"]),
                "tags": list(t["tags"]),
                "type": str(t["type"]).upper(),
                "updated_at": t["updated_at"],
                "via": {"channel": "web_service"},
            }
        payload = {
            "account_id": ACCOUNT_ID,
            "detail": detail,
            "event": {"tags": {"added": added, "removed": removed}},
            "id": str(uuid.uuid4()),
            "subject": f"zen:ticket:{t['id']}",
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "type": "zen:event-type:ticket.tags_changed",
            "zendesk_event_version": EVENT_VERSION,
        }
        return json_bytes(payload, compact=True)

    def deliver(self, body: bytes) -> tuple[int, str]:
        """POST a (hand-made) payload to the webhook, signed."""
        return self.post_webhook(body, self.signed_headers(body))

    def redelivery_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        return self.signed_headers(body)  # each attempt carries its own timestamp and signature

    def signed_headers(self, body: bytes) -> dict[str, str]:
        ts = _now()
        return {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": "01HZLOCALWEBHOOK0000000000",
            "X-Zendesk-Webhook-Invocation-Id": str(self._new_id()),
            "X-Zendesk-Webhook-Signature": zendesk_signature(self.signing_secret, ts, body),
            "X-Zendesk-Webhook-Signature-Timestamp": ts,
        }

    # --- errors and auth -------------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        if status == 401:
            return json_reply(401, {"error": "Couldn't authenticate you"})
        if status == 404:
            return json_reply(404, {"error": code or "RecordNotFound", "description": message or "Not found"})
        if status == 422:
            return json_reply(
                422,
                {
                    "error": code or "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {"base": [{"description": message or "invalid"}]},
                },
            )
        if status == 429:
            return json_reply(
                429,
                {"error": code or "APIRateLimitExceeded", "description": message or "Rate limit exceeded"},
            )
        return json_reply(status, {"error": code or "Error", "description": message or "error"})

    def dispatch(self, request: Request) -> Reply:
        if not request.path.startswith("/_sandbox") and not self._authenticated(request):
            with self._lock:
                self._requests.append(f"{request.method} {request.path}")
            return self.error_reply(401)
        return super().dispatch(request)

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("Authorization") or ""
        if header.startswith("Bearer ") and self.oauth_token:
            return hmac.compare_digest(header[7:].encode(), self.oauth_token.encode())
        if header.startswith("Basic "):
            try:
                raw = base64.b64decode(header[6:], validate=True)
            except ValueError:
                return False
            expected = f"{self.email}/token:{self.api_token}".encode()
            return hmac.compare_digest(raw, expected)
        return False

    # --- API -------------------------------------------------------------------------------------------

    def _me(self, request: Request, match: re.Match[str]) -> Reply:
        with self._lock:
            return json_reply(200, {"user": json_copy(self._api_user)})

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Reply:
        try:
            page = max(1, int(request.query.get("page", "1")))
            per_page = min(MAX_PER_PAGE, max(1, int(request.query.get("per_page", str(MAX_PER_PAGE)))))
        except ValueError:
            raise BadRequest("page and per_page are integers") from None
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]

        def link(n: int) -> str:
            query = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}
            return f"{self.url}{request.path}?{urlencode({**query, 'page': n, 'per_page': per_page})}"

        return json_reply(
            200,
            {
                key: [json_copy(i) for i in chunk],
                "next_page": link(page + 1) if start + per_page < len(items) else None,
                "previous_page": link(page - 1) if page > 1 else None,
                "count": len(items),
            },
        )

    def _search_users(self, request: Request, match: re.Match[str]) -> Reply:
        external_id = request.query.get("external_id")
        if not external_id:
            return self.error_reply(400, "external_id or query is required", "InvalidParameter")
        with self._lock:
            users = [u for u in self._users.values() if u["external_id"] == external_id]
            return self._page(request, "users", users)

    def _search_orgs(self, request: Request, match: re.Match[str]) -> Reply:
        external_id = request.query.get("external_id")
        if not external_id:
            return self.error_reply(400, "external_id or name is required", "InvalidParameter")
        with self._lock:
            orgs = [o for o in self._orgs.values() if o["external_id"] == external_id]
            return self._page(request, "organizations", orgs)

    def _get_org(self, request: Request, match: re.Match[str]) -> Reply:
        with self._lock:
            org = self._orgs.get(int(match.group(1)))
            return json_reply(200, {"organization": json_copy(org)}) if org else self.error_reply(404)

    def _put_org(self, request: Request, match: re.Match[str]) -> Reply:
        doc = _object(request.json())
        changes = doc.get("organization")
        if not isinstance(changes, dict):
            return self.error_reply(400, "organization is required", "InvalidParameter")
        with self._lock:
            org = self._orgs.get(int(match.group(1)))
            if org is None:
                return self.error_reply(404)
            fields = changes.get("organization_fields")
            if fields is not None:
                if not isinstance(fields, dict):
                    return self.error_reply(422, "organization_fields must be an object")
                known = {f["key"]: f for f in self._org_fields.values()}
                for key, value in fields.items():
                    if key in known:  # a key the account has no field for is not kept
                        error = _field_error(known[key], value)
                        if error:
                            return self.error_reply(422, f"{key}: {error}")
                        org["organization_fields"][key] = value
            for name in ("notes", "details", "name"):
                if isinstance(changes.get(name), str):
                    org[name] = changes[name]
            org["updated_at"] = _now()
            return json_reply(200, {"organization": json_copy(org)})

    def _list_org_fields(self, request: Request, match: re.Match[str]) -> Reply:
        with self._lock:
            return self._page(request, "organization_fields", list(self._org_fields.values()))

    def _post_org_field(self, request: Request, match: re.Match[str]) -> Reply:
        field = _object(request.json()).get("organization_field")
        if not isinstance(field, dict):
            return self.error_reply(400, "organization_field is required", "InvalidParameter")
        with self._lock:
            reply = self._add_org_field(field)
            if isinstance(reply, Reply):
                return reply
            return json_reply(201, {"organization_field": json_copy(self._org_fields[reply])})

    def _add_org_field(self, field: dict[str, Any]) -> int | Reply:
        key, title, kind = field.get("key"), field.get("title"), field.get("type")
        if not isinstance(key, str) or not _FIELD_KEY.fullmatch(key):
            return self.error_reply(422, "key must be letters, numbers and underscores, not only numbers")
        if not isinstance(title, str) or not title:
            return self.error_reply(422, "title can't be blank")
        if kind not in FIELD_TYPES:
            return self.error_reply(422, f"type must be one of {', '.join(FIELD_TYPES)}")
        if any(f["key"] == key for f in self._org_fields.values()):
            return self.error_reply(422, "key has already been taken")
        fid = self._new_id()
        self._org_fields[fid] = {
            "id": fid,
            "url": f"/api/v2/organization_fields/{fid}.json",
            "key": key,
            "title": title,
            "raw_title": title,
            "type": kind,
            "active": True,
            "description": str(field.get("description") or ""),
            "position": len(self._org_fields),
            "created_at": _now(),
            "updated_at": _now(),
        }
        return fid

    def _org_tickets(self, request: Request, match: re.Match[str]) -> Reply:
        oid = int(match.group(1))
        with self._lock:
            if oid not in self._orgs:
                return self.error_reply(404)
            tickets = [t for t in self._tickets.values() if t["organization_id"] == oid]
            return self._page(request, "tickets", tickets)

    def _requested(self, request: Request, match: re.Match[str]) -> Reply:
        uid = int(match.group(1))
        with self._lock:
            if uid not in self._users:
                return self.error_reply(404)
            tickets = [t for t in self._tickets.values() if t["requester_id"] == uid]
            return self._page(request, "tickets", tickets)

    def _get_ticket(self, request: Request, match: re.Match[str]) -> Reply:
        with self._lock:
            ticket = self._tickets.get(int(match.group(1)))
            return json_reply(200, {"ticket": json_copy(ticket)}) if ticket else self.error_reply(404)

    def _put_ticket(self, request: Request, match: re.Match[str]) -> Reply:
        doc = _object(request.json())
        changes = doc.get("ticket")
        if not isinstance(changes, dict):
            return self.error_reply(400, "ticket is required", "InvalidParameter")
        tid = int(match.group(1))
        with self._lock:
            ticket = self._tickets.get(tid)
            if ticket is None:
                return self.error_reply(404)
            if ticket["status"] == "closed":
                return self.error_reply(422, "Status: closed prevents ticket update")
            comment = changes.get("comment")
            if comment is not None:
                if not isinstance(comment, dict):
                    return self.error_reply(422, "comment must be an object")
                body = comment.get("body") or comment.get("html_body")
                if not isinstance(body, str) or not body.strip():
                    return self.error_reply(422, "Comment: body can't be blank")
                public = comment.get("public", True)
                if not isinstance(public, bool):
                    return self.error_reply(422, "Comment: public must be true or false")
                self._comments[tid].append(self._comment(int(self._api_user["id"]), body, public=public))
            if "tags" in changes:
                tags = changes["tags"]
                if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                    return self.error_reply(422, "tags must be a list of strings")
                ticket["tags"] = list(dict.fromkeys(tags))
            if "status" in changes:
                if changes["status"] not in STATUSES:
                    return self.error_reply(422, "Status: is not valid")
                ticket["status"] = changes["status"]
            ticket["updated_at"] = _now()
            return json_reply(200, {"ticket": json_copy(ticket), "audit": {"id": self._new_id()}})

    def _list_comments(self, request: Request, match: re.Match[str]) -> Reply:
        tid = int(match.group(1))
        with self._lock:
            if tid not in self._tickets:
                return self.error_reply(404)
            return self._page(request, "comments", list(self._comments[tid]))


def _field_error(field: dict[str, Any], value: Any) -> str | None:
    """Zendesk validates a custom field's value by its type (null clears it)."""
    if value is None:
        return None
    kind = field["type"]
    if kind == "integer" and (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not re.fullmatch(r"-?[0-9]+", str(value))
    ):
        return "is not a number"
    if kind == "checkbox" and not isinstance(value, bool):
        return "must be true or false"
    if kind in ("text", "textarea", "dropdown", "regexp", "date") and not isinstance(value, str):
        return "must be text"
    return None


def json_copy(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
