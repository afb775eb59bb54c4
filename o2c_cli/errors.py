"""What an operator reads when a command fails: one line (used by ``o2c`` itself and by the console)."""

from __future__ import annotations

ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


def error_line(exc: BaseException) -> str:
    """One line saying what failed, for an operator: AWS's error code and message, the vendor's, or the
    exception's own (never a traceback)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from shared.errors import ConnectorError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "") or "request"
        message = str(error.get("Message") or "").strip()
        if error.get("Code") in ACCESS_DENIED and message:
            return f"access denied: {message}"  # AWS names who may not do what on which resource
        return f"AWS {operation} failed: {error.get('Code', 'Error')}" + (f": {message}" if message else "")
    if isinstance(exc, BotoCoreError):
        return f"AWS: {exc}"
    if isinstance(exc, ConnectorError):
        code = f" ({exc.code})" if exc.code else ""
        return f"vendor error{code}: {exc}"
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if isinstance(exc, OSError | LookupError) else text
