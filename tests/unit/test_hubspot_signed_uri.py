"""Defect 12 (second half): HubSpot signs the request URI *with its query string as it sent it*, after decoding
the percent-escapes its documentation lists (``%3A`` → ``:``, ``%2C`` → ``,`` ...). API Gateway hands the
hub the decoded parameters; the hub must rebuild the URI the way HubSpot signed it, not re-encode it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from shared.inbound.hubspot import HubSpotProvider, signed_uri
from shared.ingress.web import WebhookRequest
from tests.unit.crm_fixtures import FakeCrm, opportunity

SECRET = "hubspot-client-secret"
BASE = "https://hooks.example.com/prod"


def hubspot_signature(uri: str, body: bytes, ts_ms: int) -> str:
    """As HubSpot's "Validating requests" page computes v3, on the already-decoded URI."""
    message = b"POST" + uri.encode() + body + str(ts_ms).encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_a_target_url_with_a_query_string_verifies_as_hubspot_signed_it() -> None:
    # Given the app's target URL carries a query string with characters HubSpot decodes before signing
    # (sent as ...?portal=62515&env=eu%3Aprod&tags=a%2Cb; API Gateway passes the decoded values)
    body = json.dumps([{"eventId": 1, "subscriptionType": "deal.propertyChange"}]).encode()
    ts = int(time.time() * 1000)
    signed_as = f"{BASE}/webhooks/hubspot?portal=62515&env=eu:prod&tags=a,b"
    request = WebhookRequest(
        method="POST",
        path="/webhooks/hubspot",
        body=body,
        query={"portal": "62515", "env": "eu:prod", "tags": "a,b"},
        headers={
            "x-hubspot-signature-v3": hubspot_signature(signed_as, body, ts),
            "x-hubspot-request-timestamp": str(ts),
        },
    )
    provider = HubSpotProvider(
        client_secrets=lambda: [SECRET], deals=lambda: FakeCrm(opportunity()), public_base_url=BASE
    )

    # When the hub rebuilds the URI and verifies, Then it is the URI HubSpot signed, and the request passes
    assert signed_uri(BASE, request) == signed_as
    provider.verify(request)


def test_characters_hubspot_does_not_decode_stay_escaped() -> None:
    # Given a value with a space and an ampersand (HubSpot keeps %20 and %26 in the signed URI)
    request = WebhookRequest(
        method="POST", path="/webhooks/hubspot", body=b"[]", headers={}, query={"name": "a b&c"}
    )
    # Then the rebuilt URI escapes them, and only them
    assert signed_uri(BASE, request) == f"{BASE}/webhooks/hubspot?name=a%20b%26c"
