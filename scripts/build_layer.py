"""Build the Lambda layer: the runtime third-party packages, built for the Lambda platform, plus ``shared/``.

Output: ``build/layer/python/`` (the layer's ``/opt/python``) and the marker ``build/layer/.built``.

The packages come from ``uv.lock`` (the project's runtime dependencies, no dev group), minus what the
Lambda Python runtime already ships (boto3, botocore, s3transfer). They are installed as wheels for the
platform and Python version declared in ``infra/topology.py`` — never built on this host — so compiled
modules (``pydantic_core``) match the Lambda architecture, not the machine running this script.

The layer ships bytecode: ``/opt`` is read-only on Lambda, so without ``__pycache__`` every cold start
compiles every module it imports from the layer again (measured +107 % instructions for a webhook's first
event). The bytecode must come from the runtime's own minor version (CPython ignores another version's
``.pyc``), so the layer is compiled with a local Python of ``LAYER_PYTHON_VERSION`` — found in
``$LAMBDA_PYTHON``, pyenv's versions, ``uv python find`` or ``PATH`` — with hash-based, unchecked
``.pyc`` files: no source timestamps in them (the asset's files carry whatever mtime the zip gives them),
and the same sources give the same bytes, so the asset hash only moves when the code does.

Run: ``.venv/bin/python scripts/build_layer.py`` (or ``make layer``).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.topology import LAYER_PLATFORM, LAYER_PYTHON_VERSION  # noqa: E402

LAYER_DIR = ROOT / "build" / "layer"
SITE_DIR = LAYER_DIR / "python"
MARKER = LAYER_DIR / ".built"
SHARED_DIR = ROOT / "shared"

#: Provided by the Lambda Python runtime: shipping them would only grow the layer.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class RuntimePythonMissingError(SystemExit):
    pass


def _python_version(executable: str) -> str | None:
    """``major.minor`` of the interpreter at ``executable``, or None if it does not run (e.g. a pyenv shim
    for a version that is installed but not selected)."""
    try:
        probe = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    """Where a CPython ``version`` may live on this kind of machine, most explicit first."""
    found: list[str] = []
    if os.environ.get("LAMBDA_PYTHON"):
        found.append(os.environ["LAMBDA_PYTHON"])
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for prefix in sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*")), reverse=True):
        found.append(os.path.join(prefix, "bin", f"python{version}"))
    try:
        uv = subprocess.run(
            [_uv(), "python", "find", "--no-project", version],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if uv.returncode == 0 and uv.stdout.strip():
            found.append(uv.stdout.strip())
    except (OSError, SystemExit, subprocess.TimeoutExpired):
        pass
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    return found


def runtime_python(version: str = LAYER_PYTHON_VERSION) -> str:
    """A local interpreter of the Lambda runtime's minor version, to compile the layer's bytecode with."""
    for candidate in _candidates(version):
        if os.access(candidate, os.X_OK) and _python_version(candidate) == version:
            return candidate
    raise RuntimePythonMissingError(
        f"layer: no Python {version} found to compile the layer's bytecode (the functions run "
        f"python{version}); install it (`pyenv install {version}` or `uv python install {version}`) "
        f"or point LAMBDA_PYTHON at a python{version} executable"
    )


def compile_bytecode(python: str) -> None:
    """Compile every module of the layer with the runtime's Python into ``__pycache__`` (unchecked hashes:
    Lambda never rewrites them and no timestamp can make them stale; the layer is rebuilt from scratch)."""
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(SITE_DIR),
        ],
        cwd=ROOT,
        check=True,
    )


def _uv() -> str:
    local = Path(sys.executable).parent / "uv"
    if local.exists():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found: run `make venv` first")
    return found


def runtime_requirements() -> list[str]:
    """Pinned runtime requirements from uv.lock, without the packages the Lambda runtime provides."""
    exported = subprocess.run(
        [
            _uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    requirements = []
    for raw in exported.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        name = re.split(r"[\s=<>!~;\[]", line, maxsplit=1)[0]
        if _normalise(name) in RUNTIME_PROVIDED:
            continue
        requirements.append(line)
    return requirements


def pip_install_wheels(
    args: list[str],
    target: Path,
    *,
    platform: str = LAYER_PLATFORM,
    python_version: str = LAYER_PYTHON_VERSION,
) -> None:
    """``pip install`` ``args`` into ``target`` as the Lambda runtime needs them: binary wheels for its platform
    and Python version (never this host's), no dependencies resolved here (the lock file did that), no bytecode
    (compiled later by the runtime's own interpreter). Also used by ``bench/deployed.py``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--platform",
            platform,
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--no-deps",
            "--target",
            str(target),
            *args,
        ],
        cwd=ROOT,
        check=True,
    )


def install_packages(requirements: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqs:
        reqs.write("\n".join(requirements) + "\n")
        reqs_path = reqs.name
    try:
        pip_install_wheels(["-r", reqs_path], SITE_DIR)
    finally:
        Path(reqs_path).unlink(missing_ok=True)


def copy_shared() -> None:
    """Copy the project's ``shared`` package (Python sources only)."""
    target = SITE_DIR / "shared"
    for source in sorted(SHARED_DIR.rglob("*.py")):
        relative = source.relative_to(SHARED_DIR)
        if "__pycache__" in relative.parts:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def main() -> int:
    python = runtime_python()  # before anything is deleted: a missing interpreter leaves the old layer
    if LAYER_DIR.exists():
        shutil.rmtree(LAYER_DIR)
    SITE_DIR.mkdir(parents=True)
    requirements = runtime_requirements()
    print(f"layer: {len(requirements)} packages for {LAYER_PLATFORM} / cp{LAYER_PYTHON_VERSION}")
    install_packages(requirements)
    # pip --target leaves a bin/ dir for console scripts (and, were it allowed, this host's bytecode).
    for cache in list(SITE_DIR.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(SITE_DIR / "bin", ignore_errors=True)
    copy_shared()
    compile_bytecode(python)
    print(f"layer: compiled with {python} (Python {LAYER_PYTHON_VERSION}, unchecked-hash .pyc)")
    MARKER.touch()
    print(f"layer: built {SITE_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
