"""Vendor sandboxes for the local cloud and the tests: loopback HTTP servers that serve the part of each
vendor's API the connectors call, hold records in memory, check credentials, fail on demand and send the
vendor's real webhook shapes. Each has a Python API and the same as ``/_sandbox/...`` HTTP control
endpoints, so another process (the demo, a flow test) can drive it.

```python
with HubSpotSandbox(webhook_url=hub + "/webhooks/hubspot", client_secret=..., access_token=...) as hs:
    deal_id = hs.create_deal("Acme", "1234.50", "EUR", company={...}, contacts=[...], line_items=[...])
    status, body = hs.win(deal_id)          # signed deal.propertyChange delivery to the hub
```
"""

from localcloud.sandboxes.base import Sandbox
from localcloud.sandboxes.hubspot import HubSpotSandbox
from localcloud.sandboxes.salesforce import SalesforceSandbox

__all__ = ["HubSpotSandbox", "SalesforceSandbox", "Sandbox"]
