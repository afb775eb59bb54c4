"""A function's Python as deployed: the Lambda runtime's interpreter, the layer as built, and nothing else.

The cold starts in ``bench/coldstart.py`` run the venv's interpreter with a bytecode cache of the venv's
packages. A deployed function runs ``LAMBDA_RUNTIME`` (python3.13) with ``/opt/python`` = the layer
(``build/layer/python``, shipping its own 3.13 bytecode since ``scripts/build_layer.py`` compiles it) and
the runtime's boto3 (which ships bytecode too), on a read-only file system: nothing it compiles is kept.
This module rebuilds that locally:

- ``runtime/``: the runtime-provided boto3, botocore, s3transfer and their dependencies (the venv's
  copies: the same pinned versions, pure Python), compiled with the runtime's Python as the Lambda image has them;
- the layer itself, read in place, with the bytecode it ships (``.deployed``) — or a copy without any
  bytecode (``.deployed_source``: what a layer without ``__pycache__`` costs on every cold start);
- ``native/``: the one thing that cannot be taken from the layer on this machine: ``pydantic_core``'s
  extension module is built for the Lambda architecture (aarch64). The same version's wheel for this
  machine's architecture is installed here and put ahead of the layer on ``sys.path``; its Python part is
  compiled like the layer's. Every other module comes from the layer, with the layer's bytecode.

The child runs with ``PYTHONDONTWRITEBYTECODE=1`` and no ``PYTHONPYCACHEPREFIX``: the function's own
code (``functions/...``, no bytecode in the asset) is compiled on every cold start, as on Lambda.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.cloud import repo_root

#: What the Lambda Python runtime provides (boto3 and its dependencies, in ``/var/runtime``).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@dataclass(frozen=True)
class DeployedPython:
    python: str
    layer: Path  # the layer's site dir, with its bytecode
    layer_source: Path  # the same files without any bytecode
    runtime: Path
    native: Path

    def pythonpath(self, code_dir: str, *, with_layer: bool = True, bytecode: bool = True) -> str:
        """Function code, then the layer (``/opt/python``), then the runtime's packages; the repository
        root last, for the benchmark's own harness (``bench.child``, ``localcloud.worker``) only —
        ``shared`` resolves to the layer's copy, ahead of it."""
        root = repo_root()
        parts = [str(root / code_dir)]
        if with_layer:
            parts += [str(self.native), str(self.layer if bytecode else self.layer_source)]
        parts += [str(self.runtime), str(root)]
        return os.pathsep.join(parts)


def _compile(python: str, path: Path) -> None:
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _dist_version(site: Path, name: str) -> str:
    (info,) = site.glob(f"{name}-*.dist-info")
    return info.name.removeprefix(f"{name}-").removesuffix(".dist-info")


def prepare(work_dir: Path) -> DeployedPython | None:
    """Build (once) what a deployed cold start needs; None (with the reason on stderr) if it cannot be."""
    sys.path.insert(0, str(repo_root() / "scripts"))
    try:
        from build_layer import (
            MARKER,
            SITE_DIR,
            RuntimePythonMissingError,
            pip_install_wheels,
            runtime_python,
        )
    finally:
        sys.path.pop(0)
    if not MARKER.exists():
        print("bench: no built layer (make layer): the as-deployed cold starts are skipped", file=sys.stderr)
        return None
    try:
        python = runtime_python()
    except RuntimePythonMissingError as exc:
        print(f"bench: {exc}: the as-deployed cold starts are skipped", file=sys.stderr)
        return None
    base = work_dir.resolve() / "deployed"
    stamp = base / ".prepared"
    built = f"{python} {MARKER.stat().st_mtime_ns}"
    out = DeployedPython(python, SITE_DIR, base / "layer-source", base / "runtime", base / "native")
    if stamp.exists() and stamp.read_text() == built:
        return out
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, out.runtime / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, out.runtime / origin.name)
    _compile(python, out.runtime)
    shutil.copytree(SITE_DIR, out.layer_source, ignore=shutil.ignore_patterns("__pycache__"))
    version = _dist_version(SITE_DIR, "pydantic_core")
    pip_install_wheels(
        [f"pydantic-core=={version}"],
        out.native,
        platform=f"manylinux2014_{platform.machine()}",
        python_version=_python_tag(python),
    )
    _compile(python, out.native)
    stamp.write_text(built)
    return out


def _python_tag(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
