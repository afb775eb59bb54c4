"""The quote-to-cash state machine (Amazon States Language), built once and used unchanged by the CDK
stack (with DefinitionSubstitutions) and by the embedded local cloud (moto's ASL interpreter).

Failure semantics:
- technical errors (``TransientError``, ``DeadlineExceeded``, Lambda's service errors and throttling, and an
  invocation that died: ``Sandbox.Timedout``, ``Lambda.ClientExecutionTimeoutException``, ``Lambda.Unknown``) are
  retried with exponential backoff and full jitter; if they persist the execution fails *at that step* and can be
  redriven from it;
- business rejections (``BusinessRejection``) are not retried: before an order exists the deal is put on
  hold for a person; after, the saga compensates in reverse order (void the authorization, cancel the ERP
  order) and ends ``Cancelled``; a compensation that still fails ends ``CompensationFailed`` with an
  ``OrderOnHold`` event — never silently;
- every wait for a person or a webhook is a task token stored by the WaitRegistrar under a key naming what
  it waits for, with a timeout from the execution's ``config``.

Placeholders: ``${ErpTasks}``, ``${TaxTasks}``, ``${PaymentTasks}``, ``${CrmTasks}``, ``${WaitRegistrar}``
(function ARNs) and ``${EventBusName}``.
"""

from __future__ import annotations

import json
from typing import Any

from shared.events.envelope import state_machine_entry

SUBSTITUTIONS = ("ErpTasks", "TaxTasks", "PaymentTasks", "CrmTasks", "WaitRegistrar", "EventBusName")

#: Lambda's service errors as Step Functions names them for a Lambda task (AWS's "handle transient Lambda
#: service exceptions" list, and throttling).
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
#: The invocation itself died: its function timeout struck (``Sandbox.Timedout``), the call to Lambda timed
#: out, or Lambda could not say (``Lambda.Unknown``, e.g. out of memory). Every task is idempotent (external ids,
#: idempotency keys), so running it again is safe; fewer attempts, as each may have used a whole timeout.
INVOCATION_DIED_ERRORS = ["Sandbox.Timedout", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown"]
TECHNICAL_RETRY = [
    {
        # DeadlineExceeded: the step stopped its vendor calls before its function timeout (transient)
        "ErrorEquals": ["TransientError", "DeadlineExceeded", *LAMBDA_SERVICE_ERRORS],
        "IntervalSeconds": 2,
        "MaxAttempts": 6,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL",
    },
    {
        "ErrorEquals": INVOCATION_DIED_ERRORS,
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    },
]
PUBLISH_RETRY = [
    {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 1,
        "MaxAttempts": 5,
        "BackoffRate": 2.0,
        "JitterStrategy": "FULL",
    }
]


def _task(
    fn: str,
    action: str,
    params: dict[str, Any],
    result_path: str | None,
    next_state: str,
    *,
    on_rejection: str | None = None,
    retry: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "${" + fn + "}",
        "Parameters": {
            "action": action,
            "correlationId.$": "$.correlationId",
            "execution.$": "$$.Execution.Name",
            "opportunity.$": "$.opportunity",
            **params,
        },
        "ResultPath": result_path,
        "Retry": retry if retry is not None else TECHNICAL_RETRY,
        "Next": next_state,
    }
    if on_rejection:
        state["Catch"] = [
            {"ErrorEquals": ["BusinessRejection"], "ResultPath": "$.error", "Next": on_rejection}
        ]
    return state


def _wait(
    state_name: str, key: str, timeout_path: str, result_path: str, next_state: str, on_timeout: str
) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": "${WaitRegistrar}",
            "Payload": {
                "key.$": key,
                "token.$": "$$.Task.Token",
                "execution.$": "$$.Execution.Name",
                "state": state_name,
                "correlationId.$": "$.correlationId",
            },
        },
        "TimeoutSecondsPath": timeout_path,
        "ResultPath": result_path,
        "Retry": TECHNICAL_RETRY,
        "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": on_timeout}],
        "Next": next_state,
    }


