"""The shared Lambda layer: third-party packages for the Lambda platform plus ``shared/``."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from infra.nag import acknowledge
from infra.topology import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, LAYER_PYTHON_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = REPO_ROOT / "build" / "layer"
LAYER_MARKER = LAYER_DIR / ".built"

RUNTIMES = {r.name: r for r in (lambda_.Runtime.PYTHON_3_13, lambda_.Runtime.PYTHON_3_14)}
ARCHITECTURES = {a.name: a for a in (lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64)}


def runtime() -> lambda_.Runtime:
    return RUNTIMES[LAMBDA_RUNTIME]


def architecture() -> lambda_.Architecture:
    return ARCHITECTURES[LAMBDA_ARCHITECTURE]


def acknowledge_runtime(scope: IConstruct) -> None:
    """AwsSolutions-L1 (not the latest runtime) for the functions under ``scope``: the runtime is chosen."""
    acknowledge(
        scope,
        "L1",
        f"{LAMBDA_RUNTIME} on purpose: the layer ships bytecode, which CPython reads only from its own minor "
        f"version, and {LAYER_PYTHON_VERSION} is the newest Python the layer is compiled with "
        "(scripts/build_layer.py); a newer runtime would compile the whole layer at every cold start.",
    )


class LayerMissingError(RuntimeError):
    pass


class SharedLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, layer_dir: Path = LAYER_DIR) -> None:
        super().__init__(scope, construct_id)
        if not (layer_dir / ".built").is_file():
            raise LayerMissingError(
                f"the Lambda layer is not built ({layer_dir / '.built'} is missing): run `make layer`"
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            # __pycache__ stays: the layer's bytecode, compiled by the runtime's Python (scripts/build_layer.py)
            code=lambda_.Code.from_asset(str(layer_dir), exclude=[".built"]),
            compatible_runtimes=[runtime()],
            compatible_architectures=[architecture()],
            description="O2C Hub runtime dependencies (Powertools, pydantic) and the shared package",
        )
