"""API Gateway (REST API, Lambda proxy integration) emulation in front of the webhook functions."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.config import StageConfig
from infra.topology import FunctionSpec, api_rate_limited_detail
from localcloud.api_auth import TOKEN_PATH, AuthFailure, LocalOAuth
from localcloud.api_sigv4 import LocalSigV4
from localcloud.api_usage import UsagePlan
from localcloud.workers import InvokeResult

log = logging.getLogger("localcloud.api")

#: API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: API Gateway (REST API) quota: total combined size of the request line and the header values. Over it:
#: 414 for a request line alone, 431 for the headers.
MAX_HEADER_BYTES = 10 * 1024
#: A client must send its request line and headers within this time of the connection being ready for a
#: request (accepted, or the previous response sent); an idle keep-alive connection is closed after it.
HEADER_TIMEOUT_S = 10.0
#: ... and its body within this time of the headers.
BODY_TIMEOUT_S = 30.0
#: Connections served at once; beyond, a new connection is answered 429 at once (API Gateway throttling).
MAX_CONNECTIONS = 64
API_ID = "o2clocal00"
#: the /v1 API's problem types (shared/api/problems.py; the stack's gateway responses use the same)
API_PROBLEM_BASE = "https://o2c-hub.dev/problems/"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str
    regex: re.Pattern[str]
    function_id: str
    #: the scope a /v1 route requires of the caller's token (None: a webhook, authenticated by its function)
    scope: str | None = None

    @classmethod
    def of(cls, fn: FunctionSpec) -> Route:
        assert fn.route is not None
        return cls.at(fn.route.method, fn.route.path, fn.id)

    @classmethod
    def at(cls, method: str, path: str, function_id: str, scope: str | None = None) -> Route:
        pattern = "".join(
            f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") and seg.endswith("}") else re.escape(seg)
            for seg in re.split(r"(\{[^}]+\})", path)
        )
        return cls(method.upper(), path, re.compile(f"^{pattern}$"), function_id, scope)


def problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()


class _Timeout(Exception):
    """The client did not send its request (line and headers, or body) in time."""


class _HeadersTooLarge(Exception):
    """Request line and headers over ``MAX_HEADER_BYTES``."""


class _Framing(Exception):
    """The body's framing is broken (Content-Length, chunk sizes, truncated body)."""


