"""Issue 16 item 3: every request each vendor receives for one happy-path deal, one declined card, one refund
and one payout, counted by the vendor sandboxes themselves (each logs every API request it serves, control
calls excluded), against the floor derived by hand in ``bench/README.md`` ("Vendor calls: the floor").

What the scenario's *driver* sends is not the hub's and is taken out: the customer saving a card
(``POST /v1/setup_intents/{id}/confirm``, Stripe.js in the browser) and the refund made in Stripe's dashboard
(``POST /v1/refunds``, and the ``GET /v1/payment_intents/{id}`` with which ``create_refund`` checks a partial
amount's currency). Deals are won and payouts made through the sandboxes' control methods (no API call).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.results import Results
from shared.order_to_cash import erp_ids

if TYPE_CHECKING:
    from localcloud import LocalCloud
    from o2c_cli.targets import Target

VENDORS = ("stripe", "netsuite", "hubspot", "salesforce", "avatax")

#: The fewest requests each vendor can be sent for each scenario, derived in bench/README.md.
FLOOR: dict[str, dict[str, int]] = {
    "deal": {"stripe": 5, "netsuite": 12, "hubspot": 5, "salesforce": 0, "avatax": 2},
    "declined": {"stripe": 5, "netsuite": 5, "hubspot": 4, "salesforce": 0, "avatax": 1},
    "refund": {"stripe": 1, "netsuite": 7, "hubspot": 0, "salesforce": 0, "avatax": 1},
    "payout": {"stripe": 2, "netsuite": 2, "hubspot": 0, "salesforce": 0, "avatax": 0},
}
BUDGET = 1.1

_ID = re.compile(r"/(?=[^/]*\d)[A-Za-z0-9_.:-]{3,}")


def shape(request: str) -> str:
    """``"GET /v1/payment_intents/pi_123"`` → ``"GET /v1/payment_intents/{id}"`` (ids are segments with a
    digit), so a scenario's requests can be listed by endpoint."""
    method, _, path = request.partition(" ")
    return f"{method} {_ID.sub('/{id}', path)}"


class Counts:
    """The requests each sandbox served since the last ``take()``."""

    def __init__(self, sandboxes: dict[str, Any]) -> None:
        self._sandboxes = {v: sandboxes[v] for v in VENDORS if v in sandboxes}
        self._seen = {v: len(s.requests) for v, s in self._sandboxes.items()}

    def take(self, *, driver: tuple[str, ...] = ()) -> dict[str, list[str]]:
        taken: dict[str, list[str]] = {}
        for vendor, sandbox in self._sandboxes.items():
            every = sandbox.requests
            taken[vendor] = [shape(r) for r in every[self._seen[vendor] :]]
            self._seen[vendor] = len(every)
        for request in driver:  # the driver's own calls, once each
            vendor, _, what = request.partition(":")
            taken[vendor].remove(what)
        return taken


def measure(cloud: LocalCloud | None = None, target: Target | None = None) -> dict[str, dict[str, list[str]]]:
    """The four scenarios on ``cloud`` (a cloud of its own when none is given), counted as deltas."""
    if cloud is None or target is None:
        from bench.cloud import deal_cloud

        with deal_cloud("o2c-bench-vendor-") as (own, own_target):
            return measure(own, own_target)

    from o2c_cli import playbook
    from o2c_cli.crm_scenarios import hubspot_deal
    from shared.money import Money
    from shared.outbound.stripe_payments import StripePayments

    scenarios: dict[str, dict[str, list[str]]] = {}
    sandboxes = cloud.sandboxes
    counts = Counts(sandboxes)
    confirm = "stripe:POST /v1/setup_intents/{id}/confirm"

    # a happy-path deal: won in HubSpot, the customer saves a card, the execution runs to Paid
    deal = hubspot_deal(sandboxes["hubspot"])
    sandboxes["hubspot"].win(deal)
    name = f"hubspot-{deal}"
    playbook.save_card(cloud, target, name)
    playbook.wait_until(target, name, status="SUCCEEDED", timeout=180)
    cloud.wait_until_idle(timeout=60)
    scenarios["deal"] = counts.take(driver=(confirm,))
    [intent] = [
        p for p in sandboxes["stripe"].payment_intents() if p["metadata"].get("o2c_opportunity_id") == deal
    ]

    # a declined card: the execution holds the order and waits for a new card
    declined = hubspot_deal(sandboxes["hubspot"], name="Contoso - annual platform")
    sandboxes["hubspot"].win(declined)
    declined_name = f"hubspot-{declined}"
    playbook.save_card(cloud, target, declined_name, "pm_card_chargeCustomerFail")
    playbook.wait_until(target, declined_name, state="WaitForNewPaymentMethod", timeout=180)
    cloud.wait_until_idle(timeout=60)
    scenarios["declined"] = counts.take(driver=(confirm,))

    # a refund made in Stripe's dashboard: booked in the ERP (credit memo + customer refund), tax returned
    assert cloud.res is not None, "the cloud is started"
    key = cloud.res.secret_values["StripeApiKey"]["api_key"]
    dashboard = StripePayments(lambda: key, base_url=sandboxes["stripe"].url)
    refund = dashboard.create_refund(
        payment_intent_id=intent["id"],
        amount=Money.of(10000, "EUR"),
        metadata={},
        idempotency_key="bench-dashboard-refund",
    )
    _wait(lambda: _erp(sandboxes, "customerRefund", erp_ids.customer_refund(refund.id)))
    cloud.wait_until_idle(timeout=60)
    # the dashboard's refund is the driver's: its POST, and the PaymentIntent read that
    # ``create_refund`` makes to check a partial amount's currency
    scenarios["refund"] = counts.take(
        driver=("stripe:GET /v1/payment_intents/{id}", "stripe:POST /v1/refunds")
    )

    # a payout: one deposit in the ERP equal to it
    payout = sandboxes["stripe"].create_payout("eur")
    _wait(lambda: _erp(sandboxes, "deposit", erp_ids.deposit(payout)), timeout=120)
    cloud.wait_until_idle(timeout=60)
    scenarios["payout"] = counts.take()
    return scenarios


def _erp(sandboxes: dict[str, Any], record_type: str, external_id: str) -> bool:
    return any(r.get("externalId") == external_id for r in sandboxes["netsuite"].records(record_type))


def _wait(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("scenario did not complete in time")
        time.sleep(0.2)


def run(results: Results, cloud: LocalCloud | None = None, target: Target | None = None) -> None:
    """On ``cloud`` (with ``target``) when given, else on a cloud of its own."""
    for scenario, by_vendor in measure(cloud, target).items():
        for vendor in VENDORS:
            requests = by_vendor.get(vendor, [])
            floor = FLOOR[scenario][vendor]
            count = len(requests)
            ratio = round(count / floor, 3) if floor else (None if count else 1.0)
            results.budget(
                f"vendor_calls.{scenario}.{vendor}",
                count,
                "requests",
                budget=f"<= {BUDGET} x the floor ({floor})",
                ok=count <= BUDGET * floor,
                floor=floor,
                ratio=ratio,
                endpoints=dict(sorted(Counter(requests).items())),
            )
