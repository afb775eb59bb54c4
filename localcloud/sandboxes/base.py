"""What every vendor sandbox shares: a loopback ``ThreadingHTTPServer`` in a daemon thread, a tiny router,
fault injection (``fail_next``, ``slow_next``), a request log, the ``/_sandbox/...`` control endpoints they
have in common, and outbound webhook delivery.

Control endpoints (JSON, no auth: the server binds 127.0.0.1 only):
- ``GET /_sandbox`` → ``{"vendor", "url", "webhook_url"}``
- ``POST /_sandbox/faults`` ``{"status": 429, "count": 2, "retry_after": 1}`` (optional ``"code"``: the
  vendor error code in the body) or ``{"delay_s": 2, "count": 1}``
- ``GET /_sandbox/requests`` → ``{"requests": ["GET /crm/v3/...", ...]}`` (vendor API calls, no query)
- ``POST /_sandbox/webhook`` ``{"url": ...}`` → where deliveries go from now on
- ``POST /_sandbox/redeliver`` → ``{"status", "body"}`` (the last delivery again)
- ``POST /_sandbox/latency`` ``{"min_s": 0.3, "max_s": 1.5}`` → every vendor API request from now on takes a
  random time in that range before it is served (``{"min_s": 0, "max_s": 0}``: none); ``GET`` reads it

Faults apply, in the order they were queued, to the next vendor API requests (never to control calls).

Latency (``set_latency(min_s, max_s)``): vendors answer in hundreds of milliseconds, not instantly, and tests
that never see time pass never see a budget run out. The wait happens inside ``dispatch`` (a subclass that
counts requests in flight, like NetSuite's concurrency limit, counts it too), after a queued fault.
"""

from __future__ import annotations

import contextlib
import http.client
import inspect
import json
import logging
import pickle
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

log = logging.getLogger("localcloud.sandboxes")

_DECIMAL_MARK = re.compile(r'"\\u0000dec:([-+0-9.Ee]+)\\u0000"')


def json_bytes(data: Any, *, compact: bool = False) -> bytes:
    """JSON with ``Decimal`` written as a JSON number with its own digits (vendors send numbers, and the
    sandbox must not round money through a float on the way)."""

    def mark(value: object) -> str:
        if isinstance(value, Decimal):
            return f"\x00dec:{value}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    separators = (",", ":") if compact else None
    text = json.dumps(data, default=mark, separators=separators)
    return _DECIMAL_MARK.sub(lambda m: m.group(1), text).encode()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    #: every query parameter in order, repeated names included (``expand[]=a&expand[]=b``); ``query`` keeps
    #: the first value of each name
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        """The body as JSON (numbers with a fraction as Decimal); ``BadRequest`` if it is not."""
        try:
            return json.loads(self.body or b"null", parse_float=Decimal)
        except ValueError:
            raise BadRequest("body is not JSON") from None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, json_bytes(data), {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
    )


class BadRequest(Exception):
    """A control call with a bad body (→ 400)."""


@dataclass
class _Fault:
    status: int | None
    delay_s: float
    retry_after: float | None
    remaining: int
    code: str | None = None


Route = tuple[str, "re.Pattern[str]", Callable[[Request, "re.Match[str]"], Reply]]


#: What a sandbox holds only while it runs (never kept across restarts): its server, thread and lock, the
#: URL it calls back, fault injection and the request log.
_RUNTIME_STATE = frozenset(
    {
        "webhook_url",
        "_host",
        "_port",
        "_lock",
        "_faults",
        "_requests",
        "_server",
        "_thread",
        "_last_delivery",
        "_latency",
        "api_routes",
        "control_routes",
    }
)


