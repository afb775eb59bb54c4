"""EventBridge Scheduler schedules for the functions that run on a clock (the daily reconciliation, the hourly
sweep of waiting facts), each with a dead-letter queue (alarmed in observability.py).

Retries are set on purpose, in two places:

- The scheduler invokes Lambda asynchronously: its ``RetryPolicy`` covers only *delivery* (the Invoke call
  refused: throttled, a service error). A refused Invoke ran nothing, so retrying it cannot run the
  function twice; a few attempts within a bounded age, then the DLQ.
- Once queued, Lambda itself retries a *failed run* twice by default (the async invoke config), so one
  tick could run the Reconciler three times, each run publishing its ``ReconciliationException`` events
  again (new event ids: consumers would see three exceptions for one mismatch) and calling NetSuite and
  Stripe for minutes. ``MaximumRetryAttempts`` is 0: a failed run raises the function's Errors alarm, and
  the operator re-runs it (``o2c reconcile --date``) once the cause is fixed; the next tick runs anyway.
  A failed hourly FactReleaser sweep is swept again by the next tick (it releases whatever is still
  parked then), so retrying it within the hour buys nothing either. (Its queue-fed invocations are
  synchronous, through the event source mapping, and keep the queue's own redrive.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.topology import FUNCTIONS

#: Scheduler delivery retries (the Invoke call refused; nothing ran) and how long a tick may keep trying.
SCHEDULE_DELIVERY_RETRIES = 3
SCHEDULE_MAX_EVENT_AGE_S = 900
#: Lambda's own retries of a failed asynchronous run of a scheduled function: none (see the module doc).
SCHEDULED_RUN_RETRIES = 0


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: Mapping[str, lambda_.IFunction]
    ) -> None:
        """``functions``: what the schedules invoke, the functions' ``live`` aliases (and the async invoke
        settings are the alias's)."""
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        self.dlqs: dict[str, sqs.IQueue] = {}
        for spec in FUNCTIONS:
            if not spec.schedule:
                continue
            function = functions[spec.id]
            dlq = sqs.Queue(
                self, f"{spec.id}ScheduleDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
            )
            self.dlqs[spec.id] = dlq
            function.configure_async_invoke(
                retry_attempts=SCHEDULED_RUN_RETRIES, max_event_age=Duration.seconds(SCHEDULE_MAX_EVENT_AGE_S)
            )
            role = iam.Role(
                self, f"{spec.id}ScheduleRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com")
            )
            function.grant_invoke(role)
            dlq.grant_send_messages(role)
            acknowledge(
                dlq,
                "SQS3",
                "This queue is the dead-letter queue of the schedule's target; it has none itself.",
            )
            self.schedules[spec.id] = scheduler.CfnSchedule(
                self,
                f"{spec.id}Schedule",
                description=f"{spec.id}: {spec.description}"[:512],
                schedule_expression=spec.schedule,
                schedule_expression_timezone="UTC",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=function.function_arn,
                    role_arn=role.role_arn,
                    input=json.dumps({"publish": True}),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=SCHEDULE_DELIVERY_RETRIES,
                        maximum_event_age_in_seconds=SCHEDULE_MAX_EVENT_AGE_S,
                    ),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=dlq.queue_arn),
                ),
            )
