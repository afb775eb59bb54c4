"""The /v1 API's authorizer, played locally as API Gateway's Cognito authorizer plays it on AWS.

The embedded cloud creates (in moto's cognito-idp) a user pool with the resource server and scopes of
``topology.API_SCOPES`` and app clients allowed the client-credentials flow, as the stack does. moto does not
issue client-credential tokens, so the local cloud's token endpoint does, as Cognito's ``/oauth2/token``
does: ``grant_type=client_credentials``, the client's id and secret (HTTP Basic, or in the form), optional
``scope``; the client and its secret and allowed scopes are checked against the pool (DescribeUserPoolClient).
The access token is a JWT (HS256 with a key made at boot) carrying ``client_id``, ``scope``, ``token_use``,
``iss`` and ``exp``. Each /v1 request is then checked as the authorizer does: no or a bad token (signature,
issuer, expiry, ``token_use``) → 401; a valid token without the route's scope → 403.

Each client is also issued an API key, as the stage issues one per app client for the usage plan
(``localcloud/api_usage.py``): every /v1 request sends it as ``x-api-key``; a missing or unknown key → 403."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from infra.topology import API_RESOURCE_SERVER, API_SCOPES

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
TOKEN_TTL_S = 3600
#: the local clients: name → the scopes it may ask for (``partner``: every one; ``reader``: read only)
LOCAL_CLIENTS: dict[str, tuple[str, ...]] = {
    "partner": tuple(API_SCOPES),
    "reader": ("read",),
}


class AuthFailure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Client:
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    #: the client's key in the usage plan (``x-api-key``), issued with its credentials
    api_key: str


class LocalOAuth:
    def __init__(self, cognito: Any, stage: str, *, clock: Any = time.time) -> None:
        self.clock = clock
        self._key = secrets.token_bytes(32)
        pool = cognito.create_user_pool(PoolName=f"o2c-{stage}-api-clients")["UserPool"]
        self.pool_id = pool["Id"]
        cognito.create_resource_server(
            UserPoolId=self.pool_id,
            Identifier=API_RESOURCE_SERVER,
            Name=f"o2c-{stage}-api",
            Scopes=[{"ScopeName": n, "ScopeDescription": d} for n, d in API_SCOPES.items()],
        )
        self._cognito = cognito
        self.clients: dict[str, Client] = {}
        for name, scopes in LOCAL_CLIENTS.items():
            full = [f"{API_RESOURCE_SERVER}/{s}" for s in scopes]
            created = cognito.create_user_pool_client(
                UserPoolId=self.pool_id,
                ClientName=name,
                GenerateSecret=True,
                AllowedOAuthFlows=["client_credentials"],
                AllowedOAuthScopes=full,
                AllowedOAuthFlowsUserPoolClient=True,
            )["UserPoolClient"]
            self.clients[name] = Client(
                created["ClientId"], created["ClientSecret"], tuple(full), secrets.token_hex(20)
            )
        self.issuer = f"https://cognito-idp.local/{self.pool_id}"

    # --- the token endpoint -------------------------------------------------------------------------------

    def token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Cognito's ``POST /oauth2/token`` for client credentials: (status, JSON body); errors as OAuth's
        ``{"error": ...}`` (``invalid_client`` 401, ``invalid_request``/``unsupported_grant_type``/
        ``invalid_scope`` 400)."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return 401, {"error": "invalid_client"}
        if not client_id:
            return 401, {"error": "invalid_client"}
        try:
            described = self._cognito.describe_user_pool_client(UserPoolId=self.pool_id, ClientId=client_id)
        except Exception:  # noqa: BLE001 - an unknown client id, whatever moto raises
            return 401, {"error": "invalid_client"}
        client = described["UserPoolClient"]
        if not hmac.compare_digest(str(client.get("ClientSecret", "")), client_secret):
            return 401, {"error": "invalid_client"}
        if "client_credentials" not in client.get("AllowedOAuthFlows", []):
            return 400, {"error": "unauthorized_client"}
        allowed = list(client.get("AllowedOAuthScopes", []))
        asked = form.get("scope", "").split() or allowed
        if any(s not in allowed for s in asked):
            return 400, {"error": "invalid_scope"}
        now = int(self.clock())
        claims = {
            "sub": client_id,
            "client_id": client_id,
            "token_use": "access",
            "scope": " ".join(asked),
            "iss": self.issuer,
            "iat": now,
            "exp": now + TOKEN_TTL_S,
            "jti": str(uuid.uuid4()),
        }
        return 200, {"access_token": self._sign(claims), "token_type": "Bearer", "expires_in": TOKEN_TTL_S}

    def _sign(self, claims: dict[str, Any]) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "local"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(signature)}"

    # --- the authorizer -----------------------------------------------------------------------------------

    def authorize(self, authorization: str | None, scope: str) -> dict[str, str]:
        """The token's claims (as strings, as API Gateway passes them) if it may call a route needing
        ``scope`` (short name); ``AuthFailure`` 401 or 403 otherwise."""
        if not authorization:
            raise AuthFailure(401, "Unauthorized")
        token = authorization[7:] if authorization.lower().startswith("bearer ") else authorization
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise AuthFailure(401, "Unauthorized")
        try:
            expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                raise AuthFailure(401, "Unauthorized")
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError):
            raise AuthFailure(401, "Unauthorized") from None
        if header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise AuthFailure(401, "Unauthorized")
        if claims.get("iss") != self.issuer or claims.get("token_use") != "access":
            raise AuthFailure(401, "Unauthorized")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.clock():
            raise AuthFailure(401, "The incoming token has expired")
        if f"{API_RESOURCE_SERVER}/{scope}" not in str(claims.get("scope", "")).split():
            raise AuthFailure(403, "Unauthorized: the token lacks the scope this method requires")
        return {k: str(v) for k, v in claims.items()}

    def api_key_id(self, api_key: str | None) -> str | None:
        """The id of a usage-plan key (the client's id, which names it), None for a missing or unknown key."""
        if not api_key:
            return None
        for client in self.clients.values():
            if hmac.compare_digest(client.api_key, api_key):
                return client.client_id
        return None

    def local_json(self, api_url: str) -> dict[str, Any]:
        return {
            "token_url": api_url + TOKEN_PATH,
            "user_pool_id": self.pool_id,
            "clients": {
                name: {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "api_key": c.api_key,
                    "scopes": list(c.scopes),
                }
                for name, c in self.clients.items()
            },
        }
