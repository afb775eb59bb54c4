"""EventBridge Scheduler schedules for the functions that run on a clock (the daily reconciliation)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.topology import FUNCTIONS


class Schedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, functions: Mapping[str, lambda_.IFunction]
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for spec in FUNCTIONS:
            if not spec.schedule:
                continue
            function = functions[spec.id]
            dlq = sqs.Queue(
                self, f"{spec.id}ScheduleDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
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
            stack = Stack.of(self)
            logical_id = stack.resolve(stack.get_logical_id(function.node.default_child))  # type: ignore[arg-type]
            acknowledge(
                role,
                f"IAM5[Resource::<{logical_id}.Arn>:*]",
                "The scheduler may invoke the function with a version qualifier; grant_invoke adds ARN:*.",
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
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=dlq.queue_arn),
                ),
            )
