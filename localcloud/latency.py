"""How long the local vendor sandboxes take to answer: latency profiles.

A sandbox answers in microseconds unless told otherwise, and a hub tested against instant vendors never sees
its time budgets run out. A profile gives each vendor a range; every API request of that sandbox waits a
uniformly random time in it (``Sandbox.set_latency``; NetSuite waits inside its concurrency window).

- ``off`` (the default): no added latency, so the test suite stays fast;
- ``realistic``: what the vendors' APIs usually take — NetSuite 300-1500 ms (REST record API, one record),
  Stripe 100-400 ms, HubSpot 100-400 ms, Salesforce 100-500 ms, AvaTax 100-300 ms;
- a list of ``vendor=low-high`` in seconds (``netsuite=1.2-1.5,stripe=0.1-0.4``; ``netsuite=1.5`` for a fixed
  time), alone or after a profile name (``realistic,netsuite=1.5``);
- ``vendor=lognormal:MEDIAN[:SIGMA]`` (seconds; sigma of the log, default 0.5): each request waits
  ``MEDIAN * e^(SIGMA·Z)``, Z standard normal — a service's response times have a long right tail, which a
  uniform range has not (``netsuite=lognormal:0.8:0.5``: half the requests under 0.8 s, 5 % over 1.8 s).

``LocalCloud(sandbox_latency=...)`` takes a spec or a mapping; ``o2c local up`` reads ``O2C_SANDBOX_LATENCY``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_VAR = "O2C_SANDBOX_LATENCY"

Range = tuple[float, float]


@dataclass(frozen=True)
class Lognormal:
    """Every request waits ``median_s * e^(sigma·Z)``, Z standard normal (its mean is
    ``median_s * e^(sigma²/2)``)."""

    median_s: float
    sigma: float = 0.5

    def __post_init__(self) -> None:
        if not (self.median_s > 0 and self.sigma >= 0 and math.isfinite(self.median_s * self.sigma)):
            raise ValueError(f"lognormal latency needs median > 0 and sigma >= 0, got {self}")

    @property
    def mean_s(self) -> float:
        return self.median_s * math.exp(self.sigma**2 / 2)


#: What a vendor's requests take: a uniform range (min_s, max_s) or a lognormal distribution.
Latency = Range | Lognormal

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


def parse(spec: str | Mapping[str, Latency | float] | None) -> dict[str, Latency]:
    """A latency spec (see the module docstring) as vendor → (min_s, max_s) or ``Lognormal``; ``ValueError`` if
    malformed."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {vendor: _latency(vendor, value) for vendor, value in spec.items()}
    ranges: dict[str, Latency] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "=" not in part:
            if part not in PROFILES:
                raise ValueError(f"unknown latency profile {part!r}; known: {sorted(PROFILES)}")
            ranges.update(PROFILES[part])
            continue
        vendor, _, value = (x.strip() for x in part.partition("="))
        if value.startswith("lognormal:"):
            ranges[vendor] = _latency(vendor, _lognormal(part, value.removeprefix("lognormal:")))
            continue
        low, sep, high = value.partition("-")
        try:
            bounds = (float(low), float(high)) if sep else float(low)
        except ValueError:
            raise ValueError(f"latency {part!r}: give seconds as low-high, e.g. netsuite=0.3-1.5") from None
        ranges[vendor] = _latency(vendor, bounds)
    return ranges


def _lognormal(part: str, value: str) -> Lognormal:
    median, _, sigma = value.partition(":")
    try:
        return Lognormal(float(median), float(sigma) if sigma else 0.5)
    except ValueError:
        raise ValueError(
            f"latency {part!r}: give lognormal:MEDIAN[:SIGMA] in seconds, e.g. netsuite=lognormal:0.8:0.5"
        ) from None


def _latency(vendor: str, value: Latency | float) -> Latency:
    if vendor not in VENDORS:
        raise ValueError(f"unknown sandbox {vendor!r} in the latency spec; known: {sorted(VENDORS)}")
    if isinstance(value, Lognormal):
        return value
    low, high = (float(value), float(value)) if isinstance(value, int | float) else map(float, value)
    if low < 0 or high < low:
        raise ValueError(f"latency of {vendor}: need 0 <= low <= high, got {low}-{high}")
    return (low, high)


def apply(sandbox: Any, value: Latency) -> None:
    """Give a sandbox (``localcloud.sandboxes.base.Sandbox``) this latency."""
    if isinstance(value, Lognormal):
        sandbox.set_lognormal_latency(value.median_s, value.sigma)
    else:
        sandbox.set_latency(*value)


def as_json(value: Latency) -> Any:
    """``[min_s, max_s]``, or ``{"lognormal": {"median_s", "sigma"}}`` (``local.json``)."""
    if isinstance(value, Lognormal):
        return {"lognormal": {"median_s": value.median_s, "sigma": value.sigma}}
    return list(value)


def describe(ranges: Mapping[str, Latency]) -> str:
    """``netsuite 0.3-1.5 s, stripe 0.1-0.4 s`` (or ``off``)."""
    if not ranges:
        return "off"
    return ", ".join(f"{v} {_describe(value)}" for v, value in ranges.items())


def _describe(value: Latency) -> str:
    if isinstance(value, Lognormal):
        return f"lognormal median {value.median_s:g} s, sigma {value.sigma:g}"
    low, high = value
    return f"{low:g}-{high:g} s" if low != high else f"{low:g} s"
