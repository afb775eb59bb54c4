"""The operators' managed policies: what the ``o2c`` commands acting on this stage (``--stack``) call, on this
stage's own resources, and nothing else.

- ``OperatorPolicy`` (output ``OperatorPolicyArn``): every command in OPERATOR_COMMANDS.
- ``ReadOnlyOperatorPolicy`` (output ``ReadOnlyOperatorPolicyArn``): the commands in READ_ONLY_COMMANDS, which
  change nothing: no task answered (approve, hold release), no execution redriven, no event published (refund,
  resync, pending release), no message moved (dlq redrive), no alias moved or deployment stopped (rollback).
  ``reconcile`` is not read-only even with ``--no-publish``: it invokes the Reconciler, whose own role publishes,
  and IAM cannot grant an invoke only for a payload that says ``"publish": false``.

  ``setup crm`` is left out, but on AWS it only reads what ``doctor`` reads: its writes go to the CRMs, with the
  CRM credentials held in the stage's secrets, which doctor must read to check them. A read-only operator can
  therefore change CRM fields; what keeps them out is the CRM's own user permissions, not this policy.

The grants (``infra.iam.COMMAND_GRANTS``) name, per command, the actions on each kind of resource; ``tests/infra/test_operator_policy.py``
checks them against what the CLI's code calls (``AWS_ACTIONS`` in ``o2c_cli``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.iam import COMMAND_GRANTS, OPERATOR_COMMANDS, READ_ONLY_COMMANDS, operator_statements
from infra.nag import acknowledge

__all__ = ["COMMAND_GRANTS", "OPERATOR_COMMANDS", "READ_ONLY_COMMANDS", "OperatorPolicies"]


class OperatorPolicies(Construct):
    """Fills the stack's ``OperatorPolicy`` (created with the state machine, whose ARN it keeps) and creates
    the read-only one. Create it last: ``functions`` grants reach every Lambda function of the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        operator_policy: iam.ManagedPolicy,
        state_machine_arn: str,
        state_machine_name: str,
        tables: Mapping[str, dynamodb.ITable],
        bus: events.IEventBus,
        archive: events.Archive,
        bus_name: str,
        reconciler: lambda_.IFunction,
        deployment_groups: Sequence[str],
        secrets: Sequence[secretsmanager.ISecret],
        queues: Sequence[sqs.IQueue],
        dlqs: Sequence[sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        functions = [fn.attr_arn for fn in stack.node.find_all() if isinstance(fn, lambda_.CfnFunction)]
        self.resources: dict[str, list[str]] = {
            "stack": [stack.stack_id],
            "executions": [executions],
            "state_machine": [state_machine_arn],
            "bus": [bus.event_bus_arn],
            "archive": [archive.archive_arn],
            "replays": [stack.format_arn(service="events", resource="replay", resource_name=f"{bus_name}-*")],
            "reconciler": [reconciler.function_arn],
            "functions": functions,
            # by name (application = the stack, group = the function id), as o2c rollback finds them
            "deployment_groups": [
                stack.format_arn(
                    service="codedeploy",
                    resource="deploymentgroup",
                    resource_name=f"{stack.stack_name}/{group}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                for group in deployment_groups
            ],
            "secrets": [s.secret_arn for s in secrets],
            "queues": [q.queue_arn for q in queues],
            "dlqs": [q.queue_arn for q in dlqs],
            **{f"table:{table_id}": [table.table_arn] for table_id, table in tables.items()},
        }
        for statement in self.statements(OPERATOR_COMMANDS):
            operator_policy.add_statements(statement)
        self.read_only_policy = iam.ManagedPolicy(
            self,
            "ReadOnlyOperatorPolicy",
            description="O2C Hub operators, read only: trace, status, pending list, dlq list, doctor",
            statements=self.statements(READ_ONLY_COMMANDS),
        )
        # cdk-nag names the ARN as synthesized: pseudo parameters when the stack's environment is left to
        # deploy time, literals when it is set (the deploy pipeline's stages name their account and region)
        stack = Stack.of(self)
        partition, region, account = (
            f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
            for value, pseudo in (
                (stack.partition, "Partition"),
                (stack.region, "Region"),
                (stack.account, "AccountId"),
            )
        )
        for policy in (operator_policy, self.read_only_policy):
            acknowledge(
                policy,
                f"IAM5[Resource::arn:{partition}:states:{region}:{account}:execution:{state_machine_name}:*]",
                "Executions are named per deal at run time; the policy is scoped to this state machine's "
                "executions.",
            )
        acknowledge(
            operator_policy,
            f"IAM5[Resource::arn:{partition}:events:{region}:{account}:replay/{bus_name}-*]",
            "o2c replay names each replay at run time after the bus; the policy is scoped to those names.",
        )

    def statements(self, commands: Sequence[str]) -> list[iam.PolicyStatement]:
        """One statement per resource kind, with the actions the commands need on it."""
        return [
            iam.PolicyStatement(actions=s["Action"], resources=s["Resource"])
            for s in operator_statements(commands, self.resources)
        ]
