"""Connectors: production adapters for the vendors' REST APIs (HubSpot, Salesforce), on one small JSON
HTTP client. The same code speaks to the real vendor in a deployed stack and to the local sandboxes
(``localcloud.sandboxes``): only the base URL and the credentials differ.

Nothing heavy is imported here: ``urllib3`` is imported on the first request, so a function that never
calls a vendor does not pay for it at cold start.
"""

from shared.errors import (
    AuthError,
    ConnectorError,
    InvalidRecord,
    NotFound,
    PermanentError,
    TransientError,
)

__all__ = ["AuthError", "ConnectorError", "InvalidRecord", "NotFound", "PermanentError", "TransientError"]
