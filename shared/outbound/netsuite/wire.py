"""NetSuite over HTTP: requests signed per attempt, the ERP gate's slots (one per attempt, or one per
``session``), retries of idempotent requests, NetSuite's error bodies as the hub's error classes, and money
on the wire as JSON numbers with their exact digits."""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
)
from shared.outbound import deadline
from shared.outbound.erp_gate import GATE_FULL
from shared.outbound.http import USER_AGENT, parse_retry_after, pool_manager
from shared.outbound.netsuite.auth import Auth
from shared.outbound.retry import with_retries

if TYPE_CHECKING:
    from shared.outbound.erp_gate import ErpGate

log = logging.getLogger("o2c.connectors.netsuite")

_DETAIL_LIMIT = 300


@dataclass(frozen=True)
class Response:
    status: int
    location: str | None
    body: Any


#: seconds of a session's lease that must be left, beyond one attempt's timeouts, before it is used again
_LEASE_MARGIN_S = 2.0


class _Held:
    """A session's slot (``NetSuiteHttp.session``): the lease id, None while none is held, and when it expires
    at the latest (epoch seconds, the gate's clock)."""

    __slots__ = ("expires", "lease")

    def __init__(self) -> None:
        self.lease: str | None = None
        self.expires = 0.0


class RequestOutcomeUnknown(TransientError):
    """The request was sent and no answer came (read timeout, connection dropped): NetSuite may have applied
    it and may still be processing it."""


class NetSuiteHttp:
    """JSON over HTTP to one NetSuite account, on the process-wide urllib3 pool.

    Transient failures (429 incl. ``CONCURRENCY_LIMIT_EXCEEDED``, 5xx, 408, timeouts, resets) are retried
    with exponential backoff and full jitter (``Retry-After`` when given; a wait above ``max_retry_wait_s``
    is raised at once) — for idempotent methods only; a POST is sent once unless ``retry=True``. Each
    attempt holds a slot of ``gate`` (if any); the sleeps between attempts do not. Within the invocation's
    deadline (``deadline``): the gate waits for a slot only as long as leaves time for the request, an
    attempt's timeouts are cut to the time left, and no retry or backoff starts that could not finish.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth,
        gate: ErpGate | None = None,
        timeout_s: float = 10,
        max_attempts: int = 3,
        max_retry_wait_s: float = 10,
        base_backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.gate = gate
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.max_retry_wait_s = max_retry_wait_s
        self.base_backoff_s = base_backoff_s
        self.sleep = sleep
        self._local = threading.local()  # the thread's session (``session``), if any

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        retry: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        method = method.upper()
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        what = f"{method} {path}"
        body = None if json is None else dumps(json)
        if retry is None:
            retry = method != "POST"
        attempts = self.max_attempts if retry else 1
        return with_retries(
            lambda: self._once(method, url, what, body, headers),
            what=what,
            max_attempts=attempts,
            base_backoff_s=self.base_backoff_s,
            max_wait_s=self.max_retry_wait_s,
            sleep=self.sleep,
            # the gate already waited wait_s for a slot: the queue / state machine retries later
            give_up=lambda exc: exc.code == GATE_FULL,
        )

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Every request this thread sends within the block shares one slot of the gate: taken at the first
        request (a block that sends none costs nothing), kept between requests and across retries, given back
        at the end — one acquire and one release instead of one per request. The requests go one after
        another, so the ERP sees at most one of them at a time, as it would with a slot each. Before a request
        that could outlast the lease (connect + read timeout), the lease is extended (``ErpGate.renew``), or a
        new slot taken if it was lost; a request whose answer never came keeps its slot until the lease
        expires (NetSuite may still be running it) and the next request takes a new one. Nested sessions are
        the outer one. Without a gate, a no-op."""
        if self.gate is None or getattr(self._local, "session", None) is not None:
            yield
            return
        held = _Held()
        self._local.session = held
        try:
            yield
        finally:
            self._local.session = None
            if held.lease is not None:
                self.gate.release(held.lease)

    def _once(
        self, method: str, url: str, what: str, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> Response:
        if self.gate is None:
            return self._send(method, url, what, body, extra)
        held: _Held | None = getattr(self._local, "session", None)
        if held is not None:
            return self._in_session(held, self.gate, method, url, what, body, extra)
        lease = self.gate.acquire()
        try:
            response = self._send(method, url, what, body, extra)
        except RequestOutcomeUnknown:
            # NetSuite may still be working on it (a read timeout or a dropped connection does not stop the
            # request on its side, and it still counts against the account's limit): the slot is kept until
            # its lease expires rather than handed to the next request, which NetSuite would refuse with 429.
            self.gate.keep_until_expiry(lease)
            raise
        except BaseException:
            self.gate.release(lease)
            raise
        self.gate.release(lease)
        return response

    def _in_session(
        self,
        held: _Held,
        gate: ErpGate,
        method: str,
        url: str,
        what: str,
        body: bytes | None,
        extra: Mapping[str, str] | None,
    ) -> Response:
        longest = 2 * self.timeout_s + _LEASE_MARGIN_S  # connect + read of one attempt, and some slack
        if held.lease is not None and held.expires - gate.now() < longest:
            renewed = gate.renew(held.lease)
            if renewed is None:  # expired or pruned: the slot may be someone else's now
                held.lease = None
            else:
                held.expires = renewed
        if held.lease is None:
            taken = gate.now()  # the lease's expiry is counted from the gate's clock at its write, later
            held.lease = gate.acquire()
            held.expires = taken + gate.lease_s
        try:
            return self._send(method, url, what, body, extra)
        except RequestOutcomeUnknown:
            # NetSuite may still be running it: the slot stays taken until its lease expires, and the
            # session's next request takes a new one
            gate.keep_until_expiry(held.lease)
            held.lease = None
            raise

    def _send(
        self, method: str, url: str, what: str, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> Response:
        import urllib3

        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            # refuse unknown field names instead of silently dropping them
            "X-NetSuite-PropertyNameValidation": "Error",
            # refuse a select id or a read-only field instead of ignoring it
            "X-NetSuite-PropertyValueValidation": "Error",
            **(extra or {}),  # e.g. the metadata catalog's Accept
            **self.auth.headers(method, url),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            response = pool_manager().request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=deadline.http_timeout(self.timeout_s, self.timeout_s),
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            # never reached NetSuite: nothing runs there
            raise TransientError(f"{what} -> {type(exc).__name__}") from exc
        except urllib3.exceptions.HTTPError as exc:
            # sent, no answer: for a write the outcome is unknown (NetSuite may have committed it), and
            # NetSuite may still be processing it
            raise RequestOutcomeUnknown(f"{what} -> {type(exc).__name__}") from exc
        status: int = response.status
        data: bytes = response.data or b""
        log.debug("%s -> %d in %.0f ms", what, status, (time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            parsed: Any = None
            if data.strip():
                try:
                    parsed = jsonlib.loads(data, parse_float=Decimal)
                except ValueError:
                    raise PermanentError(
                        f"{what} -> HTTP {status}: body is not JSON", status=status
                    ) from None
            return Response(status, response.headers.get("Location"), parsed)
        raise classify(
            status, what=what, body=data, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )


def classify(status: int, *, what: str, body: bytes, retry_after: float | None) -> ConnectorError:
    """NetSuite's error ``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`` →
    the hub's error class. 429 (``CONCURRENCY_LIMIT_EXCEEDED`` or the request-rate limit), 408 and 5xx are
    transient; 400 is a record NetSuite will not accept (``InvalidRecord``); 404 ``NotFound``; 401/403
    ``AuthError``."""
    code, detail = netsuite_error(body)
    message = f"{what} -> HTTP {status}" + (f" {code}" if code else "")
    if status in (408, 429) or status >= 500:
        return TransientError(message, status=status, retry_after=retry_after, code=code, detail=detail)
    if status in (401, 403):
        return AuthError(message, status=status, code=code, detail=detail)
    if status == 404:
        return NotFound(message, status=status, code=code, detail=detail)
    if status == 400:
        return InvalidRecord(message, status=status, code=code, detail=detail)
    return PermanentError(message, status=status, code=code, detail=detail)


def netsuite_error(body: bytes) -> tuple[str | None, str | None]:
    """(first ``o:errorCode``, its ``detail`` or the ``title``) from a NetSuite error body."""
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = detail = None
    details = data.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        code = details[0].get("o:errorCode")
        detail = details[0].get("detail")
    detail = detail or data.get("title")
    return (
        str(code) if code is not None else None,
        str(detail)[:_DETAIL_LIMIT] if detail is not None else None,
    )


def dumps(data: Any) -> bytes:
    """JSON with ``Decimal`` as a JSON number with exactly its digits (never through a float)."""

    def mark(value: object) -> str:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError("money and quantities must be finite")
            return f"\x00dec:{value:f}\x00"
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = jsonlib.dumps(data, default=mark, separators=(",", ":"))
    return re.sub(r'"\\u0000dec:(-?[0-9.]+)\\u0000"', r"\1", text).encode()
