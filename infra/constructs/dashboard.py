"""What finance, revenue operations and the on-call engineer look at: the ``OperationsSweep``'s grants, one
CloudWatch dashboard per stage (the business row first, the technical rows under it) and the SLOs as
composite alarms that page through the stage's alarm topic (``observability.py``).

Built with plain ``aws_cloudwatch``: cdk-monitoring-constructs resolves cleanly with the pinned aws-cdk-lib
but is not a dependency of the project yet (README, *Dashboards and SLOs*).

Each SLO is a composite of two burn-rate alarms over its error budget (the multiwindow method of Google's SRE
workbook, with the long windows only): *fast* (1 h window, budget burning 14.4 times faster than allowed: 2 % of
a 30-day budget in an hour) and *slow* (6 h window, 6 times: 5 % in six hours). Only the composite has an action,
so one bad hour pages once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge
from infra.topology import (
    ERP_TASKS,
    METRICS_NAMESPACE,
    OPERATIONS_SWEEP,
    PAYMENT_TASKS,
    PAYOUT_DEPOSITOR,
    RECONCILER,
)

#: The SLO objectives (fraction of good events) and thresholds.
PAID_WITHIN_S = 3600
PAID_WITHIN_OBJECTIVE = 0.99
WEBHOOK_5XX_OBJECTIVE = 0.999
OLDEST_PENDING_FACT_MAX_S = 86_400
#: Burn-rate windows: (name, window, burn rate).
BURN_WINDOWS: tuple[tuple[str, Duration, float], ...] = (
    ("Fast", Duration.hours(1), 14.4),
    ("Slow", Duration.hours(6), 6.0),
)
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class Slo:
    """An SLO's composite alarm and the alarms it is made of."""

    composite: cloudwatch.CompositeAlarm
    children: tuple[cloudwatch.Alarm, ...]


