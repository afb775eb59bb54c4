"""Stripe's dispute list (``GET /v1/disputes``), as the OperationsSweep reads it for the open disputes and
their evidence due dates: newest first, from a creation date, every page followed."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from localcloud.sandboxes.stripe import StripeSandbox
from shared.operations.figures import dispute_figures
from shared.outbound.stripe_payments import StripePayments
from tests.connectors.conftest import STRIPE_API_KEY
from tests.connectors.test_stripe_after_sale import captured, charge_of


def get(sandbox: StripeSandbox, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{sandbox.url}{path}", headers={"Authorization": f"Bearer {STRIPE_API_KEY}"}
    )
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            request, timeout=5
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_disputes_are_listed_newest_first_from_a_date(stripe: StripePayments, sandbox: StripeSandbox) -> None:
    # Given three disputed payments, the last one won already
    disputes = [
        sandbox.open_dispute(charge_of(sandbox, captured(stripe, sandbox, 1000 + i))) for i in range(3)
    ]
    sandbox.close_dispute(disputes[2], "won")
    created = {d["id"]: d["created"] for d in sandbox.disputes()}

    # When the hub lists them by pages of two
    listed = list(stripe.list_disputes(created_since=min(created.values()), page_size=2))

    # Then it gets every one, newest first, as Stripe's dispute objects
    assert [d["id"] for d in listed] == list(reversed(disputes))
    assert all(d["object"] == "dispute" and "due_by" in d["evidence_details"] for d in listed)
    figures = dispute_figures(listed, now=max(created.values()))
    assert (figures.open, figures.evidence_needed, figures.evidence_due_soon) == (2, 2, 0)
    # and nothing created before the date asked for
    assert list(stripe.list_disputes(created_since=max(created.values()) + 1)) == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("created[after]=1", "created[after]"),
        ("status=won", "status"),
        ("starting_after=dp_nope", "starting_after"),
    ],
)
def test_the_dispute_list_refuses_what_it_does_not_serve(
    sandbox: StripeSandbox, query: str, param: str
) -> None:
    status, body = get(sandbox, f"/v1/disputes?{query}")
    assert status in (400, 404) and body["error"]["param"] == param, body
