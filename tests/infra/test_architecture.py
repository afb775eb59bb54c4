"""Architecture contracts (``.importlinter``), checked with import-linter.

A vendor sandbox is a witness of the vendor: ``localcloud.sandboxes`` imports nothing from the hub's
``shared`` package, so a sandbox cannot agree with the hub only because both run the same code.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_repository_keeps_its_architecture_contracts() -> None:
    result = lint_imports(CONFIG, REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_sandbox_contract_breaks_when_a_sandbox_imports_shared(tmp_path: Path) -> None:
    """The same contract (without today's ignored imports), on a small tree where a sandbox imports the hub's
    ``shared``: import-linter refuses it and names the import; the same tree without it passes."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    contract = "importlinter:contract:sandboxes-stand-alone"
    parser.remove_option(contract, "ignore_imports")
    config = tmp_path / "contracts.ini"
    with config.open("w") as handle:
        parser.write(handle)
    tree = tmp_path / "tree"
    for package in parser.get("importlinter", "root_packages").split():
        (tree / package).mkdir(parents=True)
        (tree / package / "__init__.py").write_text("")
    (tree / "shared" / "money.py").write_text("RATE = 1\n")
    (tree / "localcloud" / "sandboxes").mkdir()
    (tree / "localcloud" / "sandboxes" / "__init__.py").write_text("")
    rogue = tree / "localcloud" / "sandboxes" / "rogue.py"

    rogue.write_text("RATE = 1\n")
    clean = lint_imports(config, tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    rogue.write_text("from shared.money import RATE\n")
    broken = lint_imports(config, tree)
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout
    assert "localcloud.sandboxes.rogue -> shared.money" in broken.stdout
