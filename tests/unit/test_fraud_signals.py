"""Radar's signals as the hub reads them: which authorizations wait for a person and why, which wait for a
review, what a closed review means, and what an early fraud warning does (task, refund by stage setting,
each once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from infra.statemachine import definition
from shared.events.fraud import EarlyFraudWarningCreated
from shared.order_to_cash.early_fraud import record_early_fraud_warning, refund_on_early_fraud_warning
from shared.order_to_cash.fraud import radar_of_authorization, review_outcome, wallet_label
from shared.order_to_cash.steps import payment_memo
from shared.outbound.stripe_payments import AuthorizationResult


def result(
    level: str | None, review: str | None = None, status: str = "requires_capture"
) -> AuthorizationResult:
    return AuthorizationResult("pi_1", status, risk_level=level, risk_score=83, review_id=review)


@pytest.mark.parametrize(
    ("level", "above", "needs", "reason"),
    [
        ("normal", False, False, None),
        ("normal", True, True, "amount_threshold"),
        ("elevated", False, True, "fraud_risk"),
        ("highest", True, True, "fraud_risk"),
        (None, False, False, None),
    ],
)
def test_a_risky_authorization_needs_approval_whatever_its_amount(
    level: str | None, above: bool, needs: bool, reason: str | None
) -> None:
    out = radar_of_authorization(result(level), authorized=True, above_threshold=above)
    assert (out["needsApproval"], out["approvalReason"], out["fraudRisk"]) == (
        needs,
        reason,
        reason == "fraud_risk",
    )


def test_a_declined_authorization_is_neither_risky_nor_under_review() -> None:
    out = radar_of_authorization(
        result("highest", "prv_1", "requires_payment_method"), authorized=False, above_threshold=False
    )
    assert (out["needsApproval"], out["fraudRisk"], out["underReview"]) == (False, False, False)


def test_only_a_review_closed_approved_lets_the_capture_go_on() -> None:
    assert review_outcome({"reviewId": "prv_1", "closedReason": "approved"})["approved"] is True
    for reason in ("refunded", "refunded_as_fraud", "disputed", "redacted", None):
        assert review_outcome({"reviewId": "prv_1", "closedReason": reason})["approved"] is False


def test_the_erp_memo_names_the_wallet() -> None:
    assert payment_memo("pi_1") == "Stripe pi_1"
    assert payment_memo("pi_1", "google_pay") == "Stripe pi_1 (Google Pay)"
    assert wallet_label("samsung_pay") == "Samsung Pay" and wallet_label(None) is None


def test_the_state_machine_holds_risk_and_reviews_before_the_invoice() -> None:
    states = definition()["States"]
    assert states["ApprovalNeeded"]["Choices"][0]["Next"] == "HoldFraudRisk"
    assert states["HoldFraudRisk"]["Next"] == "WaitForApproval"
    assert states["ApprovalOutcome"]["Choices"][0]["Next"] == "ReviewHold"
    assert states["ApprovalNeeded"]["Default"] == "ReviewHold"
    assert states["ReviewHold"]["Choices"][0]["Next"] == "WaitForReview"
    # approved: to the invoice (InvoiceOnce: a replacement method after a failed debit finds it posted already)
    assert states["ReviewOutcome"]["Choices"][0]["Next"] == "InvoiceOnce"
    assert states["InvoiceOnce"]["Default"] == "CreateInvoice"
    assert states["ReviewOutcome"]["Default"] == "Compensate"


@dataclass
class Crm:
    tasks: list[tuple[str, str]]

    def create_task(self, deal_id: str, *, subject: str, idempotency_key: str, **_: Any) -> str:
        self.tasks.append((deal_id, subject))
        return f"task-{len(self.tasks)}"


class Payments:
    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return {"id": payment_intent_id, "metadata": {"o2c_correlation_id": "hubspot:123"}}


def run_twice(refund: bool, actionable: bool = True) -> tuple[Crm, list[tuple[str, str, str]]]:
    crm, refunds, done = Crm([]), [], {}

    def once(key: str, act: Callable[[], str]) -> str:
        if key not in done:
            done[key] = act()
        return done[key]

    warning = EarlyFraudWarningCreated(
        earlyFraudWarningId="issfr_1",
        chargeId="ch_1",
        paymentIntentId="pi_1",
        fraudType="made_with_stolen_card",
        actionable=actionable,
    )
    for _ in range(2):
        record_early_fraud_warning(
            Payments(),
            lambda system: crm,
            warning,
            once,
            refund=refund,
            request_refund=lambda *args: refunds.append(args),
        )
    return crm, refunds


def test_an_early_fraud_warning_is_one_task_and_by_stage_setting_one_refund() -> None:
    crm, refunds = run_twice(refund=True)
    assert [deal for deal, _ in crm.tasks] == ["123"]
    assert refunds == [("efw-issfr_1", "pi_1", "hubspot:123")]


def test_without_the_stage_setting_or_when_not_actionable_nothing_is_refunded() -> None:
    assert run_twice(refund=False)[1] == []
    crm, refunds = run_twice(refund=True, actionable=False)
    assert refunds == [] and len(crm.tasks) == 1


def test_the_stage_setting_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFUND_ON_EARLY_FRAUD_WARNING", raising=False)
    assert refund_on_early_fraud_warning() is False
    assert refund_on_early_fraud_warning("true") is True
