"""The deploy pipeline (CDK Pipelines): ``python -m infra.pipeline`` → ``cdk.out`` (the pipeline stack and,
as nested assemblies, every stage it deploys).

Source → Synth → SchemaGate → dev → staging → (approval) → prod-eu ‖ prod-us, from ``cdk.json`` →
``context.pipeline``:

- **Source**: the repository and branch through a CodeStar (CodeConnections) connection, whose ARN is
  context, not a secret; the clone keeps its git history (``code_build_clone_output``) for the schema gate.
- **Synth** (CodeBuild): ``make test`` (the whole suite, cdk-nag included: every synth of the hub runs the
  AwsSolutions pack and fails on an unacknowledged finding), then this module's synth, then ``cfn-lint`` on
  every synthesized template. Its ``cdk.out`` is what every later step deploys.
- **SchemaGate**: ``python -m scripts.schema_gate`` (compares the canonical event schemas and the public API
  with the last release) before the first deployment.
- **Waves** of stages, in order; each stage is one :class:`HubStage` holding the ``O2CHubStack`` in the
  account and region the context names (an EU and a US production stage keep each region's data in it).
  After each deployment, ``o2c doctor --stack`` and ``o2c smoke --stack`` run from the pipeline account
  through a role the stage creates for them (:data:`VERIFIER_ROLE`), holding the stage's read-only
  operator policy. A wave marked ``approval`` waits for a manual approval first.

Nothing here needs Docker or the network to synthesize: the assets are the layer and function directories.
The pipeline stack deploys once by hand (``cdk deploy --app "python -m infra.pipeline"``); it then updates
itself from the repository (self-mutation). README → "Deploy pipeline" has the bootstrap commands.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import App, Environment, Stack, Stage, Validations, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.app import REPO_ROOT, cdk_json_context, stage_config
from infra.config import StageConfig
from infra.nag import acknowledge
from infra.stack import O2CHubStack, stack_name

PIPELINE_STACK_NAME = "O2CHub-pipeline"
#: The role in the pipeline account the doctor and smoke steps run as; each stage's verifier role trusts it.
PIPELINE_VERIFIER_ROLE = "o2c-pipeline-verifier"
#: The primary output of the synth step: the cloud assembly the deployments use.
SYNTH_OUTPUT = "cdk.out"
#: cfn-lint checks the synth step ignores on the stages' templates (tests/infra/test_compliance.py says why) ...
CFN_LINT_IGNORED = ("W3005",)
#: ... and on the pipeline's own: CDK Pipelines writes its ARNs with Fn::Join, which E3703 would have as Fn::Sub.
CFN_LINT_IGNORED_PIPELINE = (*CFN_LINT_IGNORED, "E3703")


def cfn_lint_commands(outdir: str = "cdk.out") -> list[str]:
    """cfn-lint over every template of the pipeline's cloud assembly (cfn-lint expands the quoted globs)."""
    lint = ".venv/bin/cfn-lint --format parseable --ignore-checks"
    return [
        f"{lint} {' '.join(CFN_LINT_IGNORED)} -- '{outdir}/assembly-*/*.template.json'",
        f"{lint} {' '.join(CFN_LINT_IGNORED_PIPELINE)} -- '{outdir}/{PIPELINE_STACK_NAME}.template.json' "
        f"'{outdir}/cross-region-stack-*.template.json'",
    ]


#: CodeBuild image and runtimes: Ubuntu standard:7.0 installs its Pythons with pyenv, so the venv runs the
#: project's Python (3.11) and ``make layer`` finds the functions' 3.13 among pyenv's versions.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "22"}

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_CONNECTION = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/\S+$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def verifier_role_name(stage: str) -> str:
    """The role each stage creates for the pipeline's doctor and smoke steps (IAM role names are per account,
    so the stage's name is in it)."""
    return f"o2c-{stage}-pipeline-verifier"


@dataclass(frozen=True)
class Deployment:
    stage: str
    account: str
    region: str

    @property
    def stack_name(self) -> str:
        return stack_name(self.stage)


