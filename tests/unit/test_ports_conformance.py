"""The vendor clients implement the domain's ports (``shared.order_to_cash.ports``), checked as mypy checks the
factories that hand them out (``make lint``): each client assigned to its port type-checks, and a client that
lost a method the domain calls, or changed one's signature, does not (the check can fail)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from datetime import datetime

from shared.order_to_cash.ports import Billing, Crm, Erp, Payments, Tax
from shared.outbound.avatax import AvaTax
from shared.outbound.hubspot import HubSpotCrm
from shared.outbound.netsuite import NetSuiteErp
from shared.outbound.salesforce import SalesforceCrm
from shared.outbound.stripe_payments import StripePayments
from shared.outbound.stripe_subscriptions import StripeSubscriptions


def conforming(
    erp: NetSuiteErp,
    payments: StripePayments,
    billing: StripeSubscriptions,
    tax: AvaTax,
    hubspot: HubSpotCrm,
    salesforce: SalesforceCrm,
) -> None:
    as_erp: Erp = erp
    as_payments: Payments = payments
    as_billing: Billing = billing
    as_tax: Tax = tax
    as_crm: list[Crm] = [hubspot, salesforce]


class RenamedNetSuite(NetSuiteErp):
    def mark_dunning(self, customer: str, *, dunning: str | None) -> None: ...  # type: ignore[override]


class TasksOnly:  # no deal reads, no payment status
    def create_task(
        self, deal_id: str, *, subject: str, body: str, due: datetime, owner_id: str | None, idempotency_key: str
    ) -> str:
        return subject


def refused(erp: RenamedNetSuite, crm: TasksOnly) -> None:
    as_erp: Erp = erp  # BAD
    as_crm: Crm = crm  # BAD
"""


def test_each_vendor_client_satisfies_its_port_and_one_that_does_not_is_refused(tmp_path: Path) -> None:
    # the project's mypy settings less its package list (which mypy will not combine with a program)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\npython_version = 3.11\nignore_missing_imports = true\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            "--hide-error-context",
            "-c",
            PROGRAM,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    bad_lines = {n for n, line in enumerate(PROGRAM.splitlines(), start=1) if line.endswith("# BAD")}
    reported = {int(m.group(1)) for line in errors if (m := re.match(r"<string>:(\d+):", line))}
    assert reported == bad_lines, run.stdout + run.stderr
    assert all("incompatible types in assignment" in line.lower() for line in errors), run.stdout
