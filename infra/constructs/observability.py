"""Alarms on every failure path (DLQ depth, schedule DLQs, function errors, facts waiting too long for what
they depend on, CRM write-backs the CRM refused), published to an encrypted SNS topic that reaches people:
the stage's alarm emails and, when configured, a Slack channel through AWS Chatbot (cdk.json →
stages.<stage>)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.topology import CRM_TASKS, FACT_RELEASER, METRICS_NAMESPACE

#: A fact that still waits after this long (a refund whose invoice never came, ...) needs a person.
WAITING_FACT_ALARM_S = 86_400


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        dlqs: Mapping[str, sqs.IQueue],
        schedule_dlqs: Mapping[str, sqs.IQueue],
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        # A customer managed key: CloudWatch cannot publish to a topic encrypted with aws/sns.
        self.key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True, description="O2C Hub alarm topic")
        self.key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(self, "AlarmTopic", master_key=self.key, enforce_ssl=True)
        action = cw_actions.SnsAction(self.topic)
        self._subscribe_people(config)

        for consumer_id, dlq in dlqs.items():
            alarm = cloudwatch.Alarm(
                self,
                f"{consumer_id}DlqNotEmpty",
                alarm_description=f"{consumer_id}: messages in the dead-letter queue; inspect and redrive",
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)

        for schedule_id, dlq in schedule_dlqs.items():
            # The scheduler puts a run here when it could not invoke the function (throttled, deleted,
            # permission lost) after its retries: that day's reconciliation / that hour's sweep did not run.
            alarm = cloudwatch.Alarm(
                self,
                f"{schedule_id}ScheduleDlqNotEmpty",
                alarm_description=(
                    f"{schedule_id}: the scheduler could not invoke the function (see the message's "
                    "ERROR_CODE/ERROR_MESSAGE attributes); fix the cause, then run it by hand"
                ),
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)

        #: function id → its alarms (errors, throttles): CodeDeploy rolls a canary back on any of them.
        self.function_alarms: dict[str, list[cloudwatch.IAlarm]] = {}
        for function_id, function in functions.items():
            # On the function as a whole (every version): during a canary, an error in either version stops
            # the shift, which errs on the side of rolling back.
            errors = cloudwatch.Alarm(
                self,
                f"{function_id}Errors",
                alarm_description=f"{function_id}: invocations failed (unhandled errors or timeouts)",
                metric=function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            throttles = cloudwatch.Alarm(
                self,
                f"{function_id}Throttles",
                alarm_description=(
                    f"{function_id}: invocations throttled (concurrency limit reached); a new version that "
                    "runs longer or a traffic spike"
                ),
                metric=function.metric_throttles(period=Duration.minutes(1), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for alarm in (errors, throttles):
                alarm.add_alarm_action(action)
            self.function_alarms[function_id] = [errors, throttles]

        # No action of its own: one of the alarms of the oldest-pending-fact SLO (dashboard.py), which pages.
        self.fact_waiting_too_long = cloudwatch.Alarm(
            self,
            "FactWaitingTooLong",
            alarm_description=(
                "A fact has waited over a day for what it depends on (o2c pending list): "
                "fix the missing side, then o2c pending release"
            ),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="OldestWaitingFactAge",
                dimensions_map={"service": FACT_RELEASER.service_name},
                period=Duration.hours(1),
                statistic="Maximum",
            ),
            threshold=WAITING_FACT_ALARM_S,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        write_back_refused = cloudwatch.Alarm(
            self,
            "CrmWriteBackRefused",
            alarm_description=(
                "The CRM refused a quote-to-cash write-back (a HubSpot property or Salesforce field the hub writes "
                "does not exist there): run o2c setup crm --stack <this stack>; the OrderOnHold event names the "
                "deal, the missing fields and the ERP order to write back"
            ),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="CrmWriteBackRefused",
                dimensions_map={"service": CRM_TASKS.service_name},
                period=Duration.minutes(5),
                statistic="Sum",
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        write_back_refused.add_alarm_action(action)

    def _subscribe_people(self, config: StageConfig) -> None:
        for email in config.alarm_emails:
            # Pending until the address confirms from the mail SNS sends; until then it gets nothing.
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.slack: chatbot.SlackChannelConfiguration | None = None
        if config.chatbot_slack:
            self.slack = chatbot.SlackChannelConfiguration(
                self,
                "AlarmSlackChannel",
                slack_channel_configuration_name=f"o2c-{config.stage}-alarms",
                slack_workspace_id=config.chatbot_slack_workspace_id,
                slack_channel_id=config.chatbot_slack_channel_id,
                notification_topics=[self.topic],
                logging_level=chatbot.LoggingLevel.ERROR,
                # Chatbot only relays alarms here: its channel role and guardrail allow reading them.
                guardrail_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchReadOnlyAccess")
                ],
            )