@dataclass(frozen=True)
class Wave:
    name: str
    deployments: tuple[Deployment, ...]
    #: a manual approval before the wave deploys (production)
    approval: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    account: str
    region: str
    connection_arn: str
    repository: str
    branch: str
    waves: tuple[Wave, ...]

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> PipelineConfig:
        """``context["pipeline"]``, checked: a wrong account or region fails the synth, not the deployment."""
        settings = context.get("pipeline")
        if not isinstance(settings, Mapping):
            raise ValueError("no pipeline settings: cdk.json → context.pipeline (README → Deploy pipeline)")
        waves = tuple(
            Wave(
                name=str(wave["name"]),
                approval=bool(wave.get("approval", False)),
                deployments=tuple(
                    Deployment(stage=str(d["stage"]), account=str(d["account"]), region=str(d["region"]))
                    for d in wave["stages"]
                ),
            )
            for wave in settings.get("waves", [])
        )
        config = cls(
            account=str(settings.get("account", "")),
            region=str(settings.get("region", "")),
            connection_arn=str(settings.get("connectionArn", "")),
            repository=str(settings.get("repository", "")),
            branch=str(settings.get("branch", "")),
            waves=waves,
        )
        config.check()
        return config

    @property
    def deployments(self) -> tuple[Deployment, ...]:
        return tuple(d for wave in self.waves for d in wave.deployments)

    def check(self) -> None:
        problems = []
        if not _ACCOUNT.match(self.account):
            problems.append(f"pipeline.account {self.account!r} is not a 12-digit AWS account id")
        if not _REGION.match(self.region):
            problems.append(f"pipeline.region {self.region!r} is not an AWS region")
        if not _CONNECTION.match(self.connection_arn):
            problems.append(
                "pipeline.connectionArn must be a CodeStar connection ARN "
                "(arn:aws:codeconnections:<region>:<account>:connection/<id>)"
            )
        if not _REPOSITORY.match(self.repository):
            problems.append(f"pipeline.repository {self.repository!r} must be owner/name")
        if not self.branch:
            problems.append("pipeline.branch is empty")
        if not self.deployments:
            problems.append("pipeline.waves deploy no stage")
        if self.waves and self.waves[0].approval:
            problems.append("the first wave cannot wait for an approval: nothing was deployed before it")
        stages = [d.stage for d in self.deployments]
        if len(stages) != len(set(stages)):
            problems.append(f"a stage is deployed twice: {stages}")
        for d in self.deployments:
            if not _ACCOUNT.match(d.account):
                problems.append(f"stage {d.stage}: account {d.account!r} is not a 12-digit AWS account id")
            if not _REGION.match(d.region):
                problems.append(f"stage {d.stage}: region {d.region!r} is not an AWS region")
        if problems:
            raise ValueError("; ".join(problems))


