"""Quote-to-cash: the Standard state machine (definition from infra/statemachine.py), its grants, and the
operators' policy (filled by infra/constructs/operators.py)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge
from infra.statemachine import render
from infra.topology import FUNCTIONS, STATE_MACHINE_TASKS


class QuoteToCash(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, lambda_.Function],
        aliases: Mapping[str, lambda_.IFunction],
        bus: events.IEventBus,
    ) -> None:
        """``aliases``: the functions' ``live`` aliases, which the tasks invoke; ``functions``: the functions
        themselves (their roles and environments)."""
        super().__init__(scope, construct_id)
        # Named after the stage (as the bus is), so its ARN is known without a reference: the functions
        # that answer task tokens are in the definition, and a reference back would be a cycle.
        self.name = f"o2c-{config.stage}-quote-to-cash"
        self.arn = Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        # Step Functions delivers logs as a vended log source: AWS recommends the /aws/vendedlogs/ prefix,
        # whose log groups need no resource policy entry each (the account's CloudWatch Logs resource
        # policy is limited to 5,120 characters, which a few stages' log groups would otherwise fill).
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{self.name}",
            retention=config.log_retention,
        )
        substitutions = {spec.id: aliases[spec.id].function_arn for spec in STATE_MACHINE_TASKS}
        substitutions["EventBusName"] = bus.event_bus_name
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(render()),
            definition_substitutions=substitutions,
            tracing_enabled=True,
            # Execution data (deal contents, contact emails) stays out of the logs; every event is logged.
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        for spec in STATE_MACHINE_TASKS:
            aliases[spec.id].grant_invoke(self.state_machine)
        bus.grant_put_events_to(self.state_machine)
        for spec in FUNCTIONS:
            if spec.state_machine_access == "start":
                functions[spec.id].add_to_role_policy(
                    iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.arn])
                )
                functions[spec.id].add_environment("QUOTE_TO_CASH_STATE_MACHINE_ARN", self.arn)
            elif spec.state_machine_access == "start_and_read":  # the /v1 API
                functions[spec.id].add_to_role_policy(
                    iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.arn])
                )
                functions[spec.id].add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                        resources=[
                            Stack.of(self).format_arn(
                                service="states",
                                resource="execution",
                                resource_name=f"{self.name}:*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                        ],
                    )
                )
                functions[spec.id].add_environment("QUOTE_TO_CASH_STATE_MACHINE_ARN", self.arn)
                stack = Stack.of(self)
                # cdk-nag names the ARN as synthesized (pseudo parameters, or the pipeline stages' literals)
                partition, region, account = (
                    f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
                    for value, pseudo in (
                        (stack.partition, "Partition"),
                        (stack.region, "Region"),
                        (stack.account, "AccountId"),
                    )
                )
                acknowledge(
                    functions[spec.id].role,  # type: ignore[arg-type]
                    f"IAM5[Resource::arn:{partition}:states:{region}:{account}:execution:{self.name}:*]",
                    "Executions are named per order at run time; the API reads this state machine's executions "
                    "only (where an order stands).",
                )
            elif spec.state_machine_access == "task_response":
                functions[spec.id].add_to_role_policy(
                    iam.PolicyStatement(
                        actions=[
                            "states:SendTaskSuccess",
                            "states:SendTaskFailure",
                            "states:SendTaskHeartbeat",
                        ],
                        resources=[self.arn],
                    )
                )
        acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery for Step Functions have no resource-level permissions.",
        )

        # Its statements come from infra/constructs/operators.py (what every o2c command needs, on every
        # resource of the stage); created here so that its logical id, and the ARN operators attached, stay.
        # Its description stays too: changing it would replace the policy (and fail while it is attached).
        self.operator_policy = iam.ManagedPolicy(
            self,
            "OperatorPolicy",
            description="O2C Hub operators: follow, approve, release and redrive quote-to-cash executions",
        )
