"""The console's web server: the standard library's ``http.server`` on loopback only.

- ``GET /`` the page (plain HTML, CSS and JS from ``static/``; plots are inline SVG drawn by ``app.js``);
- ``GET /api/snapshot`` everything the page shows (``data.snapshot``); ``GET /api/deals/<name>`` one deal;
- ``POST /api/actions/<action>`` an operator's action (``actions.perform``), JSON in and out.

A POST must carry the page's CSRF token (``X-CSRF-Token``, random per server start, only in the page the
server gives out) and a JSON body; every request must name this server in its ``Host`` (no DNS-rebinding
page can reach it) and a POST's ``Origin``, when sent, must be this server. The page may not be framed and
loads nothing from elsewhere (Content-Security-Policy).
"""

from __future__ import annotations

import getpass
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from o2c_cli.console import act, actions, read
from o2c_cli.targets import Target

STATIC = Path(__file__).parent / "static"
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8700
#: a snapshot is read at most this often, whatever the number of open pages
SNAPSHOT_TTL_S = 2.0
#: the lineage facts (a scan of the lineage table) are read at most this often, unless the page asks afresh
FACTS_TTL_S = 60.0
MAX_BODY = 16 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class _ClientsKept(Target):
    """The target, with one boto3 client per service kept for the server's life (a page refresh reads
    every unfinished execution: a client made per call costs more than the call). boto3 clients are
    thread-safe."""

    kept: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    lock: Any = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def of(cls, target: Target) -> _ClientsKept:
        return cls(**{f.name: getattr(target, f.name) for f in fields(Target)})

    def client(self, service: str) -> Any:
        with self.lock:
            if service not in self.kept:
                self.kept[service] = super().client(service)
            return self.kept[service]


class Console:
    """A console for one target, served on ``127.0.0.1:port`` (0: a free port)."""

    def __init__(self, target: Target, port: int = DEFAULT_PORT, *, operator: str | None = None) -> None:
        self.target = _ClientsKept.of(target)
        self.csrf_token = secrets.token_urlsafe(32)
        self.operator = operator or _user()
        self.last_reconciliation: dict[str, Any] | None = None
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self._facts: tuple[float, list[Any]] | None = None
        self._lock = threading.Lock()
        self._httpd = _Server((LOOPBACK, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    def start(self) -> Console:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="o2c-console", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self, *, fresh: bool = False) -> dict[str, Any]:
        with self._lock:
            if fresh:
                self._facts = None
            if fresh or self._snapshot is None or time.monotonic() - self._snapshot[0] > SNAPSHOT_TTL_S:
                self._snapshot = (
                    time.monotonic(),
                    read(self.target, last_reconciliation=self.last_reconciliation, facts_of=self._facts_of),
                )
            return self._snapshot[1]

    def _facts_of(self, since: datetime) -> list[Any]:
        """The lineage facts of the figures, read again at most every FACTS_TTL_S (or on Refresh)."""
        from o2c_cli.console.data import recent_facts

        if self._facts is None or time.monotonic() - self._facts[0] > FACTS_TTL_S:
            self._facts = (time.monotonic(), recent_facts(self.target, since))
        return self._facts[1]

    def act(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        result = act(self.target, action, params, by=f"{self.operator} (console)")
        if action == "reconcile":
            self.last_reconciliation = {**result["report"], "ranAt": time.time()}
        with self._lock:
            self._snapshot = None  # the next read shows what the action changed
        return result

    def allowed_hosts(self) -> set[str]:
        return {f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A page closed while its answer was being written is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment
        return "operator"


def _handler(console: Console) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "o2c-console"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the console's terminal shows only its link

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload, default=str).encode(), "application/json")

        def _host_ok(self) -> bool:
            if self.headers.get("Host") not in console.allowed_hosts():
                self._json(
                    HTTPStatus.MISDIRECTED_REQUEST, {"error": "this console answers only on its own address"}
                )
                return False
            return True

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            path = urlsplit(self.path).path
            if path == "/":
                page = (STATIC / "index.html").read_text(encoding="utf-8")
                page = page.replace("{{csrf_token}}", console.csrf_token)
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            elif path in {"/app.js", "/app.css"}:
                kind = "text/javascript" if path.endswith(".js") else "text/css"
                self._send(HTTPStatus.OK, (STATIC / path[1:]).read_bytes(), f"{kind}; charset=utf-8")
            elif path == "/api/snapshot":
                self._json(HTTPStatus.OK, console.snapshot(fresh="fresh=1" in (urlsplit(self.path).query)))
            elif path.startswith("/api/deals/"):
                name = unquote(path.removeprefix("/api/deals/"))
                if not actions._NAME.match(name):
                    self._json(HTTPStatus.BAD_REQUEST, {"error": "malformed deal name"})
                    return
                try:
                    self._json(HTTPStatus.OK, read(console.target, deal=name))
                except Exception as exc:  # noqa: BLE001 - one line, never a traceback
                    self._json(HTTPStatus.BAD_GATEWAY, {"error": actions.one_line(exc)})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:
            if not self._host_ok():
                return
            origin = self.headers.get("Origin")
            if origin is not None and f"{origin.removeprefix('http://')}" not in console.allowed_hosts():
                self._json(HTTPStatus.FORBIDDEN, {"error": "cross-origin request refused"})
                return
            token = self.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(token.encode(), console.csrf_token.encode()):
                self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong CSRF token: reload the page"})
                return
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send JSON"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            path = urlsplit(self.path).path
            if not path.startswith("/api/actions/"):
                self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            try:
                params = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(params, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": "malformed JSON body"})
                return
            action = path.removeprefix("/api/actions/")
            try:
                self._json(HTTPStatus.OK, console.act(action, params))
            except actions.ActionError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - the target refused: one line, never a traceback
                self._json(HTTPStatus.CONFLICT, {"error": actions.one_line(exc)})

    return Handler


def serve_when_ready(state_dir: Path, port: int = DEFAULT_PORT) -> threading.Event:
    """For ``o2c local up``: once the local cloud this process boots has written its ``local.json``, serve
    the console over it and print its link (in the background). Set the returned event when the cloud
    stops: the console stops with it."""
    started = time.time()
    path = Path(state_dir) / "local.json"
    done = threading.Event()

    def wait_and_serve() -> None:
        from o2c_cli.targets import local_target

        while not (path.exists() and path.stat().st_mtime >= started - 1):
            if done.wait(0.5):
                return
        try:
            console = Console(local_target(Path(state_dir)), port).start()
        except OSError as exc:
            print(f"  console:   not served, 127.0.0.1:{port}: {exc.strerror} (--console-port N)", flush=True)
            return
        print(f"  console:   {console.url}  (o2c console)", flush=True)
        done.wait()
        console.stop()

    threading.Thread(target=wait_and_serve, name="o2c-console-boot", daemon=True).start()
    return done
