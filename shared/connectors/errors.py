"""The vendor error taxonomy, where the connectors and their callers have always imported it from. It lives in
``shared.errors`` (below the connectors: ``shared.config`` raises ``TransientError`` too, and importing it from
here made ``shared.config`` and ``shared.connectors`` import each other)."""

from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
    UnknownFields,
)

__all__ = [
    "AuthError",
    "ConnectorError",
    "InvalidRecord",
    "NotFound",
    "PermanentError",
    "TransientError",
    "UnknownFields",
]
