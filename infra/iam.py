"""The IAM policies of the hub, declared once, without CDK.

- ``function_statements``: what one function's role holds, derived from its ``FunctionSpec`` (tables, secrets,
  events, claim checks, state machine access) and the consumers it serves. The CDK grants in
  ``infra/constructs/`` use the same action lists, and ``tests/infra/test_local_iam.py`` proves that, for every
  function, these statements allow exactly what the synthesized template's role allows (modulo ARN
  resolution).
- ``state_machine_statements``: the quote-to-cash state machine's role (its task functions, the bus).
- ``operator_statements``: the operators' policies (``OperatorPolicy``, ``ReadOnlyOperatorPolicy``), per
  ``o2c`` command (``COMMAND_GRANTS``, checked against the CLI's code by ``tests/infra/test_operator_policy.py``).

Resources are named through an ``Arns`` object: CloudFormation tokens in the template test, the embedded cloud's
ARNs in ``localcloud`` (``LocalArns``), which gives each worker exactly its function's policy and enforces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.topology import (
    CLAIM_CHECK_KEY_PREFIX,
    CONSUMERS,
    LIVE_ALIAS,
    STATE_MACHINE_TASKS,
    ConsumerSpec,
    FunctionSpec,
    claim_check_access,
)

Statement = dict[str, Any]

#: Item reads and writes: the single-item calls the hub's code and the Powertools idempotency layer make (GetItem,
#: Query, PutItem, UpdateItem, DeleteItem; conditions ride on the writes). Narrower than CDK's grant_read_data /
#: grant_write_data: no DescribeTable, ConditionCheckItem (no code describes a table or writes a transaction), and
#: the bulk calls (BatchGetItem, BatchWriteItem, Scan) only for the functions in BULK_TABLE_ACTIONS
#: (tests/infra/test_table_grants.py reads the code to check).
TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query")
TABLE_WRITE = ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
#: (function, table) → the bulk operations its code makes on that table
BULK_TABLE_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    # LineageStore.record: which ids are indexed already, then the event + the new ids
    ("LineageRecorder", "LineageTable"): ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"),
    ("Reconciler", "LineageTable"): ("dynamodb:Scan",),  # LineageStore.entries_on: the day's events
    ("FactReleaser", "PendingTable"): ("dynamodb:Scan",),  # PendingFacts.all: the hourly sweep
    ("OperationsSweep", "PendingTable"): ("dynamodb:Scan",),  # PendingFacts.all: the waiting facts' figures
}
#: A function reads its secrets' values (GetSecretValue); nothing describes them (Secret.grant_read would add
#: DescribeSecret). The secrets use the account's AWS-managed key: no kms:Decrypt grant is needed.
SECRET_READ = ("secretsmanager:GetSecretValue",)
#: EventBus.grant_put_events_to
PUT_EVENTS = ("events:PutEvents",)
#: LogGroup.grant_write (the function's own log group)
LOG_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
#: Tracing.ACTIVE (no resource-level permissions)
XRAY_WRITE = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
#: SqsEventSource: what the event source mapping does with the function's role on its queue
QUEUE_CONSUME = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
)
START_EXECUTION = ("states:StartExecution",)
TASK_RESPONSE = ("states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess")
#: state_machine_access "read" (the operations sweep: open executions and where each stands)
LIST_EXECUTIONS = ("states:ListExecutions",)
EXECUTION_HISTORY = ("states:GetExecutionHistory",)
#: state_machine_access "start_and_read" (the /v1 API): one execution and its history
DESCRIBE_EXECUTION = ("states:DescribeExecution", "states:GetExecutionHistory")
#: reads_dead_letter_queues: their depth
QUEUE_DEPTH = ("sqs:GetQueueAttributes",)
#: Exactly the object actions under the claim-check prefix (no delete, no list, no ACLs): publishers put
#: claim checks, consumers get them.
CLAIM_CHECK_ACTIONS: dict[str, tuple[str, ...]] = {
    "write": ("s3:PutObject",),
    "read": ("s3:GetObject",),
    "read_write": ("s3:GetObject", "s3:PutObject"),
}

# --- the warehouse feed (infra/constructs/warehouse.py) ---
#: The delivery stream's role on the warehouse bucket (Firehose's documented S3 destination permissions).
FIREHOSE_S3_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:PutObject",
)
#: ... on the Glue table it converts records to Parquet with (record format conversion).
FIREHOSE_GLUE_ACTIONS = ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions")
#: ... on its transformation function (the projection).
FIREHOSE_LAMBDA_ACTIONS = ("lambda:GetFunctionConfiguration", "lambda:InvokeFunction")
#: The warehouse rule's role: EventBridge puts each event into the delivery stream.
FIREHOSE_PUT_ACTIONS = ("firehose:PutRecord", "firehose:PutRecordBatch")


def table_actions(fn: FunctionSpec, table_id: str) -> tuple[str, ...]:
    access = fn.tables[table_id]
    actions = {
        *(TABLE_READ if access in ("read", "read_write") else ()),
        *(TABLE_WRITE if access in ("write", "read_write") else ()),
        *BULK_TABLE_ACTIONS.get((fn.id, table_id), ()),
    }
    return tuple(sorted(actions))


class Arns(Protocol):
    """How a stage names the resources a policy reaches (ARNs, or CloudFormation tokens)."""

    def log_group(self, function_id: str) -> Any: ...
    def table(self, table_id: str) -> Any: ...
    def secret(self, secret_id: str) -> Any: ...
    def bus(self) -> Any: ...
    def claim_check_objects(self, prefix: str) -> Any: ...
    #: None when the consumer's queue is not wired in the stage (a partner bus left off)
    def queue(self, consumer_id: str) -> Any | None: ...
    def state_machine(self) -> Any: ...
    #: the same ARN as the state machine resource gives it (grants made once it exists)
    def state_machine_ref(self) -> Any: ...
    #: its executions: ``...:execution:<name>:*``
    def executions(self) -> Any: ...
    #: every dead-letter queue of the stage (the consumers' and the schedules')
    def dead_letter_queues(self) -> list[Any]: ...
    #: a Lambda function's ARN (the state machine's tasks)
    def function(self, function_id: str) -> Any: ...
    #: its ``live`` alias (topology.LIVE_ALIAS), which the state machine and the CLI invoke
    def live_alias(self, function_id: str) -> Any: ...


def _statement(actions: Sequence[str], resources: Sequence[Any]) -> Statement:
    return {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": list(resources)}


def function_statements(
    fn: FunctionSpec, arns: Arns, *, consumers: Sequence[ConsumerSpec] = CONSUMERS
) -> list[Statement]:
    """Every statement of the function's role, one per grant (the template merges some: compare allowed pairs)."""
    statements = [
        _statement(LOG_WRITE, [arns.log_group(fn.id)]),
        _statement(XRAY_WRITE, ["*"]),
    ]
    statements += [_statement(table_actions(fn, table_id), [arns.table(table_id)]) for table_id in fn.tables]
    if fn.secrets:
        statements.append(_statement(SECRET_READ, [arns.secret(s) for s in fn.secrets]))
    if fn.publishes_events:
        statements.append(_statement(PUT_EVENTS, [arns.bus()]))
    bucket_access = claim_check_access(fn)
    if bucket_access is not None:
        statements.append(
            _statement(
                CLAIM_CHECK_ACTIONS[bucket_access], [arns.claim_check_objects(f"{CLAIM_CHECK_KEY_PREFIX}*")]
            )
        )
    if fn.state_machine_access == "start":
        statements.append(_statement(START_EXECUTION, [arns.state_machine()]))
    elif fn.state_machine_access == "task_response":
        statements.append(_statement(TASK_RESPONSE, [arns.state_machine()]))
    elif fn.state_machine_access == "read":
        statements.append(_statement(LIST_EXECUTIONS, [arns.state_machine_ref()]))
        statements.append(_statement(EXECUTION_HISTORY, [arns.executions()]))
    elif fn.state_machine_access == "start_and_read":  # the /v1 API: submit an order, say where one stands
        statements.append(_statement(START_EXECUTION, [arns.state_machine()]))
        statements.append(_statement(DESCRIBE_EXECUTION, [arns.executions()]))
    if fn.reads_dead_letter_queues:
        statements.append(_statement(QUEUE_DEPTH, arns.dead_letter_queues()))
    queues = [arns.queue(c.id) for c in consumers if c.function.id == fn.id]
    queues = [q for q in queues if q is not None]
    if queues:
        statements.append(_statement(QUEUE_CONSUME, queues))
    return statements


