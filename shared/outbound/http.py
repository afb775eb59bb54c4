"""A small JSON HTTP client for the vendors' REST APIs, on urllib3.

- One ``urllib3.PoolManager`` per process (connections are reused across invocations of a warm Lambda),
  imported and built on the first request only.
- Every failure becomes a classified ``ConnectorError`` (see ``errors``). ``TransientError`` is retried
  with exponential backoff and full jitter; a ``Retry-After`` header (seconds or HTTP date) sets the wait
  instead. A vendor asking for more than ``max_retry_wait_s`` is not waited for here: the error is raised
  at once, with ``retry_after``, so the queue or the state machine retries later instead of the function
  burning its time asleep.
- Within the invocation's deadline (``deadline``, set from the Lambda context): an attempt's timeouts are cut to
  the time left, and no retry or backoff starts that could not finish before it.
- JSON numbers with a fraction are parsed as ``Decimal``: money never passes through a float.
- Logs carry method, path (never the query string), status, attempt and wait. Never a body, a header
  or a token.

Every request is retried on transient failures, so use it for reads and idempotent writes (GET, PUT,
PATCH, DELETE, the vendors' batch *reads* and OAuth token requests). A POST the vendor does not make
idempotent is sent with ``max_attempts=1`` inside ``retrying``, after looking for an earlier attempt's result.

What a vendor's API needs beyond that is a parameter of ``JsonHttp``, its default being what every other
connector gets: a signature per attempt over the method and URL (``sign``: NetSuite's OAuth 1.0a), headers on
every request (``headers``) or one (``request(headers=)``), its own JSON encoding (``encode_json``) and error
classes (``classify_error``), a distinct error for a request sent that got no answer (``unanswered``: the
vendor may have applied it), errors not to retry (``give_up``), a guard around each attempt (``attempt_guard``:
a slot of the ERP gate), and the answer's status and headers (``send``: e.g. ``Location``).
"""

from __future__ import annotations

import json as jsonlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from shared import deadline
from shared.errors import AuthError, ConnectorError, NotFound, PermanentError, TransientError
from shared.outbound.retry import with_retries

log = logging.getLogger("o2c.connectors.http")
T = TypeVar("T")

USER_AGENT = "o2c-hub-connectors/1"
_DETAIL_LIMIT = 300

_pool: Any = None
_pool_lock = threading.Lock()


def pool_manager() -> Any:
    """The process-wide ``urllib3.PoolManager`` (lazy: urllib3 is imported on first use)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                import urllib3

                # retries/redirects are ours to decide: urllib3 must not retry or follow on its own.
                _pool = urllib3.PoolManager(num_pools=16, maxsize=8, retries=False, block=False)
    return _pool


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds to wait: delta-seconds or an HTTP date; None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _vendor_entries(body: bytes) -> tuple[dict[str, Any], ...]:
    """The vendor's error entries: Salesforce's JSON array, HubSpot's ``errors[]`` (at most 20)."""
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return ()
    entries = data if isinstance(data, list) else (data.get("errors") if isinstance(data, dict) else None)
    return tuple(e for e in (entries or [])[:20] if isinstance(e, dict))


