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

The grants below name, per command, the actions on each kind of resource; ``tests/infra/test_operator_policy.py``
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

from infra.nag import acknowledge

#: command → (resource kind, actions). Resource kinds: ``stack`` (this stack), ``table:<id>``, ``executions``
#: (this state machine's), ``state_machine``, ``bus`` (the hub's), ``reconciler`` (its ``live`` alias),
#: ``functions`` (every Lambda function of the stack: doctor and setup read their environments, rollback moves
#: their aliases), ``deployment_groups`` (the stack's CodeDeploy groups), ``secrets``, ``dlqs``, ``queues``,
#: ``archive`` (the bus's archive) and ``replays`` (the replays ``o2c replay`` names ``<bus>-...``).
Grant = tuple[str, tuple[str, ...]]
_RESOLVE: tuple[Grant, ...] = (("stack", ("cloudformation:DescribeStacks",)),)
_FOLLOW: tuple[Grant, ...] = (
    ("table:LineageTable", ("dynamodb:Query",)),
    ("table:CorrelationTable", ("dynamodb:GetItem",)),
    ("executions", ("states:DescribeExecution", "states:GetExecutionHistory")),
)
_ANSWER: tuple[Grant, ...] = (
    ("table:CorrelationTable", ("dynamodb:UpdateItem",)),
    ("state_machine", ("states:SendTaskSuccess",)),
)
_STAGE_SETTINGS: tuple[Grant, ...] = (
    ("stack", ("cloudformation:ListStackResources",)),
    ("functions", ("lambda:GetFunctionConfiguration",)),
    ("secrets", ("secretsmanager:GetSecretValue",)),
)
COMMAND_GRANTS: dict[str, tuple[Grant, ...]] = {
    "trace": _FOLLOW,
    "status": _FOLLOW,
    "approve": _FOLLOW + _ANSWER,
    "hold release": _FOLLOW + _ANSWER,
    "redrive": (*_FOLLOW, ("executions", ("states:RedriveExecution",))),
    "refund": (("table:LineageTable", ("dynamodb:Query",)), ("bus", ("events:PutEvents",))),
    "resync": (("table:LineageTable", ("dynamodb:Query",)), ("bus", ("events:PutEvents",))),
    "reconcile": (("reconciler", ("lambda:InvokeFunction",)),),
    "setup crm": _STAGE_SETTINGS,
    "doctor": (*_STAGE_SETTINGS, ("stack", ("cloudformation:DescribeStacks",))),  # its outputs: ApiUrl
    "smoke": (*_STAGE_SETTINGS, ("stack", ("cloudformation:DescribeStacks",))),  # doctor's reads
    "pending list": (("table:PendingTable", ("dynamodb:Scan",)),),
    "pending release": (
        ("table:PendingTable", ("dynamodb:Scan", "dynamodb:UpdateItem")),
        ("bus", ("events:PutEvents",)),
    ),
    # StartReplay is authorized on the archive it reads and on the replay it creates
    "replay": (
        ("archive", ("events:StartReplay",)),
        ("replays", ("events:DescribeReplay", "events:StartReplay")),
    ),
    "dlq list": (("dlqs", ("sqs:GetQueueAttributes", "sqs:ReceiveMessage")),),
    # Stop an in-flight deployment with rollback, or move a function's live alias back a version.
    "rollback": (
        ("stack", ("cloudformation:DescribeStacks", "cloudformation:ListStackResources")),
        ("functions", ("lambda:GetAlias", "lambda:ListVersionsByFunction", "lambda:UpdateAlias")),
        ("deployment_groups", ("codedeploy:ListDeployments", "codedeploy:StopDeployment")),
    ),
    # An SQS message move task needs, on its source, StartMessageMoveTask with ReceiveMessage, DeleteMessage
    # and GetQueueAttributes, and SendMessage on its destination (the local fallback moves by hand: the same).
    "dlq redrive": (
        (
            "dlqs",
            ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:StartMessageMoveTask"),
        ),
        ("queues", ("sqs:GetQueueAttributes", "sqs:SendMessage")),
    ),
}
# The console (o2c console --stack): what the commands it shows and acts through need, and the listing of
# the executions and the lineage facts of its figures.
COMMAND_GRANTS["console"] = (
    *(
        grant
        for command in ("approve", "redrive", "reconcile", "pending release", "dlq redrive")
        for grant in COMMAND_GRANTS[command]
    ),
    ("table:LineageTable", ("dynamodb:Scan",)),
    ("state_machine", ("states:ListExecutions",)),
)
OPERATOR_COMMANDS: tuple[str, ...] = tuple(COMMAND_GRANTS)
READ_ONLY_COMMANDS: tuple[str, ...] = ("trace", "status", "pending list", "dlq list", "doctor", "smoke")


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
        by_kind: dict[str, set[str]] = {}
        for command in ("resolve", *commands):
            for kind, actions in _RESOLVE if command == "resolve" else COMMAND_GRANTS[command]:
                by_kind.setdefault(kind, set()).update(actions)
        return [
            iam.PolicyStatement(actions=sorted(actions), resources=self.resources[kind])
            for kind, actions in sorted(by_kind.items())
        ]