def _publish(source: str, detail_type: str, data: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    entry = state_machine_entry(
        source=source,
        detail_type=detail_type,
        data={"opportunityId.$": "$.opportunity.opportunityId", **data},
        bus_name="${EventBusName}",
    )
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {"Entries": [entry]},
        "ResultPath": None,
        "Retry": PUBLISH_RETRY,
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def _orchestration(detail_type: str, data: dict[str, Any], next_state: str) -> dict[str, Any]:
    return _publish(
        "o2c.orchestration", detail_type, {"executionName.$": "$$.Execution.Name", **data}, next_state
    )


def _flag(path: str, next_state: str) -> dict[str, Any]:
    """A Choice rule: ``path`` is present and true (absent in an execution started before it existed)."""
    return {
        "And": [
            {"Variable": path, "IsPresent": True},
            {"Variable": path, "BooleanEquals": True},
        ],
        "Next": next_state,
    }


def _when(variable: str, next_state: str, **test: Any) -> dict[str, Any]:
    """A Choice rule: ``variable`` passes one comparison (``BooleanEquals=True``, ``IsPresent=True``,
    ``StringEquals="api"`` ...), then ``next_state``."""
    return {"Variable": variable, **test, "Next": next_state}


def _choice(default: str, *rules: dict[str, Any]) -> dict[str, Any]:
    """A Choice state: the first of ``rules`` that holds names the next state, else ``default``."""
    return {"Type": "Choice", "Choices": list(rules), "Default": default}


def _hold(reason: str, next_state: str, **data: Any) -> dict[str, Any]:
    return _orchestration("OrderOnHold", {"reason": reason, **data}, next_state)


def definition() -> dict[str, Any]:
    customer = {"customer.$": "$.customer"}
    order = {"order.$": "$.order"}
    states: dict[str, Any] = {
        # 2. completeness
        "ValidateAccount": _choice(
            "HoldIncompleteAccount", _when("$.opportunity.complete", "EnsureErpCustomer", BooleanEquals=True)
        ),
        "HoldIncompleteAccount": _hold(
            "incomplete_account", "WaitForAccountFix", **{"missingFields.$": "$.opportunity.missingFields"}
        ),
        "WaitForAccountFix": _wait(
            "WaitForAccountFix",
            "States.Format('hold:{}:{}', $$.Execution.Name, $$.State.EnteredTime)",
            "$.config.holdTimeoutSeconds",
            "$.holdRelease",
            "RecheckOpportunity",
            "AccountNeverCompleted",
        ),
        "RecheckOpportunity": _task("CrmTasks", "recheck", {}, "$.opportunity", "StillWonInCrm"),
        # the CRM decides, as at ingress: a deal moved out of closed-won while held is not booked
        "StillWonInCrm": _choice(
            "DealNoLongerWon", _when("$.opportunity.wonInCrm", "ValidateAccount", BooleanEquals=True)
        ),
        "DealNoLongerWon": _orchestration("OrderCancelled", {"reason": "deal_no_longer_won"}, "Cancelled"),
        "AccountNeverCompleted": _orchestration(
            "OrderCancelled", {"reason": "account_never_completed"}, "Cancelled"
        ),
        # 3-5. ERP customer, tax, sales order
        "EnsureErpCustomer": _task(
            "ErpTasks",
            "ensure_customer",
            {},
            "$.customer",
            "PublishCustomerSynced",
            on_rejection="HoldRejected",
        ),
        "PublishCustomerSynced": _orchestration(
            "CustomerSynced",
            {
                "erpCustomerId.$": "$.customer.erpCustomerId",
                "subsidiaryId.$": "$.customer.subsidiaryId",
                "accountId.$": "$.opportunity.accountId",
            },
            "CalculateTax",
        ),
        "CalculateTax": _task(
            "TaxTasks", "calculate", customer, "$.tax", "CreateSalesOrder", on_rejection="HoldRejected"
        ),
        "CreateSalesOrder": _task(
            "ErpTasks",
            "create_order",
            {**customer, "tax.$": "$.tax"},
            "$.order",
            "PublishOrderCreated",
            on_rejection="HoldRejected",
        ),
        "PublishOrderCreated": _orchestration(
            "OrderCreated",
            {
                "erpOrderId.$": "$.order.erpOrderId",
                "documentNumber.$": "$.order.documentNumber",
                "erpCustomerId.$": "$.customer.erpCustomerId",
                "total.$": "$.order.total",
                "tax.$": "$.order.tax",
                "rounding.$": "$.order.rounding",
            },
            "PreparePayment",
        ),
        # 6. payment method
        "PreparePayment": _task(
            "PaymentTasks",
            "prepare",
            {**customer, **order, "attempt": 1},
            "$.payment",
            "WaitForPaymentMethod",
            on_rejection="Compensate",
        ),
        "WaitForPaymentMethod": _wait(
            "WaitForPaymentMethod",
            "States.Format('setup:{}', $.payment.setupIntentId)",
            "$.config.paymentMethodTimeoutSeconds",
            "$.method",
            "DescribePaymentMethod",
            "Compensate",
        ),
        # 7. authorization, decline → hold → new payment method
        "AuthorizePayment": _task(
            "PaymentTasks",
            "authorize",
            {**customer, **order, "payment.$": "$.payment", "method.$": "$.method"},
            "$.authorization",
            "AuthorizationOutcome",
            on_rejection="Compensate",
        ),
        "AuthorizationOutcome": _choice(
            "HoldDeclined", _when("$.authorization.authorized", "ApprovalNeeded", BooleanEquals=True)
        ),
        "HoldDeclined": _hold(
            "payment_declined",
            "PrepareNewPaymentMethod",
            **{
                "declineCode.$": "$.authorization.declineCode",
                "erpOrderId.$": "$.order.erpOrderId",
                "paymentIntentId.$": "$.authorization.paymentIntentId",
            },
        ),
        "PrepareNewPaymentMethod": _task(
            "PaymentTasks",
            "prepare",
            {
                **customer,
                **order,
                "attempt.$": "States.MathAdd($.payment.attempt, 1)",
                # the Stripe customer the first attempt found or made: no second search
                "paymentCustomerId.$": "$.payment.paymentCustomerId",
            },
            "$.payment",
            "WaitForNewPaymentMethod",
            on_rejection="Compensate",
        ),
        "WaitForNewPaymentMethod": _wait(
            "WaitForNewPaymentMethod",
            "States.Format('setup:{}', $.payment.setupIntentId)",
            "$.config.declineHoldTimeoutSeconds",
            "$.method",
            "DescribePaymentMethod",
            "Compensate",
        ),
        # 8. approval: above the amount threshold, or rated risky by Stripe Radar (shared.order_to_cash.fraud)
        "ApprovalNeeded": _choice(
            "ReviewHold",
            _flag("$.authorization.fraudRisk", "HoldFraudRisk"),
            _when("$.authorization.needsApproval", "WaitForApproval", BooleanEquals=True),
        ),
        "HoldFraudRisk": _hold(
            "fraud_risk",
            "WaitForApproval",
            **{
                "riskLevel.$": "$.authorization.riskLevel",
                "riskScore.$": "$.authorization.riskScore",
                "erpOrderId.$": "$.order.erpOrderId",
                "paymentIntentId.$": "$.authorization.paymentIntentId",
            },
        ),
        "WaitForApproval": _wait(
            "WaitForApproval",
            "States.Format('approval:{}', $$.Execution.Name)",
            "$.config.approvalTimeoutSeconds",
            "$.approval",
            "ApprovalOutcome",
            "Compensate",
        ),
        "ApprovalOutcome": _choice(
            "Compensate", _when("$.approval.approved", "ReviewHold", BooleanEquals=True)
        ),
        # 8b. a Radar review of the payment holds the invoice and the capture until Stripe closes it approved;
        # closed any other way (refunded, refunded_as_fraud, disputed ...) the order is compensated
        # (by default on to InvoiceOnce: a replacement method for a failed bank debit pays the invoice already posted)
        "ReviewHold": _choice("InvoiceOnce", _flag("$.authorization.underReview", "WaitForReview")),
        "WaitForReview": _wait(
            "WaitForReview",
            "States.Format('review:{}', $.authorization.reviewId)",
            "$.config.approvalTimeoutSeconds",
            "$.review",
            "ReviewOutcome",
            "Compensate",
        ),
        "ReviewOutcome": _choice("Compensate", _when("$.review.approved", "InvoiceOnce", BooleanEquals=True)),
        # 9. invoice
        "CreateInvoice": _task(
            "ErpTasks",
            "create_invoice",
            order,
            "$.invoice",
            "RecordSale",
            on_rejection="Compensate",
        ),
        # the tax engine records the invoiced sale (with the invoiced tax): what it reports as owed
        "RecordSale": _task(
            "TaxTasks",
            "record_sale",
            {**customer, "invoice.$": "$.invoice"},
            "$.taxRecord",
            "PublishInvoicePosted",
            on_rejection="HoldAfterInvoice",
        ),
        "PublishInvoicePosted": _publish(
            "o2c.erp",
            "InvoicePosted",
            {
                "erpInvoiceId.$": "$.invoice.erpInvoiceId",
                "erpOrderId.$": "$.order.erpOrderId",
                "documentNumber.$": "$.invoice.documentNumber",
                "erpCustomerId.$": "$.customer.erpCustomerId",
                "subsidiaryId.$": "$.customer.subsidiaryId",
                "amount.$": "$.order.total",
            },
            "SettleByMethod",
        ),
        # 10. capture, confirmed by the payment_intent.succeeded webhook; payment applied; order activated
        "CapturePayment": _task(
            "PaymentTasks",
            "capture",
            {"authorization.$": "$.authorization"},
            "$.capture",
            "WaitForCaptureConfirmation",
            on_rejection="HoldAfterInvoice",
        ),
        "WaitForCaptureConfirmation": _wait(
            "WaitForCaptureConfirmation",
            "States.Format('capture:{}', $.authorization.paymentIntentId)",
            "$.config.captureConfirmationTimeoutSeconds",
            "$.captureConfirmation",
            "LeaveDunning",
            "HoldAfterInvoice",
        ),
        "ApplyPayment": _task(
            "ErpTasks",
            "apply_payment",
            {
                **customer,
                **order,
                "invoice.$": "$.invoice",
                "authorization.$": "$.authorization",
                # what the time-to-cash figures are measured from (shared.operations.emit.deal_paid)
                "startedAt.$": "$$.Execution.StartTime",
                "method.$": "$.method",
                "captureConfirmation.$": "$.captureConfirmation",
            },
            "$.erpPayment",
            "PublishInvoicePaid",
            on_rejection="HoldAfterInvoice",
        ),
        "PublishInvoicePaid": _orchestration(
            "InvoicePaid",
            {
                "erpInvoiceId.$": "$.invoice.erpInvoiceId",
                "erpPaymentId.$": "$.erpPayment.erpPaymentId",
                "paymentIntentId.$": "$.authorization.paymentIntentId",
                "chargeId.$": "$.captureConfirmation.chargeId",
                "amount.$": "$.order.total",
            },
            "ActivateOrder",
        ),
        "ActivateOrder": _task(
            "ErpTasks",
            "activate_order",
            order,
            "$.activation",
            "HasSubscription",
            on_rejection="HoldAfterInvoice",
        ),
        # a subscription deal (recurring CRM lines; shared.order_to_cash.subscriptions): once the order (services and the
        # first period) is paid and released, its one Stripe subscription bills the following periods
        "HasSubscription": _choice(
            "PublishOrderActivated", _when("$.order.recurring", "CreateSubscription", IsPresent=True)
        ),
        "CreateSubscription": _task(
            "PaymentTasks",
            "subscribe",
            {**customer, **order, "payment.$": "$.payment", "method.$": "$.method"},
            "$.subscription",
            "PublishSubscriptionCreated",
            on_rejection="HoldAfterInvoice",
        ),
        "PublishSubscriptionCreated": _orchestration(
            "SubscriptionCreated",
            {
                "erpOrderId.$": "$.order.erpOrderId",
                "subscriptionId.$": "$.subscription.subscriptionId",
                "interval.$": "$.subscription.interval",
                "intervalCount.$": "$.subscription.intervalCount",
                "contractStart.$": "$.subscription.contractStart",
                "billingStartsAt.$": "$.subscription.billingStartsAt",
            },
            "PublishOrderActivated",
        ),
        "PublishOrderActivated": _orchestration(
            "OrderActivated",
            {"erpOrderId.$": "$.order.erpOrderId", "erpInvoiceId.$": "$.invoice.erpInvoiceId"},
            "FromCrm",
        ),
        # an order submitted through POST /v1/orders has no CRM deal to write back to
        "FromCrm": _choice("CrmWriteBack", _when("$.opportunity.crmSystem", "Paid", StringEquals="api")),
        # 11. CRM write-back. A refusal does not undo money that moved, but it is never a silent success: the
        # order goes on hold (the reason names the fields the CRM lacks) and the execution needs attention.
        "CrmWriteBack": _task(
            "CrmTasks",
            "write_back",
            {
                **order,
                "invoice.$": "$.invoice",
                "paymentStatus": "paid",
                "wallet.$": "$.authorization.wallet",
            },
            "$.crm",
            "CrmWriteBackOutcome",
            on_rejection="HoldCrmWriteBackFailed",
        ),
        "CrmWriteBackOutcome": _choice(
            "HoldCrmWriteBackRefused", _when("$.crm.crmUpdated", "Paid", BooleanEquals=True)
        ),
        "HoldCrmWriteBackRefused": _orchestration(
            "OrderOnHold",
            {
                "reason.$": "$.crm.reason",
                "missingFields.$": "$.crm.missingFields",
                "erpOrderId.$": "$.order.erpOrderId",
            },
            "NeedsAttention",
        ),
        "HoldCrmWriteBackFailed": _hold(
            "crm_write_back_refused", "NeedsAttention", **{"erpOrderId.$": "$.order.erpOrderId"}
        ),
        **debit_states(),
        "Paid": {"Type": "Succeed"},
        # business rejection before anything was booked: a person decides
        "HoldRejected": _hold("business_rejection", "Rejected"),
        "Rejected": {
            "Type": "Fail",
            "Error": "O2C.Rejected",
            "Cause": "the ERP or tax engine refused the deal; see OrderOnHold",
        },
        # after the invoice exists, cancelling is not enough (a credit memo is a person's call)
        "HoldAfterInvoice": _hold(
            "needs_attention_after_invoice", "NeedsAttention", **{"erpOrderId.$": "$.order.erpOrderId"}
        ),
        "NeedsAttention": {
            "Type": "Fail",
            "Error": "O2C.NeedsAttention",
            "Cause": "invoiced but not settled, or paid but not written back to the CRM; see OrderOnHold",
        },
        # compensation, in reverse order of the bookings
        # Compensation undoes what was booked before an invoice. Once the invoice is posted (a card declined
        # after a failed bank debit and no new method in time, a step refused) the customer owes it: the order
        # is held for a person, never voided nor closed under its invoice.
        "Compensate": _choice(
            "CancelErpOrder",
            _when("$.invoice.erpInvoiceId", "HoldAfterInvoice", IsPresent=True),
            _when("$.authorization.paymentIntentId", "VoidAuthorization", IsPresent=True),
        ),
        "VoidAuthorization": {
            **_task(
                "PaymentTasks", "void", {"authorization.$": "$.authorization"}, "$.voided", "CancelErpOrder"
            ),
            "Parameters": {
                "action": "void",
                "correlationId.$": "$.correlationId",
                "execution.$": "$$.Execution.Name",
                "opportunity.$": "$.opportunity",
                "authorization.$": "$.authorization",
            },
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.compensationError",
                    "Next": "HoldCompensationFailed",
                }
            ],
        },
        "CancelErpOrder": {
            **_task("ErpTasks", "cancel_order", order, "$.cancelled", "PublishOrderCancelled"),
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.compensationError",
                    "Next": "HoldCompensationFailed",
                }
            ],
        },
        "PublishOrderCancelled": _orchestration(
            "OrderCancelled", {"reason": "compensated", "erpOrderId.$": "$.order.erpOrderId"}, "Cancelled"
        ),
        "Cancelled": {
            "Type": "Fail",
            "Error": "O2C.Cancelled",
            "Cause": "the order was cancelled; see OrderCancelled",
        },
        "HoldCompensationFailed": _hold(
            "compensation_failed", "CompensationFailed", **{"erpOrderId.$": "$.order.erpOrderId"}
        ),
        "CompensationFailed": {
            "Type": "Fail",
            "Error": "O2C.CompensationFailed",
            "Cause": "a compensation kept failing; a person must finish it (see OrderOnHold)",
        },
    }
    return {
        "Comment": "O2C Hub quote-to-cash: won deal → ERP customer, tax, order → payment method → authorization "
        "(→ approval; → Radar review) → invoice (and its sale recorded in the tax engine) → capture → payment applied → order activated → CRM write-back; "
        "a bank debit: (→ approval) → invoice → debit → its outcome days later (failed: dunning, hold, another method)",
        "StartAt": "ValidateAccount",
        "TimeoutSeconds": 366 * 24 * 3600,
        "States": states,
    }


