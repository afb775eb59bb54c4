"""Zendesk Support sandbox: the part of the Support API v2 the hub calls, and signed webhooks
(``vendor-specs/zendesk/ZENDESK_FACTS.md``). Imports nothing from the hub's ``shared`` package."""

from localcloud.sandboxes.zendesk.server import ZendeskSandbox, zendesk_signature

__all__ = ["ZendeskSandbox", "zendesk_signature"]
