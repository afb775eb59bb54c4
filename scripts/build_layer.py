"""Build the Lambda layer: the runtime third-party packages, built for the Lambda platform, plus ``shared/``.

Output: ``build/layer/python/`` (the layer's ``/opt/python``) and the marker ``build/layer/.built``.

The packages come from ``uv.lock`` (the project's runtime dependencies, no dev group), minus what the
Lambda Python runtime already ships (boto3, botocore, s3transfer). They are installed as wheels for the
platform and Python version declared in ``infra/topology.py`` — never built on this host — so compiled
modules (``pydantic_core``) match the Lambda architecture, not the machine running this script.

Run: ``.venv/bin/python scripts/build_layer.py`` (or ``make layer``).
"""

from __future__ import annotations

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


def install_packages(requirements: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as reqs:
        reqs.write("\n".join(requirements) + "\n")
        reqs_path = reqs.name
    try:
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
                LAYER_PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                LAYER_PYTHON_VERSION,
                "--only-binary=:all:",
                "--no-deps",
                "--target",
                str(SITE_DIR),
                "-r",
                reqs_path,
            ],
            cwd=ROOT,
            check=True,
        )
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
    if LAYER_DIR.exists():
        shutil.rmtree(LAYER_DIR)
    SITE_DIR.mkdir(parents=True)
    requirements = runtime_requirements()
    print(f"layer: {len(requirements)} packages for {LAYER_PLATFORM} / cp{LAYER_PYTHON_VERSION}")
    install_packages(requirements)
    # pip --target leaves byte-code and a bin/ dir for console scripts: neither belongs in a layer.
    for cache in list(SITE_DIR.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(SITE_DIR / "bin", ignore_errors=True)
    copy_shared()
    MARKER.touch()
    print(f"layer: built {SITE_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