def debit_states() -> dict[str, Any]:
    """Bank debits (SEPA Direct Debit, ACH Direct Debit). A debit cannot be authorized and held like a card
    (Stripe refuses manual capture for it), and its outcome comes days after it is submitted, so the order
    takes another path: the method is saved with its mandate → (approval above the threshold, as for a
    card) → invoice → the debit is submitted (``processing``) → its outcome. Succeeded: the payment is
    applied and the order activated as for a card. Failed after processing (the bank refused it: no funds,
    account closed): the invoice is already posted, so nothing is cancelled; the customer goes to dunning
    in the ERP (the invoice stays open), the order is on hold with the bank's reason, the deal's payment
    status in the CRM says so, and the customer is asked for another method (a new SetupIntent, as after a
    card decline); a method saved in time pays the open invoice, a timeout leaves it to a person.

    Invoicing before the money is in is what an accounts-receivable team does with direct debit (the
    invoice is what the debit pays, and what dunning chases if it fails); revenue is not at risk because
    the order is only activated once the debit succeeded."""
    customer = {"customer.$": "$.customer"}
    order = {"order.$": "$.order"}
    return {
        "DescribePaymentMethod": _task(
            "PaymentTasks",
            "describe_method",
            {**order, "method.$": "$.method"},
            "$.methodKind",
            "PaymentMethodKind",
            on_rejection="Compensate",  # which holds instead once the invoice is posted
        ),
        "PaymentMethodKind": _choice(
            "AuthorizePayment",
            {
                "And": [
                    {"Variable": "$.methodKind.debit", "BooleanEquals": True},
                    {"Variable": "$.methodKind.needsApproval", "BooleanEquals": True},
                ],
                "Next": "WaitForApproval",
            },
            _when("$.methodKind.debit", "InvoiceOnce", BooleanEquals=True),
        ),
        "InvoiceOnce": _choice(
            "CreateInvoice", _when("$.invoice.erpInvoiceId", "SettleByMethod", IsPresent=True)
        ),
        "SettleByMethod": _choice("CapturePayment", _flag("$.methodKind.debit", "ChargeDebit")),
        "ChargeDebit": _task(
            "PaymentTasks",
            "debit",
            {
                **customer,
                **order,
                "invoice.$": "$.invoice",
                "payment.$": "$.payment",
                "method.$": "$.method",
                "methodKind.$": "$.methodKind",
            },
            # the debit's PaymentIntent is what the payment applied in the ERP refers to, as a card's is
            "$.authorization",
            "DebitSubmitted",
            on_rejection="HoldAfterInvoice",
        ),
        "DebitSubmitted": _choice(
            "DebitRefused",
            _when("$.authorization.status", "WaitForDebitOutcome", StringEquals="processing"),
            _when("$.authorization.status", "WaitForDebitOutcome", StringEquals="succeeded"),
        ),
        # refused at once (no outcome will come): the same treatment as a failure after processing
        "DebitRefused": {
            "Type": "Pass",
            "Parameters": {"succeeded": False, "failureCode.$": "$.authorization.declineCode"},
            "ResultPath": "$.captureConfirmation",
            "Next": "StartDebitDunning",
        },
        # the payment_intent.succeeded or .payment_failed webhook, days later (PaymentSignals)
        "WaitForDebitOutcome": _wait(
            "WaitForDebitOutcome",
            "States.Format('capture:{}', $.authorization.paymentIntentId)",
            "$.config.debitOutcomeTimeoutSeconds",
            "$.captureConfirmation",
            "DebitOutcome",
            "HoldAfterInvoice",
        ),
        "DebitOutcome": _choice(
            "LeaveDunning", _when("$.captureConfirmation.succeeded", "StartDebitDunning", BooleanEquals=False)
        ),
        "StartDebitDunning": _task(
            "ErpTasks",
            "debit_dunning",
            customer,
            "$.dunning",
            "HoldDebitFailed",
            on_rejection="HoldAfterInvoice",
        ),
        "HoldDebitFailed": _hold(
            "debit_failed",
            "DebitFailedFromCrm",
            **{
                "declineCode.$": "$.captureConfirmation.failureCode",
                "erpOrderId.$": "$.order.erpOrderId",
                "paymentIntentId.$": "$.authorization.paymentIntentId",
            },
        ),
        "DebitFailedFromCrm": _choice(
            "CrmDebitFailed", _when("$.opportunity.crmSystem", "PrepareMethodAfterDebit", StringEquals="api")
        ),
        # the deal's payment status in the CRM: the account owner sees the debit bounced
        "CrmDebitFailed": {
            **_task(
                "CrmTasks",
                "write_back",
                {**order, "invoice.$": "$.invoice", "paymentStatus": "debit_failed"},
                "$.crm",
                "PrepareMethodAfterDebit",
            ),
            # a CRM that refuses the status does not stop asking the customer for another method
            "Catch": [
                {
                    "ErrorEquals": ["BusinessRejection"],
                    "ResultPath": "$.error",
                    "Next": "PrepareMethodAfterDebit",
                }
            ],
        },
        "PrepareMethodAfterDebit": _task(
            "PaymentTasks",
            "prepare",
            {
                **customer,
                **order,
                "attempt.$": "States.MathAdd($.payment.attempt, 1)",
                "paymentCustomerId.$": "$.payment.paymentCustomerId",
            },
            "$.payment",
            "WaitForMethodAfterDebit",
            on_rejection="HoldAfterInvoice",
        ),
        # the invoice is posted: a customer who never comes back is a person's call (credit memo,
        # collections), not a compensation
        "WaitForMethodAfterDebit": _wait(
            "WaitForMethodAfterDebit",
            "States.Format('setup:{}', $.payment.setupIntentId)",
            "$.config.declineHoldTimeoutSeconds",
            "$.method",
            "DescribePaymentMethod",
            "HoldAfterInvoice",
        ),
        "LeaveDunning": _choice("ApplyPayment", _when("$.dunning", "ClearDunning", IsPresent=True)),
        "ClearDunning": _task("ErpTasks", "leave_dunning", customer, "$.dunning", "ApplyPayment"),
    }


def render(substitutions: dict[str, str] | None = None) -> str:
    """The definition as JSON; with ``substitutions`` the ``${...}`` placeholders are filled (local cloud)."""
    text = json.dumps(definition(), indent=2)
    for key, value in (substitutions or {}).items():
        text = text.replace("${" + key + "}", value)
    return text
