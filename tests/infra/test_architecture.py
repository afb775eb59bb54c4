"""Architecture contracts (``.importlinter``), checked with import-linter.

A vendor sandbox is a witness of the vendor: ``localcloud.sandboxes`` imports nothing from the hub's
``shared`` package, so a sandbox cannot agree with the hub only because both run the same code. The handlers
import the shared layer only; the layer imports none of the local cloud, the CDK app, the functions or the CLI;
the order-to-cash domain does not import vendor clients; the modules of a package do not import each other in a
circle. Today's exceptions are listed in ``.importlinter`` (``ignore_imports``), each a debt to pay off.
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


def _contracts_on_a_small_tree(tmp_path: Path) -> tuple[Path, Path]:
    """The repository's contracts without today's ignored imports (whose modules a small tree lacks), and an
    empty package per root package."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    for section in parser.sections():
        if section.startswith("importlinter:contract:"):
            parser.remove_option(section, "ignore_imports")
    config = tmp_path / "contracts.ini"
    with config.open("w") as handle:
        parser.write(handle)
    tree = tmp_path / "tree"
    for package in parser.get("importlinter", "root_packages").split():
        (tree / package).mkdir(parents=True)
        (tree / package / "__init__.py").write_text("")
    for package in ("shared/order_to_cash", "shared/events", "shared/outbound", "localcloud/sandboxes"):
        (tree / package).mkdir(parents=True, exist_ok=True)
        (tree / package / "__init__.py").write_text("")
    for sandbox in ("netsuite", "stripe"):
        (tree / "localcloud" / "sandboxes" / sandbox).mkdir()
        (tree / "localcloud" / "sandboxes" / sandbox / "__init__.py").write_text("")
    for connector in (
        "netsuite",
        "stripe_payments",
        "stripe_subscriptions",
        "hubspot",
        "salesforce",
        "avatax",
        "zendesk",
    ):
        (tree / "shared" / "outbound" / f"{connector}.py").write_text("CLIENT = 1\n")
    (tree / "shared" / "operations").mkdir()
    (tree / "shared" / "operations" / "__init__.py").write_text("")
    (tree / "shared" / "inbound").mkdir()
    (tree / "shared" / "inbound" / "__init__.py").write_text("")
    (tree / "shared" / "ingress").mkdir()
    (tree / "shared" / "ingress" / "__init__.py").write_text("")
    return config, tree


def test_the_contracts_break_on_each_kind_of_forbidden_import(tmp_path: Path) -> None:
    """A handler importing the local cloud, the layer importing the CDK app, the domain importing a vendor
    client, two sibling modules importing each other: each is refused and named; the tree without them passes."""
    config, tree = _contracts_on_a_small_tree(tmp_path)
    (tree / "functions" / "handler.py").write_text("import shared\n")
    (tree / "shared" / "order_to_cash" / "steps.py").write_text("X = 1\n")
    (tree / "shared" / "order_to_cash" / "ports.py").write_text("from shared.order_to_cash import steps\n")
    clean = lint_imports(config, tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    (tree / "functions" / "handler.py").write_text("import localcloud\n")
    (tree / "shared" / "money.py").write_text("import infra\n")
    (tree / "shared" / "order_to_cash" / "facts.py").write_text("from shared.order_to_cash import ports\n")
    (tree / "shared" / "order_to_cash" / "steps.py").write_text(
        "from shared.outbound import netsuite\nfrom shared.order_to_cash import facts\n"
    )
    broken = lint_imports(config, tree)
    assert broken.returncode != 0
    for named in (
        "functions.handler -> localcloud",
        "shared.money -> infra",
        "shared.order_to_cash.steps -> shared.outbound.netsuite",
        "No cycles are allowed in shared.order_to_cash",
    ):
        assert named in broken.stdout, (named, broken.stdout)


def test_the_sandbox_contract_breaks_when_a_sandbox_imports_shared(tmp_path: Path) -> None:
    """The same contract (without today's ignored imports), on a small tree where a sandbox imports the hub's
    ``shared``: import-linter refuses it and names the import; the same tree without it passes."""
    config, tree = _contracts_on_a_small_tree(tmp_path)
    (tree / "shared" / "money.py").write_text("RATE = 1\n")
    rogue = tree / "localcloud" / "sandboxes" / "rogue.py"

    rogue.write_text("RATE = 1\n")
    clean = lint_imports(config, tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    rogue.write_text("from shared.money import RATE\n")
    broken = lint_imports(config, tree)
    assert broken.returncode != 0
    assert "BROKEN" in broken.stdout
    assert "localcloud.sandboxes.rogue -> shared.money" in broken.stdout
