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
"""

from __future__ import annotations

import json as jsonlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from shared.errors import AuthError, ConnectorError, NotFound, PermanentError, TransientError
from shared.outbound import deadline
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


class JsonHttp:
    """JSON over HTTP to one vendor base URL.

    ``auth_headers`` is called before every attempt, so a refreshed token is picked up. ``sleep`` is
    injectable for tests. ``path`` may also be an absolute URL on the same host (e.g. a paging link).
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth_headers: Callable[[], dict[str, str]],
        timeout_s: float = 5,
        max_attempts: int = 3,
        max_retry_wait_s: float = 10,
        base_backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._auth_headers = auth_headers
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        self._base_backoff_s = base_backoff_s
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> Any:
        """Send, retry transient failures, and return the decoded JSON (None for an empty body).
        ``max_attempts=1`` for a write the vendor does not make idempotent (see ``retrying``)."""
        if json is not None and form is not None:
            raise ValueError("send either json or form, not both")
        method = method.upper()
        url = self._url(path, query)
        what = f"{method} {urlsplit(url).path}"
        body: bytes | None = None
        content_type: str | None = None
        if json is not None:
            body, content_type = jsonlib.dumps(json, default=_json_default).encode(), "application/json"
        elif form is not None:
            body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"

        return with_retries(
            lambda: self._once(method, url, what, body, content_type),
            what=what,
            max_attempts=max_attempts or self._max_attempts,
            base_backoff_s=self._base_backoff_s,
            max_wait_s=self._max_retry_wait_s,
            sleep=self._sleep,
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

    def _once(self, method: str, url: str, what: str, body: bytes | None, content_type: str | None) -> Any:
        import urllib3

        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._auth_headers()}
        if content_type:
            headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            response = pool_manager().request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=deadline.http_timeout(self._timeout_s, self._timeout_s),
                redirect=False,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            # timeouts, refused/reset connections, protocol errors: the vendor may be fine a moment later
            raise TransientError(f"{what} -> {type(exc).__name__}") from exc
        status: int = response.status
        data: bytes = response.data or b""
        log.debug("%s -> %d in %.0f ms", what, status, (time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            if not data.strip():
                return None
            try:
                return jsonlib.loads(data, parse_float=Decimal)
            except ValueError:
                raise PermanentError(
                    f"{what} -> HTTP {status} with a body that is not JSON", status=status
                ) from None
        raise classify(
            status, what=what, body=data, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        # never through a float: the vendors coerce a numeric string into a number field
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