class HubStage(Stage):
    """One deployment: the hub's stack in its account and region, plus the role the pipeline's doctor and
    smoke steps assume there (the stage's read-only operator policy, nothing else)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        deployment: Deployment,
        pipeline_account: str,
    ) -> None:
        super().__init__(
            scope, construct_id, env=Environment(account=deployment.account, region=deployment.region)
        )
        self.deployment = deployment
        self.hub = O2CHubStack(self, "Hub", stack_name=deployment.stack_name, config=config)
        read_only = self.hub.node.find_child("Operators").read_only_policy  # type: ignore[attr-defined]
        self.verifier_role = iam.Role(
            self.hub,
            "PipelineVerifierRole",
            role_name=verifier_role_name(deployment.stage),
            description=f"O2C Hub pipeline: o2c doctor and o2c smoke on {deployment.stack_name} (read only)",
            # the account, narrowed to the pipeline's verifier role (a trust naming a role must find it
            # at deploy time; the condition does not, so the stage deploys whatever exists first)
            assumed_by=iam.AccountPrincipal(pipeline_account).with_conditions(
                {
                    "ArnEquals": {
                        "aws:PrincipalArn": f"arn:aws:iam::{pipeline_account}:role/{PIPELINE_VERIFIER_ROLE}"
                    }
                }
            ),
            managed_policies=[read_only],
        )


def _verify_commands(deployment: Deployment, command: str) -> list[str]:
    """Run ``o2c <command> --stack`` in the stage's account, as its verifier role (CodeBuild's credentials
    are the container's: the profile assumes the role from them)."""
    profile = f"o2c-{deployment.stage}"
    role_arn = f"arn:aws:iam::{deployment.account}:role/{verifier_role_name(deployment.stage)}"
    return [
        f"aws configure set profile.{profile}.role_arn {role_arn}",
        f"aws configure set profile.{profile}.credential_source EcsContainer",
        f"aws configure set profile.{profile}.region {deployment.region}",
        f"AWS_PROFILE={profile} .venv/bin/o2c {command} --stack {deployment.stack_name} "
        f"--region {deployment.region}",
    ]


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        stage_configs: Mapping[str, StageConfig],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description="O2C Hub deploy pipeline: source, synth, schema gate, dev, staging, prod",
            **kwargs,
        )
        self.config = config
        source = pipelines.CodePipelineSource.connection(
            config.repository,
            config.branch,
            connection_arn=config.connection_arn,
            code_build_clone_output=True,  # the schema gate compares with the last release's git tag
        )
        self.source = source
        self.synth = pipelines.ShellStep(
            "Synth",
            input=source,
            install_commands=["make venv"],
            commands=[
                "make test",  # builds the layer (Python 3.13 bytecode) first; cdk-nag runs in tests/infra
                ".venv/bin/python -m infra.pipeline",  # every stage's template, cdk-nag on each
                *cfn_lint_commands(SYNTH_OUTPUT),
            ],
            primary_output_directory=SYNTH_OUTPUT,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="o2c-hub",
            synth=self.synth,
            cross_account_keys=True,  # the stages live in other accounts: a KMS key they can be granted
            enable_key_rotation=True,
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.MEDIUM
                ),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": dict(RUNTIME_VERSIONS)}}}
                ),
            ),
        )
        self.verifier_role = iam.Role(
            self,
            "VerifierRole",
            role_name=PIPELINE_VERIFIER_ROLE,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="O2C Hub pipeline: runs o2c doctor and o2c smoke as each stage's verifier role",
        )
        self.verifier_role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:aws:iam::{d.account}:role/{verifier_role_name(d.stage)}" for d in config.deployments
                ],
            )
        )
        self.schema_gate = pipelines.ShellStep(
            "SchemaGate",
            input=source,
            install_commands=["make venv"],
            commands=[".venv/bin/python -m scripts.schema_gate"],
        )
        self.stages: dict[str, HubStage] = {}
        for index, wave_config in enumerate(config.waves):
            pre: list[pipelines.Step] = []
            if index == 0:
                pre.append(self.schema_gate)
            if wave_config.approval:
                pre.append(
                    pipelines.ManualApprovalStep(
                        f"Promote-{wave_config.name}",
                        comment=f"Deploy to {', '.join(d.stage for d in wave_config.deployments)}? "
                        "The earlier stages passed o2c doctor and o2c smoke.",
                    )
                )
            wave = self.pipeline.add_wave(wave_config.name, pre=pre)
            for deployment in wave_config.deployments:
                stage = HubStage(
                    scope,
                    deployment.stage,
                    config=stage_configs[deployment.stage],
                    deployment=deployment,
                    pipeline_account=config.account,
                )
                self.stages[deployment.stage] = stage
                wave.add_stage(stage, post=self._verify(deployment, source))
        self.pipeline.build_pipeline()  # now: the pipeline's resources exist for acknowledgements and tests

    def _verify(self, deployment: Deployment, source: pipelines.IFileSetProducer) -> list[pipelines.Step]:
        doctor = pipelines.CodeBuildStep(
            f"Doctor-{deployment.stage}",
            input=source,
            install_commands=["make venv"],
            commands=_verify_commands(deployment, "doctor"),
            role=self.verifier_role,
        )
        smoke = pipelines.CodeBuildStep(
            f"Smoke-{deployment.stage}",
            input=source,
            install_commands=["make venv"],
            commands=_verify_commands(deployment, "smoke"),
            role=self.verifier_role,
        )
        smoke.add_step_dependency(doctor)
        return [doctor, smoke]


def create_pipeline_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[App, PipelineStack]:
    """The pipeline app: the pipeline stack in its account, every stage nested in it; cdk-nag on all."""
    app = App(context={**cdk_json_context(), **dict(context or {})}, outdir=outdir)
    merged = {key: app.node.try_get_context(key) for key in ("pipeline",)}
    config = PipelineConfig.from_context(merged)
    stage_configs = {d.stage: stage_config(app, d.stage) for d in config.deployments}
    _check_api_gateway_account_owners(config, stage_configs)
    stack = PipelineStack(app, PIPELINE_STACK_NAME, config=config, stage_configs=stage_configs)
    _acknowledge_pipeline_findings(stack)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def _check_api_gateway_account_owners(
    config: PipelineConfig, stage_configs: Mapping[str, StageConfig]
) -> None:
    """API Gateway's account setting is one per account and region: exactly one stage there must own it."""
    owners: dict[tuple[str, str], list[str]] = {}
    for d in config.deployments:
        owners.setdefault((d.account, d.region), [])
        if stage_configs[d.stage].api_gateway_account_role:
            owners[(d.account, d.region)].append(d.stage)
    wrong = {place: stages for place, stages in owners.items() if len(stages) != 1}
    if wrong:
        raise ValueError(
            "apiGatewayAccountRole must be true on exactly one stage per account and region; "
            + "; ".join(f"{a}/{r}: {stages or 'none'}" for (a, r), stages in sorted(wrong.items()))
        )


