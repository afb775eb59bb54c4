"""The deploy pipeline as ``cdk.json`` declares it synthesizes in-process, without Docker or the network, and
deploys what it says: source → synth (tests, cdk-nag, cfn-lint) → schema gate → dev → staging → approval →
prod-eu ‖ prod-us, each deployment followed by ``o2c doctor`` and ``o2c smoke`` in the stage's account."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, require_layer
from tests.infra.helpers import resources_of

pytestmark = pytest.mark.infra

CDK_JSON_PIPELINE = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["pipeline"]


@dataclass
class PipelineSynth:
    outdir: Path
    template: dict[str, Any]
    #: stage name → its stack's template
    stage_templates: dict[str, dict[str, Any]]
    #: stage name → "aws://account/region" of its stack
    stage_envs: dict[str, str]
    validation_report: dict[str, Any]
    error: str | None


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> PipelineSynth:
    require_layer()
    from infra.pipeline import create_pipeline_app

    outdir = tmp_path_factory.mktemp("pipeline.out")
    # Assets are not copied into the assembly (the layer's staging is tested in test_layer.py): faster.
    app, stack = create_pipeline_app({"aws:cdk:disable-asset-staging": True}, outdir=str(outdir))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag's ValidationFailed
        error = str(exc)
    template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    stage_templates, stage_envs = {}, {}
    for name, stage in stack.stages.items():
        assembly = outdir / f"assembly-{name}"
        manifest = json.loads((assembly / "manifest.json").read_text())
        artifact = stage.hub.artifact_id
        stage_envs[name] = manifest["artifacts"][artifact]["environment"]
        stage_templates[name] = json.loads((assembly / f"{artifact}.template.json").read_text())
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    return PipelineSynth(outdir, template, stage_templates, stage_envs, report, error)


def _stages(synth: PipelineSynth) -> list[dict[str, Any]]:
    (pipeline,) = resources_of(synth.template, "AWS::CodePipeline::Pipeline").values()
    return list(pipeline["Properties"]["Stages"])


def _stage(synth: PipelineSynth, name: str) -> list[dict[str, Any]]:
    (stage,) = [s for s in _stages(synth) if s["Name"] == name]
    return list(stage["Actions"])


def _commands(synth: PipelineSynth, action: dict[str, Any]) -> list[str]:
    """The shell commands of a CodeBuild action's project (its buildspec)."""
    project = synth.template["Resources"][action["Configuration"]["ProjectName"]["Ref"]]
    spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    return [c for phase in spec["phases"].values() for c in phase.get("commands", [])]


def _deployments() -> list[tuple[str, str, str, str]]:
    """(wave, stage, account, region) as cdk.json declares them."""
    return [
        (wave["name"], d["stage"], d["account"], d["region"])
        for wave in CDK_JSON_PIPELINE["waves"]
        for d in wave["stages"]
    ]


def test_pipeline_synthesizes_with_cdk_nag_clean(synth: PipelineSynth) -> None:
    findings = [
        f"{v['ruleName']} at " + ", ".join(c["constructPath"] for c in v["violatingConstructs"])
        for report in synth.validation_report["pluginReports"]
        for v in report.get("violations", [])
    ]
    assert findings == []
    assert synth.error is None, synth.error


def test_pipeline_synth_needs_neither_docker_nor_the_network(synth: PipelineSynth) -> None:
    manifests = list(synth.outdir.rglob("manifest.json"))
    assets = list(synth.outdir.rglob("*.assets.json"))
    assert len(manifests) == 1 + len(synth.stage_templates) and assets
    # no context lookup was needed (a lookup asks AWS, and is recorded as "missing" until it has)
    assert all("missing" not in json.loads(m.read_text()) for m in manifests)
    # no image asset: only those are built with Docker (the layer and the functions are directories)
    for manifest in assets:
        content = json.loads(manifest.read_text())
        assert content.get("dockerImages", {}) == {}, manifest.name


def test_pipeline_runs_source_synth_then_dev_staging_prod_in_that_order(synth: PipelineSynth) -> None:
    names = [s["Name"] for s in _stages(synth)]
    assert names[:2] == ["Source", "Build"]
    assert [n for n in names if n not in {"Source", "Build", "UpdatePipeline", "Assets"}] == [
        "dev",
        "staging",
        "prod",
    ]
    (source,) = _stage(synth, "Source")
    config = source["Configuration"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert config["ConnectionArn"] == CDK_JSON_PIPELINE["connectionArn"]
    assert config["FullRepositoryId"] == CDK_JSON_PIPELINE["repository"]
    assert config["BranchName"] == CDK_JSON_PIPELINE["branch"]
    # the build steps get a git clone (history and tags for the schema gate), not a zip
    assert config["OutputArtifactFormat"] == "CODEBUILD_CLONE_REF"


def test_synth_step_runs_the_tests_the_pipeline_app_and_cfn_lint(synth: PipelineSynth) -> None:
    (build,) = _stage(synth, "Build")
    commands = _commands(synth, build)
    assert "make test" in commands
    synth_at = commands.index(".venv/bin/python -m infra.pipeline")
    assert commands.index("make test") < synth_at
    lints = [c for c in commands if "cfn-lint" in c]
    assert any("cdk.out/assembly-*/*.template.json" in c for c in lints)
    assert any("O2CHub-pipeline.template.json" in c for c in lints)
    assert all(commands.index(c) > synth_at for c in lints)


def test_schema_gate_runs_before_the_first_deployment(synth: PipelineSynth) -> None:
    actions = _stage(synth, "dev")
    (gate,) = [a for a in actions if a["Name"] == "SchemaGate"]
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
    assert ".venv/bin/python -m scripts.schema_gate" in _commands(synth, gate)
    assert deploys and gate["RunOrder"] < min(a["RunOrder"] for a in deploys)


def test_production_waits_for_a_manual_approval_and_nothing_else_does(synth: PipelineSynth) -> None:
    approvals = {
        stage["Name"]: [a for a in stage["Actions"] if a["ActionTypeId"]["Category"] == "Approval"]
        for stage in _stages(synth)
    }
    assert {name for name, found in approvals.items() if found} == {"prod"}
    (approval,) = approvals["prod"]
    prod_deploys = [a for a in _stage(synth, "prod") if a["ActionTypeId"]["Category"] == "Deploy"]
    assert {a["Configuration"]["StackName"] for a in prod_deploys} == {"O2CHub-prod-eu", "O2CHub-prod-us"}
    assert approval["RunOrder"] < min(a["RunOrder"] for a in prod_deploys)


@pytest.mark.parametrize(("wave", "stage", "account", "region"), _deployments())
def test_each_stage_deploys_to_its_account_and_region_then_runs_doctor_and_smoke(
    synth: PipelineSynth, wave: str, stage: str, account: str, region: str
) -> None:
    # Given the stage's stack, as the nested assembly names its environment
    assert synth.stage_envs[stage] == f"aws://{account}/{region}"
    actions = _stage(synth, wave)
    stack = f"O2CHub-{stage}"
    deploys = [a for a in actions if a["Configuration"].get("StackName") == stack]
    assert len(deploys) == 2  # prepare the change set, execute it
    # a stage in another region than the pipeline's is deployed there (its data stays in its region)
    expected_region = None if region == CDK_JSON_PIPELINE["region"] else region
    assert {a.get("Region") for a in deploys} == {expected_region}
    executed = max(a["RunOrder"] for a in deploys)

    # Then, after the deployment, the doctor and then the smoke run against that stack, in its account
    (doctor,) = [a for a in actions if a["Name"].endswith(f"Doctor-{stage}")]
    (smoke,) = [a for a in actions if a["Name"].endswith(f"Smoke-{stage}")]
    assert executed < doctor["RunOrder"] < smoke["RunOrder"]
    role = f"arn:aws:iam::{account}:role/o2c-{stage}-pipeline-verifier"
    for action, command in ((doctor, "doctor"), (smoke, "smoke")):
        commands = _commands(synth, action)
        assert f"aws configure set profile.o2c-{stage}.role_arn {role}" in commands
        assert (
            f"AWS_PROFILE=o2c-{stage} .venv/bin/o2c {command} --stack {stack} --region {region}" in commands
        )


@pytest.mark.parametrize(("wave", "stage", "account", "region"), _deployments())
def test_each_stage_lets_only_the_pipelines_verifier_read_it(
    synth: PipelineSynth, wave: str, stage: str, account: str, region: str
) -> None:
    template = synth.stage_templates[stage]
    roles = [
        r["Properties"]
        for r in resources_of(template, "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == f"o2c-{stage}-pipeline-verifier"
    ]
    assert len(roles) == 1
    (statement,) = roles[0]["AssumeRolePolicyDocument"]["Statement"]
    pipeline_account = CDK_JSON_PIPELINE["account"]
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{pipeline_account}:role/o2c-pipeline-verifier"}
    }
    assert pipeline_account in json.dumps(statement["Principal"])
    # the read-only operator policy (doctor and smoke are read-only commands), nothing else
    read_only = template["Outputs"]["ReadOnlyOperatorPolicyArn"]["Value"]
    assert roles[0]["ManagedPolicyArns"] == [read_only]
    assert "Policies" not in roles[0]


def test_pipeline_template_passes_cfn_lint_as_the_synth_step_runs_it(synth: PipelineSynth) -> None:
    from infra.pipeline import CFN_LINT_IGNORED_PIPELINE

    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "parseable",
            "--ignore-checks",
            *CFN_LINT_IGNORED_PIPELINE,
            "--",
            str(synth.outdir / "O2CHub-pipeline.template.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the settings, checked before anything is built ---------------------------------------------------------


def _context(**changes: Any) -> dict[str, Any]:
    settings = json.loads(json.dumps(CDK_JSON_PIPELINE))
    settings.update(changes)
    return {"pipeline": settings}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": "1234"}, "pipeline.account"),
        ({"connectionArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x"}, "connectionArn"),
        ({"repository": "o2c-hub"}, "owner/name"),
        (
            {
                "waves": [
                    {
                        "name": "prod",
                        "approval": True,
                        "stages": [{"stage": "p", "account": "4" * 12, "region": "eu-west-1"}],
                    }
                ]
            },
            "first wave",
        ),
        (
            {
                "waves": [
                    {"name": "dev", "stages": [{"stage": "dev", "account": "2" * 12, "region": "mars-1"}]}
                ]
            },
            "region",
        ),
    ],
)
def test_wrong_pipeline_settings_fail_with_what_to_fix(changes: dict[str, Any], message: str) -> None:
    from infra.pipeline import PipelineConfig

    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_context(_context(**changes))


def test_every_account_and_region_has_exactly_one_owner_of_the_api_gateway_setting() -> None:
    from infra.config import StageConfig
    from infra.pipeline import PipelineConfig, _check_api_gateway_account_owners

    config = PipelineConfig.from_context(_context())
    owners = {d.stage: StageConfig(stage=d.stage, api_gateway_account_role=True) for d in config.deployments}
    _check_api_gateway_account_owners(config, owners)  # cdk.json: one stage per account and region

    # two stages in one account and region both owning it: refused
    shared = _context(
        waves=[
            {"name": "dev", "stages": [{"stage": "dev", "account": "2" * 12, "region": "eu-west-1"}]},
            {"name": "staging", "stages": [{"stage": "staging", "account": "2" * 12, "region": "eu-west-1"}]},
        ]
    )
    config = PipelineConfig.from_context(shared)
    both = {s: StageConfig(stage=s, api_gateway_account_role=True) for s in ("dev", "staging")}
    with pytest.raises(ValueError, match="exactly one stage per account and region"):
        _check_api_gateway_account_owners(config, both)
    neither = {s: StageConfig(stage=s) for s in ("dev", "staging")}
    with pytest.raises(ValueError, match="none"):
        _check_api_gateway_account_owners(config, neither)
