"""The layer ships compiled modules built for the Lambda platform (arm64), never for this host, and the
bytecode of the functions' runtime (``/opt`` is read-only: without it every cold start compiles the layer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.topology import LAMBDA_RUNTIME, LAYER_PYTHON_VERSION
from scripts import build_layer as scripts_build_layer
from tests.infra.conftest import LAYER_MARKER, REPO_ROOT, Synthesized, require_layer
from tests.infra.helpers import resources_of

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
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (SITE / provided).exists(), f"{provided} comes with the Lambda runtime"
    assert (SITE / "aws_lambda_powertools").is_dir()
    assert (SITE / "pydantic").is_dir()


#: ``importlib.util.MAGIC_NUMBER`` of each Lambda Python runtime: the first 4 bytes of every ``.pyc`` that
#: runtime accepts (CPython's Lib/importlib/_bootstrap_external.py; 3.13 = 3571).
RUNTIME_MAGIC = {"python3.13": (3571).to_bytes(2, "little") + b"\r\n"}
#: ``.pyc`` flags (PEP 552): bit 0 = hash-based, bit 1 = check the source. Unchecked hash = 0b01.
UNCHECKED_HASH = 0b01


def _pyc_of(source: Path) -> Path:
    tag = "cpython-" + LAYER_PYTHON_VERSION.replace(".", "")
    return source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def test_layer_bytecode_is_compiled_by_the_functions_runtime() -> None:
    require_layer()
    # Given the packaged layer and the runtime the functions declare
    magic = RUNTIME_MAGIC[LAMBDA_RUNTIME]
    sources = sorted(SITE.rglob("*.py"))
    assert len(sources) > 100

    # Then every module has its bytecode for that runtime, which the runtime accepts as is
    missing = [str(s.relative_to(SITE)) for s in sources if not _pyc_of(s).is_file()]
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:3]}: run `make layer`"
    for source in sources:
        header = _pyc_of(source).read_bytes()[:16]
        assert header[:4] == magic, f"{_pyc_of(source)} was compiled by another Python than {LAMBDA_RUNTIME}"
        # hash-based and never checked against the source: no timestamp in the asset can invalidate it
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH
    # And no other version's bytecode is shipped (it would be dead weight)
    assert {p.name.split(".")[-2] for p in SITE.rglob("*.pyc")} == {_pyc_of(sources[0]).name.split(".")[-2]}
    assert (SITE / "shared" / "events" / "__pycache__").is_dir()


def test_runtime_magic_table_matches_the_interpreter_the_layer_is_compiled_with() -> None:
    # The table above is what the runtime accepts; the interpreter build_layer.py finds must agree with it
    python = scripts_build_layer.runtime_python()
    probe = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"],
        capture_output=True,
        check=True,
    )
    assert probe.stdout == RUNTIME_MAGIC[LAMBDA_RUNTIME]


def _asset_dir(synthesized: Synthesized, resource: dict[str, Any]) -> Path:
    key = resource["Properties"]["Content"]["S3Key"]
    return synthesized.outdir / f"asset.{key.removesuffix('.zip')}"


def test_layer_asset_as_synthesized_carries_the_bytecode(synthesized: Synthesized) -> None:
    # Given the layer version in the synthesized template
    (layer,) = resources_of(synthesized.templates["test"], "AWS::Lambda::LayerVersion").values()
    asset = _asset_dir(synthesized, layer)

    # Then the staged asset (what cdk deploy zips) holds the runtime's bytecode next to the sources
    assert (asset / "python" / "pydantic" / "__pycache__").is_dir()
    shipped = list((asset / "python").rglob("*.pyc"))
    assert shipped
    assert {p.read_bytes()[:4] for p in shipped} == {RUNTIME_MAGIC[LAMBDA_RUNTIME]}
    # And the build marker stays out of it
    assert not (asset / ".built").exists()
    assert layer["Properties"]["CompatibleRuntimes"] == [LAMBDA_RUNTIME]


# --- which Python compiles the layer (make layer on a fresh machine of this kind, or CI) ----------------------


def _version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True
    )
    return out.stdout.decode().strip()


def test_a_python_of_another_version_is_never_taken_even_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given LAMBDA_PYTHON naming this venv's interpreter, which is not the runtime's version
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wanted = scripts_build_layer.LAYER_PYTHON_VERSION
    assert this != wanted
    monkeypatch.setenv("LAMBDA_PYTHON", sys.executable)

    # Then the interpreter found is one of the runtime's version (pyenv's 3.13 on this kind of machine)
    found = scripts_build_layer.runtime_python()
    assert found != sys.executable
    assert _version(found) == wanted


def test_no_python_of_the_version_stops_the_build_saying_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAMBDA_PYTHON", str(tmp_path / "python9.99"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))

    with pytest.raises(SystemExit) as stopped:
        scripts_build_layer.runtime_python("9.99")

    message = str(stopped.value)
    assert "no Python 9.99 found" in message
    assert "pyenv install 9.99" in message and "LAMBDA_PYTHON" in message
