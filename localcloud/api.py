"""API Gateway (REST API, Lambda proxy integration) emulation in front of the webhook functions."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.topology import FunctionSpec
from localcloud.workers import InvokeResult

log = logging.getLogger("localcloud.api")

#: API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
API_ID = "o2clocal00"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str
    regex: re.Pattern[str]
    function_id: str

    @classmethod
    def of(cls, fn: FunctionSpec) -> Route:
        assert fn.route is not None
        pattern = "".join(
            f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") and seg.endswith("}") else re.escape(seg)
            for seg in re.split(r"(\{[^}]+\})", fn.route.path)
        )
        return cls(fn.route.method.upper(), fn.route.path, re.compile(f"^{pattern}$"), fn.id)


def problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()


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
    ) -> None:
        self.routes = [Route.of(fn) for fn in functions if fn.route is not None]
        self.invoke = invoke
        self.stage = stage
        gateway = self

        class Handler(_Handler):
            api = gateway

        self.server = _Server((host, port), Handler)
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
                "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent")},
                "domainName": host,
                "apiId": API_ID,
            },
            "body": text_body,
            "isBase64Encoded": is_b64,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive client connections must not hold up shutdown
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    api: ApiGateway
    protocol_version = "HTTP/1.1"
    server_version = "o2c-localcloud"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

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
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
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
        """The raw body, exactly as sent; None when it is over API Gateway's limit (413 already sent)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    self._too_large()
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._too_large()
            return None
        data = b""
        while len(data) < length:
            part = self.rfile.read(length - len(data))
            if not part:
                break
            data += part
        return data

    def _too_large(self) -> None:
        self._problem(413, "Payload Too Large", f"request body exceeds {MAX_BODY_BYTES} bytes", close=True)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        raw_path = split.path or "/"
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
        body = self._read_body()
        if body is None:
            return
        headers = [(name, value) for name, value in self.headers.items()]
        event = self.api.build_event(
            route, self.command, raw_path, split.query, headers, body, self.client_address[0]
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

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch
