"""NetSuite over HTTP, on the connectors' transport (``shared.outbound.http.JsonHttp``): requests signed per
attempt, NetSuite's validation headers, the ERP gate's slots (one per attempt, or one per ``session``),
retries of idempotent requests, NetSuite's error bodies as the hub's error classes, and money on the wire as
JSON numbers with their exact digits."""

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
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
)
from shared.outbound.erp_gate import GATE_FULL
from shared.outbound.http import HttpResponse, JsonHttp
from shared.outbound.netsuite.auth import Auth

if TYPE_CHECKING:
    from shared.outbound.erp_gate import ErpGate

log = logging.getLogger("o2c.connectors.netsuite")
T = TypeVar("T")

_DETAIL_LIMIT = 300
#: sent with every request
VALIDATION_HEADERS = {
    # refuse unknown field names instead of silently dropping them
    "X-NetSuite-PropertyNameValidation": "Error",
    # refuse a select id or a read-only field instead of ignoring it
    "X-NetSuite-PropertyValueValidation": "Error",
}


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


class GateSlots:
    """Each HTTP attempt (``JsonHttp``'s ``attempt_guard``) holds a slot of the ERP gate: its own, or within
    ``session`` the session's. ``timeout_s``: one attempt's connect and read timeout each."""

    def __init__(self, gate: ErpGate, *, timeout_s: float) -> None:
        self.gate = gate
        self.timeout_s = timeout_s
        self._local = threading.local()  # the thread's session (``session``), if any

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Every request this thread sends within the block shares one slot of the gate: taken at the first
        request (a block that sends none costs nothing), kept between requests and across retries, given back
        at the end — one acquire and one release instead of one per request. The requests go one after
        another, so the ERP sees at most one of them at a time, as it would with a slot each. Before a request
        that could outlast the lease (connect + read timeout), the lease is extended (``ErpGate.renew``), or a
        new slot taken if it was lost; a request whose answer never came keeps its slot until the lease
        expires (NetSuite may still be running it) and the next request takes a new one. Nested sessions are
        the outer one."""
        if getattr(self._local, "session", None) is not None:
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

    def __call__(self, attempt: Callable[[], T]) -> T:
        held: _Held | None = getattr(self._local, "session", None)
        if held is not None:
            return self._in_session(held, attempt)
        lease = self.gate.acquire()
        try:
            response = attempt()
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

    def _in_session(self, held: _Held, attempt: Callable[[], T]) -> T:
        gate = self.gate
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
            return attempt()
        except RequestOutcomeUnknown:
            # NetSuite may still be running it: the slot stays taken until its lease expires, and the
            # session's next request takes a new one
            gate.keep_until_expiry(held.lease)
            held.lease = None
            raise


class NetSuiteHttp:
    """JSON over HTTP to one NetSuite account: ``JsonHttp`` (the process-wide urllib3 pool, the invocation's
    deadline) with NetSuite's signature, headers, errors and JSON.

    Transient failures (429 incl. ``CONCURRENCY_LIMIT_EXCEEDED``, 5xx, 408, timeouts, resets) are retried
    with exponential backoff and full jitter (``Retry-After`` when given; a wait above ``max_retry_wait_s``
    is raised at once) — for idempotent methods only; a POST is sent once unless ``retry=True``. Each
    attempt holds a slot of ``gate`` (if any); the sleeps between attempts do not. Within the invocation's
    deadline (``deadline``): the gate waits for a slot only as long as leaves time for the request, an
    attempt's timeouts are cut to the time left, and no retry or backoff starts that could not finish. A
    request sent that got no answer is a ``RequestOutcomeUnknown``.
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
        self.auth = auth
        self.gate = gate
        self._slots = GateSlots(gate, timeout_s=timeout_s) if gate is not None else None
        self._json = JsonHttp(
            base_url,
            sign=lambda method, url: self.auth.headers(method, url),
            headers=VALIDATION_HEADERS,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            max_retry_wait_s=max_retry_wait_s,
            base_backoff_s=base_backoff_s,
            sleep=sleep,
            encode_json=dumps,
            classify_error=classify,
            unanswered=RequestOutcomeUnknown,
            # the gate already waited wait_s for a slot: the queue / state machine retries later
            give_up=lambda exc: exc.code == GATE_FULL,
            attempt_guard=self._slots,
            logger=log,
        )
        self.base_url = self._json.base_url

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
        """``headers``: this request's own (e.g. the metadata catalog's ``Accept``)."""
        if retry is None:
            retry = method.upper() != "POST"
        answer: HttpResponse = self._json.send(
            method, path, query=query, json=json, headers=headers, max_attempts=None if retry else 1
        )
        return Response(answer.status, answer.headers.get("Location"), answer.body)

    def retrying(self, attempt_once: Callable[[], T], *, what: str) -> T:
        """``attempt_once`` under this client's retry policy (``JsonHttp.retrying``)."""
        return self._json.retrying(attempt_once, what=what)

    def session(self) -> contextlib.AbstractContextManager[None]:
        """One slot of the gate for every request this thread sends within the block (``GateSlots.session``).
        Without a gate, a no-op."""
        return self._slots.session() if self._slots is not None else contextlib.nullcontext()


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
