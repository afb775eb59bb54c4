"""How the NetSuite client authenticates a request: Token-Based Authentication (OAuth 1.0a, HMAC-SHA256,
signed per request) or an OAuth 2.0 bearer token; and the account id as realm and host."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol


class Auth(Protocol):
    """Headers that authenticate one request. Called before every attempt (a TBA signature covers the
    method, the URL with its query, a fresh nonce and timestamp)."""

    def headers(self, method: str, url: str) -> dict[str, str]: ...


def _secret(value: str | Callable[[], str]) -> str:
    return value() if callable(value) else value


class TokenBasedAuth:
    """NetSuite Token-Based Authentication: OAuth 1.0a, HMAC-SHA256, ``realm`` = the account id as NetSuite
    spells it (``1234567`` or ``1234567_SB1``). Secrets may be callables (read from a cached secret).

    The JSON body is not signed (OAuth 1.0a signs form bodies only; no ``oauth_body_hash`` is sent), as
    NetSuite expects."""

    def __init__(
        self,
        account_id: str,
        *,
        consumer_key: str | Callable[[], str],
        consumer_secret: str | Callable[[], str],
        token_id: str | Callable[[], str],
        token_secret: str | Callable[[], str],
    ) -> None:
        self.realm = realm_for(account_id)
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret

    def headers(self, method: str, url: str) -> dict[str, str]:
        from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

        client = Client(
            _secret(self._consumer_key),
            client_secret=_secret(self._consumer_secret),
            resource_owner_key=_secret(self._token_id),
            resource_owner_secret=_secret(self._token_secret),
            signature_method=SIGNATURE_HMAC_SHA256,
            realm=self.realm,
        )
        _, headers, _ = client.sign(url, http_method=method.upper())
        return {"Authorization": headers["Authorization"]}


class BearerAuth:
    """OAuth 2.0: ``Authorization: Bearer <token>``. ``access_token`` is called per request; an M2M strategy
    (client credentials with a JWT assertion) provides it from its cache, refreshing before expiry."""

    def __init__(self, access_token: Callable[[], str]) -> None:
        self._access_token = access_token

    def headers(self, method: str, url: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token()}"}


def realm_for(account_id: str) -> str:
    """The account id as the OAuth realm wants it: ``1234567-sb1`` → ``1234567_SB1``."""
    text = account_id.strip().upper().replace("-", "_")
    if not re.match(r"^[A-Z0-9_]{1,40}$", text):
        raise ValueError(f"{account_id!r} is not a NetSuite account id")
    return text


def base_url_for(account_id: str) -> str:
    """``https://<account>.suitetalk.api.netsuite.com`` (``1234567_SB1`` → host ``1234567-sb1``)."""
    return f"https://{realm_for(account_id).lower().replace('_', '-')}.suitetalk.api.netsuite.com"
