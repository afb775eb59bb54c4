"""The layer ships compiled modules built for the Lambda platform (arm64), never for this host."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from infra.topology import LAYER_PYTHON_VERSION
from tests.infra.conftest import LAYER_MARKER, REPO_ROOT, require_layer

pytestmark = pytest.mark.infra

SITE = LAYER_MARKER.parent / "python"
EM_X86_64 = 0x3E
EM_AARCH64 = 0xB7


def _e_machine(binary: Path) -> int:
    header = binary.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{binary} is not an ELF file"
    byteorder = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byteorder)


def test_pydantic_core_is_built_for_lambda_arm64() -> None:
    require_layer()
    # Given the packaged layer
    (extension,) = SITE.glob("pydantic_core/_pydantic_core*.so")
    py_tag = "cpython-" + LAYER_PYTHON_VERSION.replace(".", "")

    # Then its compiled module is tagged and built for aarch64 and the layer's Python
    assert "aarch64" in extension.name
    assert py_tag in extension.name
    assert _e_machine(extension) == EM_AARCH64
    # And it is not what this machine would have built
    assert _e_machine(Path(sys.executable).resolve()) != EM_AARCH64


def test_every_compiled_module_targets_arm64() -> None:
    require_layer()
    extensions = list(SITE.rglob("*.so"))
    assert extensions
    assert {_e_machine(so) for so in extensions} == {EM_AARCH64}


def test_layer_holds_shared_sources_and_not_the_runtime_sdk() -> None:
    require_layer()
    shared_sources = {p.relative_to(REPO_ROOT / "shared") for p in (REPO_ROOT / "shared").rglob("*.py")}
    packaged = {p.relative_to(SITE / "shared") for p in (SITE / "shared").rglob("*.py")}
    assert shared_sources <= packaged, "the layer is older than shared/: run `make layer`"
    assert not list(SITE.rglob("__pycache__"))
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (SITE / provided).exists(), f"{provided} comes with the Lambda runtime"
    assert (SITE / "aws_lambda_powertools").is_dir()
    assert (SITE / "pydantic").is_dir()
