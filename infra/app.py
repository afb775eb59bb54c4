"""CDK app: ``python -m infra.app [-c stage=prod]`` (or ``cdk synth -c stage=prod``) → cdk.out.

Stage and settings come from CDK context; ``cdk.json`` supplies the defaults and feature flags, also
when the app runs without the CDK CLI. cdk-nag's AwsSolutions pack validates every synth: an
unacknowledged finding fails it (see validation-report.json in the assembly).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import StageConfig
from infra.stack import O2CHubStack, stack_name

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """Context from cdk.json (the CLI passes it itself; running ``python -m infra.app`` does not)."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def stage_config(app: App, stage: str | None = None) -> StageConfig:
    stage = stage or app.node.try_get_context("stage")
    if not stage:
        raise ValueError("no stage: pass -c stage=<name> (cdk.json defaults to dev)")
    per_stage = app.node.try_get_context("stages") or {}
    return StageConfig.from_context(stage, per_stage.get(stage))


def add_stage(app: App, stage: str | None = None) -> O2CHubStack:
    config = stage_config(app, stage)
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    return O2CHubStack(app, stack_name(config.stage), config=config, env=env)


def create_app(
    context: dict[str, Any] | None = None, *, outdir: str | None = None, stages: Sequence[str] = ()
) -> tuple[App, list[O2CHubStack]]:
    """An app with one stack per stage (default: the context's stage) and cdk-nag AwsSolutions checks."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    stacks = [add_stage(app, stage) for stage in stages] if stages else [add_stage(app)]
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stacks


def _cli_context(argv: Sequence[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` when run as ``python -m infra.app``."""
    context: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            key, _, value = next(args, "").partition("=")
            if not key or not value:
                raise SystemExit(f"expected {arg} key=value")
            context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> None:
    outdir = None if os.environ.get("CDK_OUTDIR") else str(REPO_ROOT / "cdk.out")
    app, stacks = create_app(_cli_context(sys.argv[1:] if argv is None else argv), outdir=outdir)
    app.synth()
    for stack in stacks:
        print(f"synthesized {stack.stack_name} → {app.outdir}")


if __name__ == "__main__":
    main()
