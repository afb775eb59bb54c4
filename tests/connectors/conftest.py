"""Fixtures for the connector tests: the vendor sandboxes on free loopback ports, localstripe (an independent
Stripe fake from the package index) as a second witness, a fake sleep that records the waits instead of
sleeping, and a tiny webhook receiver standing in for the hub."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from moto import mock_aws

from infra.topology import ERP_GATE_TABLE
from localcloud.provision import create_table
from localcloud.sandboxes import HubSpotSandbox, SalesforceSandbox
from localcloud.sandboxes.stripe import StripeSandbox
from o2c_cli.crm_setup import hubspot_status, salesforce_status
from shared.outbound.http import JsonHttp
from shared.outbound.hubspot import HubSpotCrm, bearer
from shared.outbound.salesforce import SalesforceCrm
from shared.outbound.stripe_payments import StripePayments
from tests.atomic_moto import AtomicClient

HUBSPOT_TOKEN = "pat-eu1-sandbox-token"
HUBSPOT_CLIENT_SECRET = "hubspot-app-client-secret"
SF_ORG_ID = "00D5g000004DemoEAA"
SF_CLIENT_ID = "3MVG9sandbox.client.id"
SF_CLIENT_SECRET = "sandbox-client-secret"


class FakeSleep:
    """Records the waits the HTTP client asks for; never sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint: records every POST and answers ``status``/``body``."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"status": "accepted"}'
    content_type: str = "application/json"


@dataclass
class StripeHub:
    """Stands in for ``POST /webhooks/stripe``: verifies ``Stripe-Signature`` as the hub does (401 if not)
    and records the events it accepts."""

    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


