"""One Lambda function per topology FunctionSpec, each with its own role, log group and exact grants."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.layer import REPO_ROOT, acknowledge_runtime, architecture, runtime
from infra.iam import CLAIM_CHECK_ACTIONS, SECRET_READ, table_actions
from infra.nag import acknowledge
from infra.topology import (
    CLAIM_CHECK_KEY_PREFIX,
    FUNCTIONS,
    LIVE_ALIAS,
    FunctionSpec,
    Resolved,
    claim_check_access,
    function_environment,
)


class HubFunction(Construct):
    """A function, its log group, a role that holds only what the FunctionSpec asks for, and its ``live`` alias.

    Every deploy that changes the function (code, configuration, layer) publishes a new version
    (``current_version``; old versions are retained, so there is one to roll back to) and moves the alias to
    it through CodeDeploy (infra/constructs/deployments.py). Whatever invokes the function invokes the alias.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        config: StageConfig,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(self, "Logs", retention=config.log_retention)
        # Own role instead of the default one: AWSLambdaBasicExecutionRole would allow writing to any log group.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.id}: its log group, its tables, its secrets",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            code=lambda_.Code.from_asset(str(REPO_ROOT / spec.code_dir), exclude=["__pycache__", "*.pyc"]),
            handler=spec.handler,
            runtime=runtime(),
            architecture=architecture(),
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            layers=[layer],
            environment=dict(environment),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            # A deploy's old version stays (CDK would delete it after the update): `o2c rollback` moves the
            # alias back to it. Versions accumulate against the regional code storage quota (75 GB).
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        )
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            description=f"{spec.id}: the version that takes traffic (shifted by CodeDeploy)",
        )
        acknowledge(
            self.role,
            "IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; "
            "the only Resource::* statement is the one Tracing.ACTIVE adds.",
        )


class Functions(Construct):
    """All functions of topology.FUNCTIONS, keyed by FunctionSpec.id."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        layer: lambda_.ILayerVersion,
        tables: Mapping[str, dynamodb.ITable],
        secrets: Mapping[str, secretsmanager.ISecret],
        bus: events.IEventBus,
        claim_checks: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        acknowledge_runtime(self)
        resolved = Resolved(
            stage=config.stage,
            table_names={table_id: table.table_name for table_id, table in tables.items()},
            secret_refs={secret_id: secret.secret_arn for secret_id, secret in secrets.items()},
            event_bus_name=bus.event_bus_name,
            log_level=config.log_level,
            settings=config.stage_settings(),
            claim_check_bucket=claim_checks.bucket_name,
        )
        self.functions: dict[str, HubFunction] = {}
        for spec in FUNCTIONS:
            hub_function = HubFunction(
                self,
                spec.id,
                spec=spec,
                config=config,
                layer=layer,
                environment=function_environment(spec, resolved),
            )
            _grant(
                hub_function.function,
                spec,
                tables=tables,
                secrets=secrets,
                bus=bus,
                claim_checks=claim_checks,
            )
            self.functions[spec.id] = hub_function

    def function(self, function_id: str) -> lambda_.Function:
        return self.functions[function_id].function

    @property
    def aliases(self) -> dict[str, lambda_.Alias]:
        """FunctionSpec.id → its ``live`` alias: what every invoker targets."""
        return {fn_id: f.alias for fn_id, f in self.functions.items()}


def _grant(
    function: lambda_.Function,
    spec: FunctionSpec,
    *,
    tables: Mapping[str, dynamodb.ITable],
    secrets: Mapping[str, secretsmanager.ISecret],
    bus: events.IEventBus,
    claim_checks: s3.IBucket,
) -> None:
    for table_id in spec.tables:
        tables[table_id].grant(function, *table_actions(spec, table_id))
    for secret_id in spec.secrets:
        # its value only (infra.iam.SECRET_READ), not Secret.grant_read's DescribeSecret too
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(SECRET_READ), resources=[secrets[secret_id].secret_arn])
        )
    if spec.publishes_events:
        bus.grant_put_events_to(function)
    # Exactly the object actions under the claim-check prefix (infra.iam.CLAIM_CHECK_ACTIONS).
    bucket_access = claim_check_access(spec)
    if bucket_access is None:
        return
    s3_actions = list(CLAIM_CHECK_ACTIONS[bucket_access])
    objects = claim_checks.arn_for_objects(f"{CLAIM_CHECK_KEY_PREFIX}*")
    function.add_to_role_policy(iam.PolicyStatement(actions=s3_actions, resources=[objects]))
    stack = Stack.of(function)
    bucket_id = stack.resolve(stack.get_logical_id(claim_checks.node.default_child))  # type: ignore[arg-type]
    acknowledge(
        function.role,  # type: ignore[arg-type]
        f"IAM5[Resource::<{bucket_id}.Arn>/{CLAIM_CHECK_KEY_PREFIX}*]",
        "Claim checks are keyed by event id at run time; the grant is one action on the bucket's events/ prefix.",
    )