def business(
    metric: str, service: str, *, statistic: str, label: str, **dimensions: str
) -> cloudwatch.Metric:
    """A business metric (``shared.operations.emit``) as its emitting function writes it."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric,
        dimensions_map={**dimensions, "service": service},
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label,
    )


def search(metric: str, dimensions: Sequence[str], statistic: str, label: str) -> cloudwatch.MathExpression:
    """Every series of a metric split by dimensions whose values are only known at run time (state, reason,
    kind, queue)."""
    keys = ",".join([METRICS_NAMESPACE, *dimensions, "service"])
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{keys}}} MetricName=\"{metric}\"', '{statistic}', 300)",
        using_metrics={},
        label=label,
        period=FIVE_MINUTES,
    )


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        state_machine_name: str,
        api: apigw.RestApi,
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        topic: sns.ITopic,
        fact_waiting_too_long: cloudwatch.Alarm,
    ) -> None:
        super().__init__(scope, construct_id)
        self._grant_sweep(
            functions[OPERATIONS_SWEEP.id], state_machine, state_machine_name, dead_letter_queues
        )
        action = cw_actions.SnsAction(topic)
        self.slos = {
            "DealsPaidWithinAnHour": self._paid_within_an_hour(action),
            "Webhook5xx": self._webhook_5xx(api, action),
            "OldestPendingFact": self._oldest_pending_fact(fact_waiting_too_long, action),
        }
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"o2c-{config.stage}-operations",
            default_interval=Duration.days(1),
        )
        self.dashboard.add_widgets(*self._business_row())
        self.dashboard.add_widgets(*self._slo_row())
        for row in self._technical_rows(functions, state_machine, api, queues, dead_letter_queues):
            self.dashboard.add_widgets(*row)

    # --- the sweep's grants ------------------------------------------------------------------------
    def _grant_sweep(
        self,
        sweep: lambda_.IFunction,
        state_machine: sfn.IStateMachine,
        state_machine_name: str,
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> None:
        stack = Stack.of(self)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        sweep.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:ListExecutions"], resources=[state_machine.state_machine_arn]
            )
        )
        sweep.add_to_role_policy(
            iam.PolicyStatement(actions=["states:GetExecutionHistory"], resources=[executions])
        )
        sweep.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sqs:GetQueueAttributes"],
                resources=[q.queue_arn for q in dead_letter_queues.values()],
            )
        )
        assert isinstance(sweep, lambda_.Function)
        sweep.add_environment("QUOTE_TO_CASH_STATE_MACHINE_ARN", state_machine.state_machine_arn)
        sweep.add_environment(
            "DEAD_LETTER_QUEUE_URLS",
            stack.to_json_string({name: q.queue_url for name, q in sorted(dead_letter_queues.items())}),
        )
        # cdk-nag names the ARN as synthesized: pseudo parameters when the stack's environment is left to
        # deploy time, literals when it is set (the deploy pipeline's stages name their account and region)
        partition, region, account = (
            f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
            for value, pseudo in (
                (stack.partition, "Partition"),
                (stack.region, "Region"),
                (stack.account, "AccountId"),
            )
        )
        acknowledge(
            sweep.role,  # type: ignore[arg-type]
            f"IAM5[Resource::arn:{partition}:states:{region}:{account}:execution:{state_machine_name}:*]",
            "Executions are named per deal at run time; the sweep reads the histories of this state machine's "
            "executions only.",
        )

    # --- SLOs --------------------------------------------------------------------------------------
    def _slo(
        self, name: str, description: str, children: Sequence[cloudwatch.Alarm], action: cw_actions.SnsAction
    ) -> Slo:
        composite = cloudwatch.CompositeAlarm(
            self,
            f"Slo{name}",
            composite_alarm_name=f"{Stack.of(self).stack_name}-slo-{name}",
            alarm_description=description,
            alarm_rule=cloudwatch.AlarmRule.any_of(*children),
        )
        composite.add_alarm_action(action)
        return Slo(composite, tuple(children))

    def _paid_within_an_hour(self, action: cw_actions.SnsAction) -> Slo:
        budget = (1 - PAID_WITHIN_OBJECTIVE) * 100
        children = []
        for window_name, window, burn in BURN_WINDOWS:
            # PR(0:3600): the percentage of deals paid within an hour of their card being saved
            metric = cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="CardSavedToPaid",
                dimensions_map={"service": ERP_TASKS.service_name},
                statistic=cloudwatch.Stats.percentile_rank(0, PAID_WITHIN_S),
                period=window,
            )
            children.append(
                cloudwatch.Alarm(
                    self,
                    f"DealsPaidWithinAnHour{window_name}Burn",
                    alarm_description=(
                        f"Fewer than {100 - burn * budget:.1f} % of the deals paid in the last "
                        f"{window.to_human_string()} were paid within an hour of their card being saved"
                    ),
                    metric=metric,
                    threshold=100 - burn * budget,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        return self._slo(
            "DealsPaidWithinAnHour",
            "SLO: 99 % of deals are paid (payment applied to the ERP invoice) within 1 h of the customer saving "
            "the card. Look at the dashboard's time-to-cash and order-aging rows: which state holds the deals "
            "(o2c status ID)",
            children,
            action,
        )

    def _webhook_5xx(self, api: apigw.RestApi, action: cw_actions.SnsAction) -> Slo:
        budget = 1 - WEBHOOK_5XX_OBJECTIVE
        children = []
        for window_name, window, burn in BURN_WINDOWS:
            rate = cloudwatch.MathExpression(
                expression="IF(requests > 0, errors / requests, 0)",
                using_metrics={
                    "errors": api.metric_server_error(statistic="Sum", period=window),
                    "requests": api.metric_count(statistic="SampleCount", period=window),
                },
                period=window,
                label="webhook 5xx rate",
            )
            children.append(
                cloudwatch.Alarm(
                    self,
                    f"Webhook5xx{window_name}Burn",
                    alarm_description=(
                        f"Over {burn * budget * 100:.2f} % of the webhook requests of the last "
                        f"{window.to_human_string()} were answered 5xx"
                    ),
                    metric=rate,
                    threshold=burn * budget,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        return self._slo(
            "Webhook5xx",
            "SLO: fewer than 0.1 % of webhook requests are answered 5xx (providers retry them, but a 5xx means "
            "the hub failed). Look at the webhook functions' errors and logs",
            children,
            action,
        )

    def _oldest_pending_fact(
        self, fact_waiting_too_long: cloudwatch.Alarm, action: cw_actions.SnsAction
    ) -> Slo:
        swept = cloudwatch.Alarm(
            self,
            "OldestPendingFactOverADay",
            alarm_description="The OperationsSweep found a fact waiting over a day for what it depends on",
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="OldestPendingFactAge",
                dimensions_map={"service": OPERATIONS_SWEEP.service_name},
                statistic="Maximum",
                period=FIVE_MINUTES,
            ),
            threshold=OLDEST_PENDING_FACT_MAX_S,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return self._slo(
            "OldestPendingFact",
            "SLO: no fact waits over a day for what it depends on (o2c pending list): fix the missing side, "
            "then o2c pending release",
            [swept, fact_waiting_too_long],
            action,
        )

    # --- the dashboard -----------------------------------------------------------------------------
    def _business_row(self) -> list[cloudwatch.IWidget]:
        erp, pay, sweep = ERP_TASKS.service_name, PAYMENT_TASKS.service_name, OPERATIONS_SWEEP.service_name
        header = cloudwatch.TextWidget(
            markdown="# Order to cash\nDefinitions: README, *Business metrics*. Gauges every 5 minutes "
            "(OperationsSweep); durations and counts when the fact happens.",
            width=24,
            height=2,
        )
        time_to_cash = cloudwatch.GraphWidget(
            title="Time to cash (won → paid), seconds",
            left=[
                business("TimeToCash", erp, statistic="p50", label="p50"),
                business("TimeToCash", erp, statistic="p95", label="p95"),
                business("CardSavedToPaid", erp, statistic="p95", label="card saved → paid p95"),
            ],
            right=[business("DealsPaid", erp, statistic="Sum", label="deals paid")],
            width=8,
        )
        attempts = business("PaymentAttempts", pay, statistic="Sum", label="attempts", provider="stripe")
        failures = business("PaymentFailures", pay, statistic="Sum", label="failures", provider="stripe")
        failure_rate = cloudwatch.GraphWidget(
            title="Payment failure rate (declines and failures / attempts), by reason",
            left=[
                cloudwatch.MathExpression(
                    expression="IF(attempts > 0, 100 * failures / attempts, 0)",
                    using_metrics={"attempts": attempts, "failures": failures},
                    label="failure rate %",
                    period=FIVE_MINUTES,
                )
            ],
            right=[search("PaymentFailures", ("provider", "reason"), "Sum", "by reason")],
            width=8,
        )
        lag = cloudwatch.GraphWidget(
            title="Invoice sync lag, seconds (p95)",
            left=[
                business(
                    "InvoicePostedToPaymentApplied", erp, statistic="p95", label="ERP invoice → applied"
                ),
                business("CapturedToErpApplied", erp, statistic="p95", label="Stripe captured → ERP applied"),
            ],
            width=8,
        )
        aging = cloudwatch.GraphWidget(
            title="Open orders by state",
            left=[search("OpenOrders", ("state",), "Maximum", "open")],
            right=[search("OldestOpenOrderAge", ("state",), "Maximum", "oldest (s)")],
            width=8,
        )
        buckets = cloudwatch.GraphWidget(
            title="Open orders by age",
            view=cloudwatch.GraphWidgetView.BAR,
            left=[
                business("OpenOrders", sweep, statistic="Maximum", label=label, age=label)
                for label in ("under_1h", "1h_to_1d", "1d_to_7d", "over_7d")
            ],
            width=8,
        )
        waiting = cloudwatch.GraphWidget(
            title="Waiting: facts, refunds to book, dead letters",
            left=[
                business("PendingFacts", sweep, statistic="Maximum", label="pending facts"),
                business("RefundsWaitingToBeBooked", sweep, statistic="Maximum", label="refunds to book"),
                business("DeadLetterMessages", sweep, statistic="Maximum", label="dead letters"),
            ],
            right=[business("OldestPendingFactAge", sweep, statistic="Maximum", label="oldest fact (s)")],
            width=8,
        )
        exceptions = cloudwatch.GraphWidget(
            title="Reconciliation exceptions by kind; disputes",
            left=[
                search("ReconciliationExceptions", ("kind",), "Sum", "exceptions"),
            ],
            right=[
                business("DisputesOpen", sweep, statistic="Maximum", label="disputes open"),
                business("DisputeEvidenceDueSoon", sweep, statistic="Maximum", label="evidence due < 3 days"),
            ],
            width=12,
        )
        totals = cloudwatch.SingleValueWidget(
            title="Now",
            metrics=[
                business("OpenOrders", sweep, statistic="Maximum", label="open orders"),
                business("PendingFacts", sweep, statistic="Maximum", label="pending facts"),
                business("DeadLetterMessages", sweep, statistic="Maximum", label="dead letters"),
                business(
                    "ReconciliationExceptions", RECONCILER.service_name, statistic="Sum", label="recon."
                ),
                business(
                    "ReconciliationExceptions",
                    PAYOUT_DEPOSITOR.service_name,
                    statistic="Sum",
                    label="payouts",
                ),
            ],
            width=12,
        )
        return [header, time_to_cash, failure_rate, lag, aging, buckets, waiting, exceptions, totals]

    def _slo_row(self) -> list[cloudwatch.IWidget]:
        return [
            cloudwatch.AlarmStatusWidget(
                title="SLOs",
                alarms=[slo.composite for slo in self.slos.values()],
                width=24,
                height=3,
            )
        ]

    def _technical_rows(
        self,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        api: apigw.RestApi,
        queues: Mapping[str, sqs.IQueue],
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> list[list[cloudwatch.IWidget]]:
        header = cloudwatch.TextWidget(markdown="# Technical", width=24, height=1)
        webhooks = cloudwatch.GraphWidget(
            title="Webhooks: requests, 4xx, 5xx",
            left=[api.metric_count(period=FIVE_MINUTES, statistic="SampleCount", label="requests")],
            right=[
                api.metric_client_error(period=FIVE_MINUTES, label="4xx"),
                api.metric_server_error(period=FIVE_MINUTES, label="5xx"),
            ],
            width=12,
        )
        latency = cloudwatch.GraphWidget(
            title="Webhooks: latency p99",
            left=[api.metric_latency(period=FIVE_MINUTES, statistic="p99", label="p99")],
            width=12,
        )
        errors = cloudwatch.GraphWidget(
            title="Function errors",
            left=[f.metric_errors(period=FIVE_MINUTES, label=fid) for fid, f in sorted(functions.items())],
            width=12,
        )
        throttles = cloudwatch.GraphWidget(
            title="Function throttles",
            left=[f.metric_throttles(period=FIVE_MINUTES, label=fid) for fid, f in sorted(functions.items())],
            width=12,
        )
        executions = cloudwatch.GraphWidget(
            title="Quote-to-cash executions",
            left=[
                state_machine.metric_started(period=FIVE_MINUTES, label="started"),
                state_machine.metric_succeeded(period=FIVE_MINUTES, label="succeeded"),
                state_machine.metric_failed(period=FIVE_MINUTES, label="failed"),
                state_machine.metric_timed_out(period=FIVE_MINUTES, label="timed out"),
            ],
            width=12,
        )
        queue_age = cloudwatch.GraphWidget(
            title="Consumer queues: oldest message age (s)",
            left=[
                q.metric_approximate_age_of_oldest_message(
                    period=FIVE_MINUTES, statistic="Maximum", label=cid
                )
                for cid, q in sorted(queues.items())
            ],
            width=12,
        )
        dlqs = cloudwatch.GraphWidget(
            title="Dead-letter queues",
            left=[
                q.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum", label=n
                )
                for n, q in sorted(dead_letter_queues.items())
            ],
            width=24,
        )
        return [[header], [webhooks, latency], [errors, throttles], [executions, queue_age], [dlqs]]
