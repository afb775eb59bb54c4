"""Names an operator sees in the Step Functions console."""

from __future__ import annotations

import re


def execution_name(crm: str, opportunity_id: str) -> str:
    """One execution per deal: ``hubspot-18780747262``, ``salesforce-0065g00000C5URpAAN`` (80 chars max,
    letters, digits, ``-`` and ``_`` only), so redelivered wins map to the same execution."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{crm}-{opportunity_id}")[:80]
