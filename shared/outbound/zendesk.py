"""Zendesk Support (REST API v2): organizations and users by ``external_id``, the open tickets of a customer,
internal notes on them, the organization's custom fields, and the ticket a refund is asked from.

Calls, as Zendesk documents them (``vendor-specs/zendesk/ZENDESK_FACTS.md``):
- ``GET /api/v2/organizations/search.json?external_id=`` and ``GET /api/v2/users/search.json?external_id=``
- ``GET /api/v2/organization_fields.json`` (the keys an admin created) and
  ``PUT /api/v2/organizations/{id}.json`` ``{"organization": {"organization_fields": {key: value}}}``
- ``GET /api/v2/organizations/{id}/tickets.json`` and ``GET /api/v2/users/{id}/tickets/requested.json``
  (paged by ``next_page``), kept when the status is below solved (new, open, pending, hold)
- ``GET /api/v2/tickets/{id}/comments.json`` and ``PUT /api/v2/tickets/{id}.json``
  ``{"ticket": {"comment": {"body": ..., "public": false}}}`` (an internal note). Zendesk does not make a
  comment idempotent: each PUT adds one. So a note carries a reference line (``o2c-ref: ...``), an attempt
  first looks for a note with that reference among the ticket's comments, and the PUT is sent once per attempt.
- ``GET /api/v2/tickets/{id}.json`` (tags, status and custom fields of a ticket a webhook names)
- ``GET /api/v2/users/me.json`` (``o2c doctor``: the credentials work)

Auth: an API token (basic ``{email}/token:{api_token}``) or an OAuth access token (bearer). Rate limits: 429
with ``Retry-After`` (seconds), retried by the shared transport (``http.JsonHttp``) like every vendor's.
Errors come as ``{"error": ..., "description": ...}``; they are classified by status (``errors``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from shared.errors import InvalidRecord, NotFound, UnknownFields
from shared.outbound.http import JsonHttp

#: Ticket statuses "less than solved" (Zendesk orders them new < open < pending < hold < solved < closed).
UNSOLVED = frozenset({"new", "open", "pending", "hold"})
#: The reference line a note ends with; ``add_internal_note`` finds an earlier attempt's note by it.
REFERENCE_PREFIX = "o2c-ref: "
#: Zendesk ids are integers; external ids are strings of at most 255 characters.
_ZENDESK_ID = re.compile(r"^[0-9]{1,20}$")
MAX_PAGES = 20


def api_token_auth(email: str, api_token: Callable[[], str]) -> Callable[[], dict[str, str]]:
    """``auth_headers`` for an API token: basic auth of ``{email}/token:{api_token}``."""

    def headers() -> dict[str, str]:
        raw = f"{email}/token:{api_token()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    return headers


def oauth_auth(access_token: Callable[[], str]) -> Callable[[], dict[str, str]]:
    """``auth_headers`` for an OAuth access token (bearer)."""
    return lambda: {"Authorization": f"Bearer {access_token()}"}


def auth_from_credentials(credentials: Callable[[], Mapping[str, Any]]) -> Callable[[], dict[str, str]]:
    """The secret holds either ``{"email", "api_token"}`` or ``{"oauth_token"}``; read per request."""

    def headers() -> dict[str, str]:
        creds = credentials()
        if creds.get("oauth_token"):
            return oauth_auth(lambda: str(creds["oauth_token"]))()
        return api_token_auth(str(creds["email"]), lambda: str(creds["api_token"]))()

    return headers


def zendesk_id(value: object, what: str) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _ZENDESK_ID.fullmatch(text):
        raise InvalidRecord(f"{what} is not a Zendesk id")
    return text


class ZendeskSupport:
    """``http``, when given, is used as is (pointing at ``base_url``, carrying the auth headers)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_headers: Callable[[], dict[str, str]],
        http: JsonHttp | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("the Zendesk base URL (https://<subdomain>.zendesk.com) is required")
        self._http = http or JsonHttp(base_url, auth_headers=auth_headers)

    # --- who the customer is ---------------------------------------------------------------------

    def find_organization(self, external_id: str) -> dict[str, Any] | None:
        """The organization whose ``external_id`` is this one (the oldest if several), or None."""
        found = self._http.request(
            "GET", "/api/v2/organizations/search.json", query={"external_id": external_id}
        )
        orgs = [o for o in _list(found, "organizations") if str(o.get("external_id")) == external_id]
        return min(orgs, key=lambda o: int(o["id"])) if orgs else None

    def find_users(self, external_id: str) -> list[dict[str, Any]]:
        """The users whose ``external_id`` is this one."""
        found = self._http.request("GET", "/api/v2/users/search.json", query={"external_id": external_id})
        return [u for u in _list(found, "users") if str(u.get("external_id")) == external_id]

    # --- organization fields -----------------------------------------------------------------------

    def organization_field_keys(self) -> set[str]:
        """The keys of the organization fields the account has (active ones)."""
        keys: set[str] = set()
        for field in self._pages("/api/v2/organization_fields.json", "organization_fields"):
            if field.get("active", True) and field.get("key"):
                keys.add(str(field["key"]))
        return keys

    def update_organization_fields(self, organization_id: str | int, fields: Mapping[str, Any]) -> None:
        """Set custom fields of an organization. A key the account has no field for is refused here
        (``UnknownFields``): Zendesk would drop the value without a word, and the agent see nothing."""
        org_id = zendesk_id(organization_id, "organization id")
        missing = tuple(sorted(set(fields) - self.organization_field_keys()))
        if missing:
            raise UnknownFields(
                f"Zendesk has no organization field {', '.join(missing)}: create it (README, Zendesk)",
                fields=missing,
                status=None,
            )
        self._http.request(
            "PUT",
            f"/api/v2/organizations/{org_id}.json",
            json={"organization": {"organization_fields": dict(fields)}},
        )

    def organization_fields(self, organization_id: str | int) -> dict[str, Any]:
        org_id = zendesk_id(organization_id, "organization id")
        found = self._http.request("GET", f"/api/v2/organizations/{org_id}.json")
        org = found.get("organization") if isinstance(found, dict) else None
        if not isinstance(org, dict):
            raise InvalidRecord(f"organization {org_id}: unexpected response shape")
        return dict(org.get("organization_fields") or {})

    # --- tickets -------------------------------------------------------------------------------------

    def open_tickets(
        self, *, organization_id: str | int | None = None, user_ids: tuple[str | int, ...] = ()
    ) -> list[dict[str, Any]]:
        """The customer's tickets below solved: the organization's and those its users requested, each once,
        in id order."""
        paths = []
        if organization_id is not None:
            paths.append(
                f"/api/v2/organizations/{zendesk_id(organization_id, 'organization id')}/tickets.json"
            )
        paths += [f"/api/v2/users/{zendesk_id(u, 'user id')}/tickets/requested.json" for u in user_ids]
        tickets: dict[int, dict[str, Any]] = {}
        for path in paths:
            for ticket in self._pages(path, "tickets"):
                if ticket.get("status") in UNSOLVED:
                    tickets[int(ticket["id"])] = ticket
        return [tickets[k] for k in sorted(tickets)]

    def get_ticket(self, ticket_id: str | int) -> dict[str, Any]:
        tid = zendesk_id(ticket_id, "ticket id")
        found = self._http.request("GET", f"/api/v2/tickets/{tid}.json")
        ticket = found.get("ticket") if isinstance(found, dict) else None
        if not isinstance(ticket, dict):
            raise InvalidRecord(f"ticket {tid}: unexpected response shape")
        return ticket

    def comments(self, ticket_id: str | int) -> list[dict[str, Any]]:
        tid = zendesk_id(ticket_id, "ticket id")
        return list(self._pages(f"/api/v2/tickets/{tid}/comments.json", "comments"))

    def add_internal_note(self, ticket_id: str | int, body: str, *, reference: str) -> bool:
        """Add an internal note (``public: false``) ending with ``o2c-ref: <reference>``, once: an earlier
        attempt's note with that reference is found first. True when this call added it."""
        tid = zendesk_id(ticket_id, "ticket id")
        marker = REFERENCE_PREFIX + reference
        text = f"{body.rstrip()}\n\n{marker}"

        def attempt_once() -> bool:
            if any(marker in str(c.get("body") or "") for c in self.comments(tid)):
                return False
            self._http.request(
                "PUT",
                f"/api/v2/tickets/{tid}.json",
                json={"ticket": {"comment": {"body": text, "public": False}}},
                max_attempts=1,
            )
            return True

        return self._http.retrying(attempt_once, what=f"PUT /api/v2/tickets/{tid}.json")

    # --- doctor ----------------------------------------------------------------------------------------

    def current_user(self) -> dict[str, Any]:
        """``GET /api/v2/users/me.json``: who the credentials are (``AuthError`` when refused)."""
        found = self._http.request("GET", "/api/v2/users/me.json")
        user = found.get("user") if isinstance(found, dict) else None
        if not isinstance(user, dict) or not user.get("id"):
            raise NotFound("Zendesk answered without a user for these credentials")
        return user

    # --- paging ----------------------------------------------------------------------------------------

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        """Offset pagination: follow ``next_page`` (an absolute URL on the same host) up to MAX_PAGES."""
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self._http.request("GET", url)
            yield from _list(page, key)
            nxt = page.get("next_page") if isinstance(page, dict) else None
            url = str(nxt) if nxt else None


def _list(page: Any, key: str) -> list[dict[str, Any]]:
    items = page.get(key) if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise InvalidRecord(f"Zendesk answered without {key!r}")
    return [i for i in items if isinstance(i, dict)]