def _acknowledge_pipeline_findings(stack: PipelineStack) -> None:
    """The AwsSolutions findings CDK Pipelines' generated grants raise, each acknowledged on the construct
    that owns them (the pipeline, the verifier role, the cross-region support buckets), with the reason.
    None is ours to narrow: CDK Pipelines writes these policies and keeps them in step with its actions."""
    scopes: tuple[Construct, ...] = (stack.pipeline, stack.verifier_role)
    region, account, partition = stack.region, stack.account, stack.partition

    def ack(rules: Sequence[str], reason: str, on: Sequence[Construct] = scopes) -> None:
        for scope in on:
            for rule in rules:
                acknowledge(scope, rule, reason)

    ack(
        [f"IAM5[Action::s3:{a}]" for a in ("Abort*", "DeleteObject*", "GetBucket*", "GetObject*", "List*")]
        + [f"IAM5[Action::kms:{a}]" for a in ("GenerateDataKey*", "ReEncrypt*")],
        "CDK Pipelines grants its roles read/write on the pipeline's own artifact buckets and their KMS key "
        "(grantReadWrite): the wildcards are S3 and KMS action families on those resources only.",
    )
    artifacts = stack.pipeline.pipeline.artifact_bucket
    acknowledge(
        artifacts,
        "S1",
        "the pipeline's artifact bucket holds build outputs only, encrypted with the pipeline's KMS key; "
        "CloudTrail records who reads them.",
    )
    artifacts_id = stack.resolve(stack.get_logical_id(artifacts.node.default_child))  # type: ignore[arg-type]
    ack(
        [f"IAM5[Resource::<{artifacts_id}.Arn>/*]"],
        "the objects of the pipeline's artifact bucket: every build output of a run is a new key.",
    )
    for support in stack.pipeline.pipeline.cross_region_support.values():
        bucket = support.replication_bucket
        ack(
            [f"IAM5[Resource::arn:{partition}:s3:::{stack.resolve(bucket.bucket_name)}/*]"],
            "the objects of the pipeline's replication bucket in another region (deploying there).",
            on=(stack.pipeline,),
        )
        acknowledge(
            bucket,
            "S1",
            "the cross-region replication bucket holds the pipeline's artifacts only, encrypted with its KMS "
            "key; CloudTrail records who reads them.",
        )
    for project in stack.node.find_all():
        if not isinstance(project, codebuild.CfnProject):
            continue
        project_id = stack.resolve(stack.get_logical_id(project))
        ack(
            [
                f"IAM5[Resource::arn:{partition}:logs:{region}:{account}:log-group:/aws/codebuild/<{project_id}>:*]",
                f"IAM5[Resource::arn:{partition}:codebuild:{region}:{account}:report-group/<{project_id}>-*]",
            ],
            "a CodeBuild project's own log streams and report groups, named at run time.",
        )
    ack(
        [
            f"IAM5[Resource::arn:{partition}:logs:{region}:{account}:log-group:/aws/codebuild/*]",
            f"IAM5[Resource::arn:{partition}:codebuild:{region}:{account}:report-group/*]",
        ],
        "CDK Pipelines' asset publishing projects share one role over their log groups and report groups.",
        on=(stack.pipeline,),
    )
    ack(
        ["IAM5[Resource::*]", f"IAM5[Resource::arn:*:iam::{account}:role/*]"],
        "CDK Pipelines: self-mutation reads any stack and assumes the CDK bootstrap roles (named per "
        "qualifier, account and region), the asset role assumes the bootstrap file-publishing roles, and the "
        "pipeline role assumes its actions' roles; CodePipeline's and CloudFormation's describe calls take no "
        "resource.",
        on=(stack.pipeline,),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from infra.app import _cli_context

    outdir = None if os.environ.get("CDK_OUTDIR") else str(REPO_ROOT / SYNTH_OUTPUT)
    app, stack = create_pipeline_app(_cli_context(sys.argv[1:] if argv is None else argv), outdir=outdir)
    app.synth()
    print(f"synthesized {stack.stack_name} and {', '.join(stack.stages)} → {app.outdir}")


if __name__ == "__main__":
    main()
