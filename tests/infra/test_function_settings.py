"""Every variable a function's settings read is one the topology sets for that very function, and its handler
reads nothing else from the environment: a setting renamed on one side only, or read by a function the
topology does not give it to, fails here instead of as a ``SettingError`` on the first invocation."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest

from infra.topology import (
    CONSUMER_FUNCTION_IDS,
    FUNCTIONS,
    SECRETS_BY_ID,
    TABLES_BY_ID,
    WAREHOUSE,
    FunctionSpec,
    Resolved,
    function_environment,
)
from shared.settings import Env

REPO = Path(__file__).resolve().parents[2]
#: the functions whose handlers take settings and dependencies from ``make_handler`` (the SQS consumers
#: go through ``shared.consumers``)
HANDLER_FUNCTIONS = [fn for fn in FUNCTIONS if fn.id not in CONSUMER_FUNCTION_IDS]
WAREHOUSE_PROJECTION = "functions/warehouse_projection"
#: what reads the environment directly, bypassing a Settings class
ENVIRONMENT_READERS = {"environ", "getenv", "csv_setting", "secret_values", "secret_json"}


def environment_of(fn: FunctionSpec) -> dict[str, str]:
    """The function's environment in a stage using the deployed defaults of every stage setting."""
    resolved = Resolved(
        stage="test",
        table_names={t: f"{t}-name" for t in TABLES_BY_ID},
        secret_refs={s: f"arn:{s}" for s in SECRETS_BY_ID},
        event_bus_name="o2c-test",
        state_machine_arn="arn:states",
        claim_check_bucket="claims",
        dead_letter_queue_urls={"Q": "http://q"},
    )
    return function_environment(fn, resolved)


def handler_module(code_dir: str) -> Any:
    return importlib.import_module(code_dir.replace("/", ".") + ".handler")


def test_every_non_consumer_function_builds_its_handler_from_a_factory() -> None:
    assert len(HANDLER_FUNCTIONS) == 13  # 5 webhooks, 5 state machine tasks, reconciler, sweep, /v1 API
    for code_dir in [fn.code_dir for fn in HANDLER_FUNCTIONS] + [WAREHOUSE_PROJECTION]:
        assert callable(getattr(handler_module(code_dir), "make_handler", None)), code_dir


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.id)
def test_a_function_s_settings_read_only_what_the_topology_gives_it(fn: FunctionSpec) -> None:
    settings_class = getattr(handler_module(fn.code_dir), "Settings", None)
    if settings_class is None:  # its clients' settings are the connectors' (shared/outbound/factories)
        return
    environment = environment_of(fn)
    env = Env(environment, owner=fn.id)

    settings_class.read(env)  # the deployed defaults are valid settings

    assert env.names, fn.id
    assert env.names <= set(environment), f"{fn.id} reads {sorted(env.names - set(environment))}"


def test_the_warehouse_projection_reads_the_variable_its_construct_sets() -> None:
    settings_class = handler_module(WAREHOUSE_PROJECTION).Settings
    env = Env({WAREHOUSE.personal_data_env_var: "true"})
    assert settings_class.read(env).personal_data is True
    assert env.names == {WAREHOUSE.personal_data_env_var}


@pytest.mark.parametrize("code_dir", [fn.code_dir for fn in FUNCTIONS] + [WAREHOUSE_PROJECTION])
def test_a_handler_reads_the_environment_only_through_its_settings(code_dir: str) -> None:
    tree = ast.parse((REPO / code_dir / "handler.py").read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} | {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
    }
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert not (used | imported) & ENVIRONMENT_READERS, code_dir
    assert "os" not in {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
