"""What can go wrong talking to a vendor, classified by what the caller should do about it.

- ``TransientError``: try again later (429, 5xx, 408, timeouts, connection failures). ``retry_after`` is
  the vendor's hint in seconds, when it gave one. Let it escape a queue consumer so the message is retried.
- ``PermanentError``: the same request will fail the same way (other 4xx: a business or validation
  rejection). Retrying is useless; route the work to a human. ``NotFound`` and ``AuthError`` are the two
  cases callers usually tell apart; ``InvalidRecord`` is a record the vendor returned that cannot be mapped
  (e.g. a deal with no company, or an amount with more decimals than its currency has).

Messages carry the method, the path, the status and the vendor's error code, never a body or a token.
``detail`` holds the vendor's own message (truncated) for whoever decides to show it.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector failure."""

    def __init__(self, message: str, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class TransientError(ConnectorError):
    """Retryable: rate limited, vendor unavailable, timed out, connection refused/reset."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, code=code, detail=detail)
        self.status = status
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Not retryable: the vendor rejected the request (4xx other than 408/429), or its answer is unusable.
    ``status`` is the HTTP status, or None when the failure was found before or after the HTTP exchange.
    ``vendor_errors`` holds the vendor's own error entries (HubSpot's ``errors[]``, Salesforce's error array),
    for a connector that needs to tell which fields were refused."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        vendor_errors: tuple[dict[str, object], ...] = (),
    ) -> None:
        super().__init__(message, code=code, detail=detail)
        self.status = status
        self.vendor_errors = vendor_errors


class NotFound(PermanentError):
    """404: the record does not exist (or was deleted)."""


class AuthError(PermanentError):
    """401/403, or the OAuth token endpoint refused the client credentials."""


class UnknownFields(PermanentError):
    """The CRM refused a write because fields/properties it names do not exist there (HubSpot
    ``PROPERTY_DOESNT_EXIST``, Salesforce ``INVALID_FIELD``): a setup step is missing (``o2c setup crm``)."""

    def __init__(
        self, message: str, *, fields: tuple[str, ...], status: int | None = 400, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.fields = fields


class InvalidRecord(PermanentError):
    """The vendor's record cannot become the hub's model (missing company, bad money, bad id ...)."""