@contextlib.contextmanager
def stripe_hub(webhook_secret: str) -> Iterator[StripeHub]:
    from shared.inbound.stripe import verify_signature
    from shared.ingress.web import Problem

    state = StripeHub()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify_signature(
                    body,
                    self.headers.get("Stripe-Signature"),
                    [webhook_secret],
                    tolerance_s=300,
                    now=time.time(),
                )
            except Problem:
                with lock:
                    state.rejected += 1
                self._answer(401, b'{"status": "unauthorized"}')
                return
            event = json.loads(body)
            with lock:
                state.events.append(event)
            self._answer(200, json.dumps({"status": "accepted", "eventId": event["id"]}).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_hubspot(receiver: Receiver) -> Iterator[HubSpotSandbox]:
    """A new portal: HubSpot's default properties only (``o2c setup crm`` never ran)."""
    sandbox = HubSpotSandbox(
        webhook_url=f"{receiver.url}/webhooks/hubspot",
        client_secret=HUBSPOT_CLIENT_SECRET,
        access_token=HUBSPOT_TOKEN,
    )
    with sandbox:
        yield sandbox


@pytest.fixture
def hubspot(fresh_hubspot: HubSpotSandbox) -> HubSpotSandbox:
    """A portal after ``o2c setup crm``: the hub's properties exist."""
    assert all(s.ok for s in hubspot_status(hubspot_crm(fresh_hubspot, FakeSleep()), create=True))
    fresh_hubspot.clear_requests()
    return fresh_hubspot


@pytest.fixture
def fresh_salesforce(receiver: Receiver) -> Iterator[SalesforceSandbox]:
    """A new org: standard fields only (``o2c setup crm`` never ran)."""
    sandbox = SalesforceSandbox(
        webhook_url=f"{receiver.url}/webhooks/salesforce",
        org_id=SF_ORG_ID,
        client_id=SF_CLIENT_ID,
        client_secret=SF_CLIENT_SECRET,
        query_page_size=1,  # every SOQL result with more than one row is paged
    )
    with sandbox:
        yield sandbox


@pytest.fixture
def salesforce(fresh_salesforce: SalesforceSandbox) -> SalesforceSandbox:
    """An org after ``o2c setup crm``: the hub's custom fields are deployed."""
    assert all(s.ok for s in salesforce_status(salesforce_crm(fresh_salesforce, FakeSleep()), create=True))
    fresh_salesforce.expire_tokens()  # the setup's session: not the test's
    fresh_salesforce.clear_requests()
    return fresh_salesforce


def hubspot_crm(
    sandbox: HubSpotSandbox, sleep: FakeSleep, *, token: str = HUBSPOT_TOKEN, **http: Any
) -> HubSpotCrm:
    client = JsonHttp(sandbox.url, auth_headers=bearer(lambda: token), sleep=sleep, **http)
    return HubSpotCrm(sandbox.url, access_token=lambda: token, http=client)


def salesforce_crm(
    sandbox: SalesforceSandbox, sleep: FakeSleep, *, secret: str = SF_CLIENT_SECRET, **http: Any
) -> SalesforceCrm:
    return SalesforceCrm(
        sandbox.url,
        client_id=SF_CLIENT_ID,
        client_secret=lambda: secret,
        http_factory=lambda base, auth: JsonHttp(base, auth_headers=auth, sleep=sleep, **http),
    )


def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """Drive a sandbox over its HTTP control endpoints, as another process would."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


# --- the Stripe sandbox the after-sale connector tests share (a module may define its own) --------------

STRIPE_API_KEY = "sk_test_51O2cHubSandboxKey"
STRIPE_WEBHOOK_SECRET = "whsec_o2c_after_sale_secret"


@pytest.fixture
def hub() -> Iterator[StripeHub]:
    """Receives the sandbox's webhooks and checks each ``Stripe-Signature`` as the hub does."""
    with stripe_hub(STRIPE_WEBHOOK_SECRET) as receiver:
        yield receiver


@pytest.fixture
def sandbox(hub: StripeHub) -> Iterator[StripeSandbox]:
    with StripeSandbox(
        webhook_url=hub.url,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        api_key=STRIPE_API_KEY,
        webhook_delay_s=0.005,
    ) as sb:
        yield sb


@pytest.fixture
def stripe(sandbox: StripeSandbox) -> StripePayments:
    return StripePayments(lambda: STRIPE_API_KEY, base_url=sandbox.url, sleep=FakeSleep())


# --- localstripe: an independent Stripe fake (PyPI ``localstripe``), run as its own process ---------------

# localstripe's own aiohttp app, served on a listening socket the test process opened (inherited as a file
# descriptor): loopback only and no race for the port, where ``localstripe --port N`` listens on every
# interface of a port chosen beforehand. Its store is kept in memory only: localstripe pickles it to the
# fixed path /tmp/localstripe.pickle after every write, which parallel runs on one machine would share.
_LOCALSTRIPE = """
import socket, sys
from aiohttp import web
from localstripe.resources import store
from localstripe import server
from localstripe.server import app
store.dump_to_disk = lambda: None
read_post_data = server.get_post_data


async def get_post_data(request, remove_auth=True):
    data = await read_post_data(request, remove_auth)
    # LOCALSTRIPE: it predates API 2026-10-28.endive, where a PaymentIntent's or SetupIntent's allowed types
    # are asked for as allowed_payment_method_types (payment_method_types is only a field of the answer):
    # the connector's request is passed to it under the old name.
    if isinstance(data, dict) and "allowed_payment_method_types" in data:
        data["payment_method_types"] = data.pop("allowed_payment_method_types")
    return data


server.get_post_data = get_post_data
web.run_app(app, sock=socket.socket(fileno=int(sys.argv[1])), print=None, access_log=None)
"""


@dataclass(frozen=True)
class LocalStripe:
    url: str
    api_key: str = "sk_test_localstripe"  # localstripe takes any ``sk_...`` key


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """localstripe on a free loopback port, answering before the first test; stopped at the end. It is
    part of ``make test``: if it does not start, the test fails (never skipped)."""
    log_path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _LOCALSTRIPE, str(listener.fileno())],
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()  # the child holds it now
    try:
        _wait_until_answers(url, process, log_path)
        yield LocalStripe(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_answers(
    url: str, process: subprocess.Popen[bytes], log_path: Any, timeout_s: float = 30
) -> None:
    """Until localstripe answers HTTP (401 without a key is an answer); fails if it exits or stays silent."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"localstripe exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            opener.open(f"{url}/v1/customers", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"localstripe did not answer on {url} within {timeout_s} s")
            time.sleep(0.05)


@pytest.fixture
def gate_table(aws_env: None) -> Iterator[tuple[Any, str]]:
    """A DynamoDB client and a fresh gate table (partition key ``pk``, TTL ``expiration``)."""
    import boto3

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = f"ErpGateTable-{uuid.uuid4().hex[:8]}"
        create_table(client, table, ERP_GATE_TABLE)
        yield AtomicClient(client), table