class Sandbox:
    """Base of the vendor sandboxes. Subclasses set ``vendor``, fill ``api_routes`` / ``control_routes``
    and implement ``error_reply`` (the vendor's error shape for a status).

    Persistence (the local cloud keeps every sandbox's records across restarts): ``state_snapshot()`` pickles
    the instance's attributes except the runtime ones (``_RUNTIME_STATE`` and the subclass's
    ``runtime_state``), the configuration (attributes named like an argument of a constructor in the class's
    MRO: this run's credentials, rates, limits win) and any that cannot be pickled (locks, conditions,
    threads, sockets); ``restore_snapshot()`` puts them back on a new instance before ``start()``. A subclass
    declares in ``runtime_state`` the attributes that describe the running process rather than the vendor's
    records (in-flight counters, injected faults)."""

    vendor = "sandbox"
    #: Attributes of this sandbox that are not kept across restarts (beyond the base's runtime ones).
    runtime_state: frozenset[str] = frozenset()

    def __init__(self, *, webhook_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.webhook_url = webhook_url
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_delivery: tuple[bytes, dict[str, str]] | None = None
        self._latency: tuple[float, float] = (0.0, 0.0)
        self.api_routes: list[Route] = []
        self.control_routes: list[Route] = [
            ("GET", re.compile(r"^/_sandbox/?$"), self._c_info),
            ("POST", re.compile(r"^/_sandbox/faults$"), self._c_faults),
            ("GET", re.compile(r"^/_sandbox/requests$"), self._c_requests),
            ("POST", re.compile(r"^/_sandbox/webhook$"), self._c_webhook),
            ("POST", re.compile(r"^/_sandbox/redeliver$"), self._c_redeliver),
            ("POST", re.compile(r"^/_sandbox/latency$"), self._c_set_latency),
            ("GET", re.compile(r"^/_sandbox/latency$"), self._c_latency),
        ]

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.vendor}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- persistence -----------------------------------------------------------------------------------

    def _not_kept(self) -> frozenset[str]:
        configuration: set[str] = set()
        for cls in type(self).__mro__:
            init = cls.__dict__.get("__init__")
            if init is not None and cls is not object:
                configuration.update(inspect.signature(init).parameters)
        return _RUNTIME_STATE | self.runtime_state | configuration

    def state_snapshot(self) -> bytes:
        """This sandbox's records, pickled (see the class docstring)."""
        skip = self._not_kept()
        with self._lock:
            kept: dict[str, Any] = {}
            for name, value in list(vars(self).items()):
                if name in skip:
                    continue
                try:
                    kept[name] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                except (TypeError, AttributeError, pickle.PicklingError):
                    continue  # a lock, a thread, a socket: runtime by nature
            return pickle.dumps({"vendor": self.vendor, "attributes": kept}, protocol=pickle.HIGHEST_PROTOCOL)

    def restore_snapshot(self, data: bytes) -> None:
        """Put back the records of ``state_snapshot()``; call before ``start()``."""
        doc = pickle.loads(data)  # noqa: S301 - the local cloud's own state dir
        if doc.get("vendor") != self.vendor:
            raise ValueError(f"a {doc.get('vendor')} snapshot is not a {self.vendor} sandbox's")
        skip = self._not_kept()
        with self._lock:
            for name, blob in doc["attributes"].items():
                if name not in skip:
                    setattr(self, name, pickle.loads(blob))  # noqa: S301

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.vendor} sandbox is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- faults and the request log --------------------------------------------------------------------

    def fail_next(
        self, status: int, count: int = 1, retry_after: float | None = None, *, code: str | None = None
    ) -> None:
        """The next ``count`` API requests answer ``status`` (vendor error body, with the vendor error
        ``code`` if given; ``Retry-After`` if given)."""
        if not 400 <= status <= 599 or count < 1:
            raise ValueError("fail_next needs a 4xx/5xx status and count >= 1")
        with self._lock:
            self._faults.append(_Fault(status, 0.0, retry_after, count, code))

    def clear_faults(self) -> None:
        """The faults still queued by ``fail_next`` / ``slow_next`` are dropped: an outage is over."""
        with self._lock:
            self._faults.clear()

    def slow_next(self, delay_s: float, count: int = 1) -> None:
        """The next ``count`` API requests are answered after ``delay_s`` seconds."""
        if delay_s < 0 or count < 1:
            raise ValueError("slow_next needs delay_s >= 0 and count >= 1")
        with self._lock:
            self._faults.append(_Fault(None, float(delay_s), None, count))

    def set_latency(self, min_s: float, max_s: float | None = None) -> None:
        """Every vendor API request from now on waits a uniformly random ``min_s``..``max_s`` seconds (just
        ``min_s`` without ``max_s``) before it is served; 0 turns it off."""
        high = min_s if max_s is None else max_s
        if min_s < 0 or high < min_s:
            raise ValueError("latency needs 0 <= min_s <= max_s")
        with self._lock:
            self._latency = (float(min_s), float(high))

    @property
    def latency(self) -> tuple[float, float]:
        """(min_s, max_s) of the latency every vendor API request gets."""
        with self._lock:
            return self._latency

    def _latency_s(self) -> float:
        low, high = self.latency
        return random.uniform(low, high) if high > 0 else 0.0

    @property
    def requests(self) -> list[str]:
        """The vendor API requests served so far, as ``"METHOD /path"``."""
        with self._lock:
            return list(self._requests)

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    # --- webhooks --------------------------------------------------------------------------------------

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` to ``webhook_url``; remembers it for ``redeliver_last``. (status, response text)."""
        with self._lock:
            self._last_delivery = (body, dict(headers))
        return _post(self.webhook_url, body, headers)

    def redeliver_last(self) -> tuple[int, str]:
        with self._lock:
            last = self._last_delivery
        if last is None:
            raise LookupError("nothing was delivered yet")
        body, headers = last
        return self.post_webhook(body, self.redelivery_headers(body, headers))

    def redelivery_headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """Headers for delivering ``body`` again (a vendor that signs deliveries signs anew)."""
        return headers

    # --- to implement ----------------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None = None, code: str | None = None) -> Reply:
        return json_reply(status, {"message": message or http.client.responses.get(status, "error")})

    # --- dispatch --------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        if request.path == "/_sandbox" or request.path.startswith("/_sandbox/"):
            try:
                return self._route(self.control_routes, request, control=True)
            except BadRequest as exc:
                return json_reply(400, {"error": str(exc)})
            except (KeyError, LookupError) as exc:
                return json_reply(404, {"error": f"not found: {exc}"})
            except (TypeError, ValueError) as exc:
                return json_reply(400, {"error": str(exc)})
            except OSError as exc:
                return json_reply(502, {"error": f"webhook delivery failed: {exc}"})
        with self._lock:
            self._requests.append(f"{request.method} {request.path}")
        fault = self._take_fault()
        delay = self._latency_s()
        if delay:
            time.sleep(delay)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.status is not None:
                reply = self.error_reply(fault.status, code=fault.code)
                if fault.retry_after is not None:
                    reply.headers["Retry-After"] = _retry_after_text(fault.retry_after)
                return reply
        try:
            return self._route(self.api_routes, request, control=False)
        except BadRequest as exc:
            return self.error_reply(400, str(exc))

    def _route(self, routes: list[Route], request: Request, *, control: bool) -> Reply:
        allowed = False
        for method, pattern, handler in routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(request, match)
            allowed = True
        status = 405 if allowed else 404
        if control:
            return json_reply(status, {"error": f"{request.method} {request.path}: no such control endpoint"})
        return self.error_reply(status)

    # --- common control endpoints -----------------------------------------------------------------------

    def _c_info(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"vendor": self.vendor, "url": self.url, "webhook_url": self.webhook_url})

    def _c_faults(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _object(request.json())
        count = int(spec.get("count", 1))
        if "status" in spec:
            retry_after = spec.get("retry_after")
            code = spec.get("code")
            self.fail_next(
                int(spec["status"]),
                count,
                None if retry_after is None else float(retry_after),
                code=None if code is None else str(code),
            )
        elif "delay_s" in spec:
            self.slow_next(float(spec["delay_s"]), count)
        else:
            raise BadRequest('give "status" (and "retry_after") or "delay_s", with an optional "count"')
        return json_reply(200, {"queued": True})

    def _c_requests(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {"requests": self.requests})

    def _c_webhook(self, request: Request, match: re.Match[str]) -> Reply:
        url = _object(request.json()).get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise BadRequest('"url" must be an http(s) URL')
        self.webhook_url = url
        return json_reply(200, {"webhook_url": url})

    def _c_set_latency(self, request: Request, match: re.Match[str]) -> Reply:
        spec = _object(request.json())
        low = float(spec.get("min_s", 0))
        self.set_latency(low, float(spec.get("max_s", low)))
        return self._c_latency(request, match)

    def _c_latency(self, request: Request, match: re.Match[str]) -> Reply:
        low, high = self.latency
        return json_reply(200, {"min_s": low, "max_s": high})

    def _c_redeliver(self, request: Request, match: re.Match[str]) -> Reply:
        status, body = self.redeliver_last()
        return json_reply(200, {"status": status, "body": body})


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value


def _retry_after_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"webhook_url {url!r} is not an http(s) URL")
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname, parts.port, timeout=30)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the vendors (and urllib3's pool) expect
        server_version = f"{sandbox.vendor}-sandbox/1"
        timeout = 30  # an idle keep-alive connection does not hold a thread forever

        def setup(self) -> None:
            super().setup()
            # headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms a call
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: vals[0] for k, vals in parse_qs(parts.query, keep_blank_values=True).items()}
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            request = Request(self.command, unquote(parts.path), query, self.headers, body, pairs)
            try:
                reply = sandbox.dispatch(request)
            except Exception:
                log.exception("%s sandbox failed on %s %s", sandbox.vendor, self.command, parts.path)
                reply = sandbox.error_reply(500)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
