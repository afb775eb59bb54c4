"""Webhook endpoints (Stripe's ``WebhookEndpoint``, ``we_...``), what ``o2c doctor`` reads to check that a
stage's endpoint points at the hub with the events it needs and a pinned API version.

- ``POST /v1/webhook_endpoints`` (``url`` and ``enabled_events`` required; ``enabled_events`` Stripe's
  event types or ``*``; ``api_version`` one of Stripe's versions, else ``null``: the account's default;
  ``description``, ``metadata``): ``status`` ``enabled``; the signing ``secret`` (``whsec_...``) is in this
  reply only, as on Stripe
- ``GET /v1/webhook_endpoints`` (newest first, ``limit`` 1-100), ``GET /v1/webhook_endpoints/{id}``
  (without ``secret``)

Every event is delivered to each enabled endpoint whose ``enabled_events`` has its type (or ``*``), signed
with that endpoint's secret, besides the sandbox's own ``webhook_url`` (``webhooks``). Connect endpoints
(``connect=true``) are not served and refused by name.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any
from urllib.parse import urlsplit

from localcloud.sandboxes.stripe.errors import _invalid, _missing, new_id
from localcloud.sandboxes.stripe.forms import _bool, _int, _list, _metadata, _opt_str
from localcloud.sandboxes.stripe.state import StripeState, _Call


class WebhookEndpointsMixin(StripeState):
    def webhook_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, oldest first, without its secret."""
        return self._snapshot(self._webhook_endpoints)

    def _create_webhook_endpoint(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        params = call.params  # already held to WebhookEndpointCreateParams (contract)
        url = _opt_str(params, "url") or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _invalid(
                f"Invalid URL: {url}. URLs must begin with https:// (or http:// in test mode) and name a host.",
                param="url",
            )
        if _bool(params, "connect"):
            raise _invalid(
                "The Stripe sandbox has no connected accounts: connect=true is not served here (Stripe "
                "accepts it).",
                param="connect",
            )
        with self._lock:
            endpoint: dict[str, Any] = {
                "id": new_id("we", 24),
                "object": "webhook_endpoint",
                "api_version": _opt_str(params, "api_version"),
                "application": None,
                "created": int(time.time()),
                "description": _opt_str(params, "description"),
                "enabled_events": _list(params, "enabled_events") or [],
                "livemode": False,
                "metadata": _metadata(params),
                "status": "enabled",
                "url": url,
            }
            self._webhook_endpoints[endpoint["id"]] = endpoint
            secret = "whsec_" + new_id("x", 32)[2:]
            self._endpoint_secrets[endpoint["id"]] = secret
            return {**copy.deepcopy(endpoint), "secret": secret}

    def _list_webhook_endpoints(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        limit = _int(call.params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise _invalid(
                "This value must be greater than or equal to 1 and less than or equal to 100.",
                param="limit",
                code="parameter_invalid_integer",
            )
        with self._lock:
            newest = sorted(self._webhook_endpoints.values(), key=lambda e: e["created"], reverse=True)
            return {
                "object": "list",
                "data": copy.deepcopy(newest[:limit]),
                "has_more": len(newest) > limit,
                "url": "/v1/webhook_endpoints",
            }

    def _get_webhook_endpoint(self, call: _Call, match: re.Match[str]) -> dict[str, Any]:
        with self._lock:
            endpoint = self._webhook_endpoints.get(match.group(1))
            if endpoint is None:
                raise _missing("webhook endpoint", match.group(1))
            return copy.deepcopy(endpoint)

    def _endpoints_for(self, event_type: str) -> list[str]:
        """The enabled endpoints an event of this type goes to (caller holds the lock)."""
        return [
            e["id"]
            for e in self._webhook_endpoints.values()
            if e["status"] == "enabled" and ("*" in e["enabled_events"] or event_type in e["enabled_events"])
        ]
