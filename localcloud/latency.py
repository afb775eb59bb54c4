"""How long the local vendor sandboxes take to answer: latency profiles.

A sandbox answers in microseconds unless told otherwise, and a hub tested against instant vendors never sees
its time budgets run out. A profile gives each vendor a range; every API request of that sandbox waits a
uniformly random time in it (``Sandbox.set_latency``; NetSuite waits inside its concurrency window).

- ``off`` (the default): no added latency, so the test suite stays fast;
- ``realistic``: what the vendors' APIs usually take — NetSuite 300-1500 ms (REST record API, one record),
  Stripe 100-400 ms, HubSpot 100-400 ms, Salesforce 100-500 ms, AvaTax 100-300 ms;
- a list of ``vendor=low-high`` in seconds (``netsuite=1.2-1.5,stripe=0.1-0.4``; ``netsuite=1.5`` for a fixed
  time), alone or after a profile name (``realistic,netsuite=1.5``).

``LocalCloud(sandbox_latency=...)`` takes a spec or a mapping; ``o2c local up`` reads ``O2C_SANDBOX_LATENCY``.
"""

from __future__ import annotations

from collections.abc import Mapping

ENV_VAR = "O2C_SANDBOX_LATENCY"

Range = tuple[float, float]

PROFILES: dict[str, dict[str, Range]] = {
    "off": {},
    "realistic": {
        "netsuite": (0.3, 1.5),
        "stripe": (0.1, 0.4),
        "hubspot": (0.1, 0.4),
        "salesforce": (0.1, 0.5),
        "avatax": (0.1, 0.3),
    },
}
VENDORS = frozenset(PROFILES["realistic"])


def parse(spec: str | Mapping[str, Range | float] | None) -> dict[str, Range]:
    """A latency spec (see the module docstring) as vendor → (min_s, max_s); ``ValueError`` if malformed."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {vendor: _range(vendor, value) for vendor, value in spec.items()}
    ranges: dict[str, Range] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "=" not in part:
            if part not in PROFILES:
                raise ValueError(f"unknown latency profile {part!r}; known: {sorted(PROFILES)}")
            ranges.update(PROFILES[part])
            continue
        vendor, _, value = (x.strip() for x in part.partition("="))
        low, sep, high = value.partition("-")
        try:
            bounds = (float(low), float(high)) if sep else float(low)
        except ValueError:
            raise ValueError(f"latency {part!r}: give seconds as low-high, e.g. netsuite=0.3-1.5") from None
        ranges[vendor] = _range(vendor, bounds)
    return ranges


def _range(vendor: str, value: Range | float) -> Range:
    if vendor not in VENDORS:
        raise ValueError(f"unknown sandbox {vendor!r} in the latency spec; known: {sorted(VENDORS)}")
    low, high = (float(value), float(value)) if isinstance(value, int | float) else map(float, value)
    if low < 0 or high < low:
        raise ValueError(f"latency of {vendor}: need 0 <= low <= high, got {low}-{high}")
    return (low, high)


def describe(ranges: Mapping[str, Range]) -> str:
    """``netsuite 0.3-1.5 s, stripe 0.1-0.4 s`` (or ``off``)."""
    if not ranges:
        return "off"
    return ", ".join(
        f"{v} {lo:g}-{hi:g} s" if lo != hi else f"{v} {lo:g} s" for v, (lo, hi) in ranges.items()
    )