def _vendor_error(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) from the vendors' error shapes: HubSpot ``{"category"|"errorType", "message"}``,
    Salesforce ``[{"errorCode", "message"}]``, OAuth ``{"error", "error_description"}``."""
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return None, None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return None, None
    code = data.get("errorCode") or data.get("category") or data.get("errorType") or data.get("error")
    message = data.get("message") or data.get("error_description")
    return (
        str(code) if code is not None else None,
        str(message)[:_DETAIL_LIMIT] if message is not None else None,
    )


def classify(status: int, *, what: str, body: bytes, retry_after: float | None) -> ConnectorError:
    """The error an HTTP status stands for."""
    code, detail = _vendor_error(body)
    message = f"{what} -> HTTP {status}" + (f" {code}" if code else "")
    if status == 429 or status == 408 or status >= 500:
        return TransientError(message, status=status, retry_after=retry_after, code=code, detail=detail)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        # Salesforce's org-wide (24 h rolling) API limit: retry much later, from the queue, not in a loop
        return TransientError(
            message, status=status, retry_after=retry_after or 3600.0, code=code, detail=detail
        )
    entries = _vendor_entries(body)
    if status in (401, 403):
        return AuthError(message, status=status, code=code, detail=detail, vendor_errors=entries)
    if status == 404:
        return NotFound(message, status=status, code=code, detail=detail, vendor_errors=entries)
    return PermanentError(message, status=status, code=code, detail=detail, vendor_errors=entries)


@dataclass(frozen=True)
class HttpResponse:
    """A 2xx answer: its status, its headers (case-insensitive, e.g. ``Location``) and its decoded JSON body
    (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class JsonHttp:
    """JSON over HTTP to one vendor base URL.

    ``auth_headers`` is called before every attempt, so a refreshed token is picked up; ``sign(method, url)``
    likewise, for a signature over the request (OAuth 1.0a). ``sleep`` is injectable for tests. ``path`` may
    also be an absolute URL on the same host (e.g. a paging link). The other keyword arguments are what a
    vendor needs beyond the common behaviour (module docstring); their defaults are that behaviour.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth_headers: Callable[[], dict[str, str]] | None = None,
        sign: Callable[[str, str], dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5,
        max_attempts: int = 3,
        max_retry_wait_s: float = 10,
        base_backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        encode_json: Callable[[Any], bytes] | None = None,
        classify_error: Callable[..., ConnectorError] | None = None,
        unanswered: type[TransientError] = TransientError,
        give_up: Callable[[TransientError], bool] | None = None,
        attempt_guard: Callable[[Callable[[], HttpResponse]], HttpResponse] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._auth_headers = auth_headers
        self._sign = sign
        self._headers = dict(headers or {})
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        self._base_backoff_s = base_backoff_s
        self._sleep = sleep
        self._encode_json = encode_json or _encode_json
        self._classify = classify_error or classify
        #: raised for a request sent that got no answer (read timeout, dropped connection); one that never
        #: reached the vendor (refused connection, connect timeout) is a plain ``TransientError``
        self._unanswered = unanswered
        self._give_up = give_up
        self._attempt_guard = attempt_guard
        self._log = logger or log

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send, retry transient failures, and return the decoded JSON (None for an empty body).
        ``max_attempts=1`` for a write the vendor does not make idempotent (see ``retrying``). ``headers``:
        this request's own (e.g. another ``Accept``)."""
        return self.send(
            method, path, query=query, json=json, form=form, max_attempts=max_attempts, headers=headers
        ).body

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """``request``, answering with the status and headers too."""
        if json is not None and form is not None:
            raise ValueError("send either json or form, not both")
        method = method.upper()
        url = self._url(path, query)
        what = f"{method} {urlsplit(url).path}"
        body: bytes | None = None
        content_type: str | None = None
        if json is not None:
            body, content_type = self._encode_json(json), "application/json"
        elif form is not None:
            body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"

        guard = self._attempt_guard

        def attempt() -> HttpResponse:
            return self._once(method, url, what, body, content_type, headers)

        return with_retries(
            (lambda: guard(attempt)) if guard is not None else attempt,
            what=what,
            max_attempts=max_attempts or self._max_attempts,
            base_backoff_s=self._base_backoff_s,
            max_wait_s=self._max_retry_wait_s,
            sleep=self._sleep,
            give_up=self._give_up or _never,
        )

    def retrying(self, attempt_once: Callable[[], T], *, what: str) -> T:
        """``attempt_once`` under this client's retry policy: for a non-idempotent write made safe by the
        caller (look for the result of an earlier attempt, then send once), retried as a whole."""
        return with_retries(
            attempt_once,
            what=what,
            max_attempts=self._max_attempts,
            base_backoff_s=self._base_backoff_s,
            max_wait_s=self._max_retry_wait_s,
            sleep=self._sleep,
        )

    def _url(self, path: str, query: Mapping[str, str] | None) -> str:
        if path.startswith(("http://", "https://")):
            if urlsplit(path).netloc != urlsplit(self.base_url).netloc:
                raise ValueError("absolute URLs must stay on the connector's host")
            url = path
        else:
            url = self.base_url + ("" if path.startswith("/") else "/") + path
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query, quote_via=quote)
        return url

    def _once(
        self,
        method: str,
        url: str,
        what: str,
        body: bytes | None,
        content_type: str | None,
        extra: Mapping[str, str] | None,
    ) -> HttpResponse:
        import urllib3

        sent = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self._headers,
            **(extra or {}),
            **(self._auth_headers() if self._auth_headers is not None else {}),
            **(self._sign(method, url) if self._sign is not None else {}),
        }
        if content_type:
            sent["Content-Type"] = content_type
        started = time.monotonic()
        try:
            response = pool_manager().request(
                method,
                url,
                body=body,
                headers=sent,
                timeout=deadline.http_timeout(self._timeout_s, self._timeout_s),
                redirect=False,
                preload_content=True,
            )
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            # never reached the vendor: the vendor may be fine a moment later
            raise TransientError(f"{what} -> {type(exc).__name__}") from exc
        except urllib3.exceptions.HTTPError as exc:
            # read timeouts, reset connections, protocol errors: sent, no answer (``unanswered``)
            raise self._unanswered(f"{what} -> {type(exc).__name__}") from exc
        status: int = response.status
        data: bytes = response.data or b""
        self._log.debug("%s -> %d in %.0f ms", what, status, (time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            if not data.strip():
                return HttpResponse(status, response.headers, None)
            try:
                return HttpResponse(status, response.headers, jsonlib.loads(data, parse_float=Decimal))
            except ValueError:
                raise PermanentError(
                    f"{what} -> HTTP {status} with a body that is not JSON", status=status
                ) from None
        raise self._classify(
            status, what=what, body=data, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )


def _never(_exc: TransientError) -> bool:
    return False


def _encode_json(data: Any) -> bytes:
    return jsonlib.dumps(data, default=_json_default).encode()


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # never through a float: the vendors coerce a numeric string into a number field
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