def policy_document(statements: Sequence[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allowed_pairs(statements: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource) pairs the Allow statements grant (resources rendered as JSON for tokens)."""
    import json

    pairs: set[tuple[str, str]] = set()
    for s in statements:
        assert s.get("Effect") == "Allow" and "Condition" not in s, s
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for action in actions:
            for resource in resources:
                pairs.add(
                    (action, resource if isinstance(resource, str) else json.dumps(resource, sort_keys=True))
                )
    return pairs


#: What a Standard state machine with logging (StateMachine's LogOptions) and X-Ray tracing needs; neither
#: has resource-level permissions.
STATE_MACHINE_LOGS_AND_TRACING = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)
INVOKE_FUNCTION = ("lambda:InvokeFunction",)


def state_machine_statements(
    arns: Arns, *, tasks: Sequence[FunctionSpec] = STATE_MACHINE_TASKS
) -> list[Statement]:
    """The quote-to-cash state machine's role: invoke its task functions, publish on the hub's bus."""
    return [
        _statement(STATE_MACHINE_LOGS_AND_TRACING, ["*"]),
        _statement(INVOKE_FUNCTION, [arns.live_alias(t.id) for t in tasks]),  # each task's live alias
        _statement(PUT_EVENTS, [arns.bus()]),
    ]


# --- the operators' policies ----------------------------------------------------------------------------------

#: command → (resource kind, actions). Resource kinds: ``stack`` (this stack), ``table:<id>``, ``executions``
#: (this state machine's), ``state_machine``, ``bus`` (the hub's), ``reconciler`` (its ``live`` alias),
#: ``functions`` (every Lambda function of the stack: doctor and setup read their environments, rollback moves
#: their aliases), ``deployment_groups`` (the stack's CodeDeploy groups), ``secrets``, ``dlqs``, ``queues``,
#: ``archive`` (the bus's archive) and ``replays`` (the replays ``o2c replay`` names ``<bus>-...``).
Grant = tuple[str, tuple[str, ...]]
RESOLVE_GRANTS: tuple[Grant, ...] = (("stack", ("cloudformation:DescribeStacks",)),)
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


def operator_statements(commands: Sequence[str], resources: Mapping[str, Sequence[Any]]) -> list[Statement]:
    """One statement per resource kind, with the actions the commands need on it (kinds a stage does not have,
    such as ``stack`` in the embedded cloud, are left out when ``resources`` has none for them)."""
    by_kind: dict[str, set[str]] = {}
    for command in ("resolve", *commands):
        for kind, actions in RESOLVE_GRANTS if command == "resolve" else COMMAND_GRANTS[command]:
            by_kind.setdefault(kind, set()).update(actions)
    return [
        _statement(sorted(actions), resources[kind])
        for kind, actions in sorted(by_kind.items())
        if resources.get(kind)
    ]


# --- the embedded cloud's names ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalArns:
    """The ARNs of one local stage's resources (``localcloud.provision``)."""

    region: str
    account: str
    stage: str
    tables: Mapping[str, str] = field(default_factory=dict)  # table id → name
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret id → ARN
    bus_arn: str = ""
    archive_name: str = ""
    claim_check_bucket: str = ""
    queues: Mapping[str, str] = field(default_factory=dict)  # consumer id → queue ARN
    dlqs: Mapping[str, str] = field(default_factory=dict)  # consumer id → DLQ ARN
    state_machine_arn: str = ""
    #: function id → the function's name where it exists as a Lambda function (the invoked ones)
    lambda_functions: Mapping[str, str] = field(default_factory=dict)

    def log_group(self, function_id: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws/lambda/o2c-{self.stage}-{function_id}:*"

    def table(self, table_id: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.tables[table_id]}"

    def secret(self, secret_id: str) -> str:
        return self.secrets[secret_id]

    def bus(self) -> str:
        return self.bus_arn

    def claim_check_objects(self, prefix: str) -> str:
        return f"arn:aws:s3:::{self.claim_check_bucket}/{prefix}"

    def queue(self, consumer_id: str) -> str | None:
        return self.queues.get(consumer_id)

    def state_machine(self) -> str:
        return self.state_machine_arn

    def state_machine_ref(self) -> str:
        return self.state_machine_arn

    def executions(self) -> str:
        name = self.state_machine_arn.rsplit(":", 1)[-1]
        return f"arn:aws:states:{self.region}:{self.account}:execution:{name}:*"

    def dead_letter_queues(self) -> list[str]:
        return sorted(self.dlqs.values())  # no scheduler locally: the consumers' DLQs

    def function(self, function_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.lambda_functions[function_id]}"

    def live_alias(self, function_id: str) -> str:
        return f"{self.function(function_id)}:{LIVE_ALIAS}"

    def operator_resources(self) -> dict[str, list[str]]:
        """The operators' resource kinds in the embedded cloud (no CloudFormation stack: local.json resolves)."""
        return {
            "executions": [self.executions()],
            "state_machine": [self.state_machine_arn],
            "bus": [self.bus_arn],
            "archive": [f"arn:aws:events:{self.region}:{self.account}:archive/{self.archive_name}"],
            "replays": [
                f"arn:aws:events:{self.region}:{self.account}:replay/{self.bus_arn.rsplit('/', 1)[-1]}-*"
            ],
            "reconciler": [self.live_alias("Reconciler")] if "Reconciler" in self.lambda_functions else [],
            "functions": [self.function(f) for f in sorted(self.lambda_functions)],
            "secrets": sorted(self.secrets.values()),
            "queues": sorted(self.queues.values()),
            "dlqs": sorted(self.dlqs.values()),
            **{f"table:{table_id}": [self.table(table_id)] for table_id in self.tables},
        }