class _DeadlineReader:
    """The connection's ``rfile``: ``readline``/``read`` from the socket, raising ``_Timeout`` once the
    current ``deadline`` (a ``time.monotonic()`` value) has passed, however slowly the bytes trickle in,
    and ``_HeadersTooLarge`` when a header-phase ``budget`` is exhausted."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        self.deadline: float | None = None
        self.budget: int | None = None
        #: Bytes of the current request seen so far (0: the connection is idle between requests).
        self.consumed = 0

    def _fill(self) -> bool:
        remaining = None if self.deadline is None else self.deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise _Timeout
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise _Timeout from None
        if not data:
            return False
        self._buf += data
        return True

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.consumed += len(out)
        if self.budget is not None:
            self.budget -= len(out)
            if self.budget < 0:
                raise _HeadersTooLarge
        return out

    def readline(self, limit: int = -1) -> bytes:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if limit >= 0 and len(self._buf) >= limit:
                return self._take(limit)
            if self.budget is not None and len(self._buf) > self.budget:
                raise _HeadersTooLarge
            if not self._fill():
                return self._take(len(self._buf))

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            if not self._fill():
                break
        return self._take(len(self._buf) if n < 0 else min(n, len(self._buf)))

    @property
    def started(self) -> bool:
        """Whether any byte of the current request has arrived."""
        return bool(self.consumed or self._buf)

    def close(self) -> None:
        pass


class ApiGateway:
    """``ThreadingHTTPServer`` routing by topology routes to ``invoke(function_id, event)``."""

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        invoke: Callable[[str, Any], InvokeResult],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "local",
        header_timeout_s: float = HEADER_TIMEOUT_S,
        body_timeout_s: float = BODY_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        oauth: LocalOAuth | None = None,
        sigv4: LocalSigV4 | None = None,
        api_id: str = API_ID,
        usage_plan: UsagePlan | None = None,
    ) -> None:
        self.routes = [Route.of(fn) for fn in functions if fn.route is not None]
        # the /v1 API: every route behind the authorizer (``localcloud.api_auth``: Cognito tokens, or
        # ``localcloud.api_sigv4``: SigV4 and IAM, on the second API for callers inside AWS), none without it
        self.routes += [
            Route.at(r.method, r.path, fn.id, r.scope)
            for fn in functions
            for r in fn.api_routes
            if oauth or sigv4
        ]
        self.oauth = oauth
        self.sigv4 = sigv4
        self.api_id = api_id
        #: the /v1 usage plan: each client's key throttled on its own (``localcloud.api_usage``)
        self.usage_plan = usage_plan or UsagePlan.of(StageConfig(stage=stage))
        self.invoke = invoke
        self.stage = stage
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        gateway = self

        class Handler(_Handler):
            api = gateway

        self.server = _Server((host, port), Handler, max_connections=max_connections)
        self._thread = threading.Thread(target=self.server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def match(self, method: str, path: str) -> tuple[Route | None, list[str]]:
        """The route for (method, path), or None with the methods the path allows (empty: unknown path)."""
        allowed: list[str] = []
        for route in self.routes:
            if route.regex.match(path):
                if route.method == method or route.method == "ANY":
                    return route, []
                allowed.append(route.method)
        return None, allowed

    def build_event(
        self,
        route: Route,
        method: str,
        raw_path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        claims: dict[str, str] | None = None,
        identity: dict[str, str] | None = None,
        api_key: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        qs_single: dict[str, str] = {}
        qs_multi: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            qs_single[name] = value
            qs_multi.setdefault(name, []).append(value)
        m = route.regex.match(raw_path)
        path_params = m.groupdict() if m else {}
        try:
            text_body: str | None = body.decode("utf-8")
            is_b64 = False
        except UnicodeDecodeError:
            text_body = base64.b64encode(body).decode("ascii")
            is_b64 = True
        if not body and method in ("GET", "HEAD", "DELETE", "OPTIONS"):
            text_body = None
        now = time.time()
        host = single.get("Host") or single.get("host") or "127.0.0.1"
        return {
            "resource": route.resource,
            "path": raw_path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": qs_single or None,
            "multiValueQueryStringParameters": qs_multi or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": method,
                "extendedRequestId": str(uuid.uuid4()),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{self.stage}{raw_path}",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": host.split(".")[0],
                "requestTimeEpoch": int(now * 1000),
                "requestId": str(uuid.uuid4()),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": single.get("User-Agent"),
                    **(identity or {}),
                    **({"apiKey": api_key[0], "apiKeyId": api_key[1]} if api_key else {}),
                },
                "domainName": host,
                "apiId": self.api_id,
                **({"authorizer": {"claims": claims}} if claims is not None else {}),
            },
            "body": text_body,
            "isBase64Encoded": is_b64,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive client connections must not hold up shutdown
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[_Handler], *, max_connections: int) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._active = 0
        self._active_lock = threading.Lock()
        self._closer = _LingeringCloser()

    @property
    def active_connections(self) -> int:
        return self._active

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            admitted = self._active < self.max_connections
            if admitted:
                self._active += 1
        if not admitted:
            # Answered from the accept loop, without a thread: a flood cannot grow the thread count.
            self._closer.reject(request, throttled())
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._active_lock:
            self._active -= 1

    def server_close(self) -> None:
        super().server_close()
        self._closer.stop()


def throttled() -> bytes:
    body = problem(429, "Too Many Requests", "too many connections at once; retry shortly")
    head = (
        "HTTP/1.1 429 Too Many Requests\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
        "x-amzn-ErrorType: TooManyRequestsException\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _LingeringCloser:
    """Sends a rejection on a connection that is not served, then closes it gracefully: write, half-close,
    read what the client still sends (up to a second), close. Closing at once with unread request bytes
    would reset the connection and the client might never read the answer. One thread for all of them."""

    LINGER_S = 1.0

    def __init__(self) -> None:
        self._pending: list[tuple[socket.socket, float]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def reject(self, sock: socket.socket, response: bytes) -> None:
        try:
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while sock.recv(65536):  # what the client sent already
                    pass
            sock.settimeout(1.0)
            sock.sendall(response)
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        with self._lock:
            self._pending.append((sock, time.monotonic() + self.LINGER_S))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="api-rejections", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            readable, _, _ = select.select([s for s, _ in pending], [], [], 0.05)
            now = time.monotonic()
            done: list[socket.socket] = []
            for sock, deadline in pending:
                if sock in readable:
                    try:
                        if not sock.recv(65536):
                            done.append(sock)
                            continue
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        done.append(sock)
                        continue
                if now >= deadline:
                    done.append(sock)
            if done:
                with self._lock:
                    self._pending = [(s, d) for s, d in self._pending if s not in done]
                for sock in done:
                    sock.close()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        with self._lock:
            pending, self._pending = self._pending, []
        for sock, _ in pending:
            sock.close()


class _Handler(BaseHTTPRequestHandler):
    api: ApiGateway
    protocol_version = "HTTP/1.1"
    server_version = "o2c-localcloud"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def setup(self) -> None:
        super().setup()
        self.rfile = _DeadlineReader(self.connection)  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        """One request, as ``BaseHTTPRequestHandler`` reads it, within API Gateway's limits: line and headers
        in ``header_timeout_s`` and ``MAX_HEADER_BYTES``, every method routed (404/405, never 501), every
        refusal a problem+json; a client that stalls is answered 408 and cut."""
        reader: _DeadlineReader = self.rfile  # type: ignore[assignment]
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
        self.close_connection = True
        reader.consumed = 0
        reader.deadline = time.monotonic() + self.api.header_timeout_s
        reader.budget = MAX_HEADER_BYTES
        try:
            try:
                self.raw_requestline = reader.readline(MAX_HEADER_BYTES + 1)
            except _HeadersTooLarge:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                return  # the client closed (or never spoke): nothing to answer
            if len(self.raw_requestline) > MAX_HEADER_BYTES:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            try:
                parsed = self.parse_request()
            except _HeadersTooLarge:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            if not parsed:
                return  # answered by send_error
            reader.budget = None
            reader.deadline = time.monotonic() + self.api.body_timeout_s
            self._dispatch()
            self.wfile.flush()
        except _Timeout:
            if reader.started:  # a request had begun: say why it is cut
                self._problem(
                    HTTPStatus.REQUEST_TIMEOUT,
                    "Request Timeout",
                    "the request was not received in time",
                    close=True,
                )
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        finally:
            reader.deadline = None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every refusal of the HTTP layer (bad request line, version, headers) as problem+json."""
        status = HTTPStatus(code)
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # an HTTP/0.9 answer would have no status line
        detail = {
            HTTPStatus.REQUEST_URI_TOO_LONG: f"request line over {MAX_HEADER_BYTES} bytes",
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
                f"request line and headers over {MAX_HEADER_BYTES} bytes (or over 100 header lines)"
            ),
        }.get(status, message or status.description)
        try:
            self._problem(status, status.phrase, detail, close=True)
        except OSError:
            self.close_connection = True

    # -- responses -----------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]],
        *,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        names = {n.lower() for n, _ in headers}
        for name, value in headers:
            if name.lower() in ("content-length", "connection", "transfer-encoding", "date", "server"):
                continue
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if close or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.connection.settimeout(self.api.body_timeout_s)  # a client that does not read is cut too
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _problem(
        self,
        status: int,
        title: str,
        detail: str,
        extra: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        headers = [("Content-Type", "application/problem+json"), *(extra or [])]
        self._send(status, problem(status, title, detail), headers, close=close)

    # -- request -------------------------------------------------------------------------------------
    def _read_body(self) -> bytes | None:
        """The raw body, exactly as sent; None when it was refused (413, or 400 for broken framing: the
        answer is sent and the connection closed, since where the next request starts is unknown)."""
        try:
            return self._read_framed_body()
        except _Framing as exc:
            self._problem(HTTPStatus.BAD_REQUEST, "Bad Request", str(exc), close=True)
            return None

    def _read_framed_body(self) -> bytes | None:
        encodings = [
            e.strip().lower()
            for v in self.headers.get_all("Transfer-Encoding") or []
            for e in v.split(",")
            if e.strip()
        ]
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if encodings != ["chunked"]:
                raise _Framing(f"unsupported Transfer-Encoding {', '.join(encodings)!r}")
            if lengths:
                raise _Framing("both Transfer-Encoding and Content-Length")
            return self._read_chunked()
        if not lengths:
            return b""
        if len({v.strip() for v in lengths}) != 1 or not re.fullmatch(r"[0-9]{1,19}", lengths[0].strip()):
            raise _Framing(f"invalid Content-Length {', '.join(lengths)[:40]!r}")
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            self._too_large()
            return None
        data = self.rfile.read(length)
        if len(data) < length:
            raise _Framing(f"body ended after {len(data)} of {length} bytes")
        return data

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
                raise _Framing(f"invalid chunk size {size_text[:20]!r}" if line else "body ended in a chunk")
            size = int(size_text, 16)
            if size == 0:
                trailers = 0
                while True:  # trailer fields, then the final empty line
                    trailer = self.rfile.readline(MAX_HEADER_BYTES)
                    if not trailer.endswith(b"\n"):
                        raise _Framing("body ended before the last chunk's end")
                    if trailer in (b"\r\n", b"\n"):
                        break
                    trailers += len(trailer)
                    if trailers > MAX_HEADER_BYTES:
                        raise _Framing("chunked trailer too large")
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self._too_large()
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _Framing(f"body ended inside a chunk ({len(chunk)} of {size} bytes)")
            chunks.append(chunk)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Framing("a chunk is not followed by CRLF")

    def _too_large(self) -> None:
        self._problem(413, "Payload Too Large", f"request body exceeds {MAX_BODY_BYTES} bytes", close=True)

    def _token(self) -> None:
        """The token endpoint (Cognito's ``/oauth2/token``, client credentials)."""
        body = self._read_body()
        if body is None:
            return
        assert self.api.oauth is not None
        status, answer = self.api.oauth.token({k.lower(): v for k, v in self.headers.items()}, body)
        self._send(status, json.dumps(answer).encode(), [("Cache-Control", "no-store")])

    def _authorize(self, route: Route) -> dict[str, str] | None:
        """The caller's claims for a /v1 route, or None once refused (401/403 problem+json, as the stack's
        gateway responses answer)."""
        assert self.api.oauth is not None and route.scope is not None
        try:
            return self.api.oauth.authorize(self.headers.get("Authorization"), route.scope)
        except AuthFailure as exc:
            if self._read_body() is None:
                return None
            kind = "unauthorized" if exc.status == 401 else "forbidden"
            body = json.dumps(
                {"type": f"{API_PROBLEM_BASE}{kind}", "title": exc.message, "status": exc.status}
            ).encode()
            extra = [("WWW-Authenticate", "Bearer")] if exc.status == 401 else []
            self._send(exc.status, body, [("Content-Type", "application/problem+json"), *extra])
            return None

    def _authorize_sigv4(self, headers: list[tuple[str, str]], body: bytes) -> dict[str, str] | None:
        """The caller's IAM identity, or None once refused (403 problem+json, as the IAM API's gateway
        responses answer)."""
        assert self.api.sigv4 is not None
        try:
            return self.api.sigv4.authorize(self.command, self.path, headers, body)
        except AuthFailure as exc:
            body_out = json.dumps(
                {"type": f"{API_PROBLEM_BASE}forbidden", "title": exc.message, "status": exc.status}
            ).encode()
            self._send(exc.status, body_out, [("Content-Type", "application/problem+json")])
            return None

    def _metered(self) -> tuple[str, str] | None:
        """(key, key id) of a /v1 request within its client's usage plan, or None once refused: no or an
        unknown ``x-api-key`` → 403, over the key's rate or burst → 429 with ``Retry-After`` (both
        problem+json, as the stack's INVALID_API_KEY and THROTTLED gateway responses answer)."""
        assert self.api.oauth is not None
        key = self.headers.get("x-api-key")
        key_id = self.api.oauth.api_key_id(key)
        if key is None or key_id is None:
            if self._read_body() is None:
                return None
            self._gateway_problem(403, "forbidden", "Forbidden", [])
            return None
        wait = self.api.usage_plan.take(key_id)
        if wait > 0:
            if self._read_body() is None:
                return None
            plan = self.api.usage_plan
            self._gateway_problem(
                429,
                "rate-limited",
                "Too many requests",
                [("Retry-After", UsagePlan.retry_after(wait))],
                detail=api_rate_limited_detail(int(plan.rate), plan.burst),
            )
            return None
        return key, key_id

    def _gateway_problem(
        self, status: int, kind: str, title: str, extra: list[tuple[str, str]], detail: str | None = None
    ) -> None:
        problem = {"type": f"{API_PROBLEM_BASE}{kind}", "title": title, "status": status}
        body = json.dumps({**problem, **({"detail": detail} if detail else {})}).encode()
        self._send(status, body, [("Content-Type", "application/problem+json"), *extra])

    def _handle(self) -> None:
        split = urlsplit(self.path)
        raw_path = split.path or "/"
        if raw_path == TOKEN_PATH and self.command == "POST" and self.api.oauth is not None:
            self._token()
            return
        route, allowed = self.api.match(self.command, raw_path)
        if route is None:
            # Drain the body so a keep-alive connection stays usable.
            if self._read_body() is None:
                return
            if allowed:
                self._problem(
                    405,
                    "Method Not Allowed",
                    f"{self.command} is not allowed on {raw_path}",
                    [("Allow", ", ".join(sorted(set(allowed))))],
                )
            else:
                self._problem(404, "Not Found", f"no route for {self.command} {raw_path}")
            return
        claims = identity = api_key = None
        if route.scope is not None and self.api.sigv4 is None:
            claims = self._authorize(route)
            if claims is None:
                return
            api_key = self._metered()
            if api_key is None:
                return
        body = self._read_body()
        if body is None:
            return
        headers = [(name, value) for name, value in self.headers.items()]
        if route.scope is not None and self.api.sigv4 is not None:
            # the signature covers the body: verified once it is read
            identity = self._authorize_sigv4(headers, body)
            if identity is None:
                return
        event = self.api.build_event(
            route,
            self.command,
            raw_path,
            split.query,
            headers,
            body,
            self.client_address[0],
            claims,
            identity,
            api_key,
        )
        result = self.api.invoke(route.function_id, event)
        if not result.ok:
            log.warning("function %s failed: %s", route.function_id, result.error)
            self._problem(502, "Bad Gateway", "Internal server error")
            return
        response = result.result
        if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int | str):
            self._problem(502, "Bad Gateway", "Malformed Lambda proxy response")
            return
        try:
            status = int(response["statusCode"])
            out_body = response.get("body") or ""
            payload = (
                base64.b64decode(out_body)
                if response.get("isBase64Encoded")
                else (
                    out_body.encode("utf-8") if isinstance(out_body, str) else json.dumps(out_body).encode()
                )
            )
        except (ValueError, TypeError):
            self._problem(502, "Bad Gateway", "Malformed Lambda proxy response")
            return
        out_headers: list[tuple[str, str]] = []
        multi = response.get("multiValueHeaders") or {}
        for name, value in (response.get("headers") or {}).items():
            if name not in multi:
                out_headers.append((name, str(value)))
        for name, values in multi.items():
            out_headers.extend((name, str(v)) for v in values)
        self._send(status, payload, out_headers)

    def _dispatch(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
