"""The AWS actions an ``o2c`` command calls, read from the code with ``ast`` (no AWS, no moto).

From a command's entry functions the call graph is followed through ``o2c_cli`` and the ``shared`` helpers the
CLI drives (lineage, correlation, pending facts, the event publisher); every call of a boto3 client method (``x.get_item(...)``,
``x.get_paginator("query")``) becomes the IAM action it needs. The graph is an over-approximation by name
(``obj.release()`` reaches every helper method called ``release``): a declared table that misses an action this
finds is wrong; one that declares an action this does not find is stale.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: boto3 service name → IAM service prefix, for every service the CLI uses on a deployed stack
SERVICES = {
    "cloudformation": "cloudformation",
    "codedeploy": "codedeploy",
    "dynamodb": "dynamodb",
    "events": "events",
    "lambda": "lambda",
    "secretsmanager": "secretsmanager",
    "sqs": "sqs",
    "stepfunctions": "states",
}
#: IAM actions whose name is not the API operation's
ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}
HELPER_MODULES = (
    "shared.lineage",
    "shared.order_to_cash.correlation",
    "shared.order_to_cash.pending",
    "shared.order_to_cash.executions",
    "shared.publisher",
)
#: methods of builtin containers: ``d.get(...)`` is a dict's, never a helper's
_BUILTIN_METHODS = set(dir(dict)) | set(dir(list)) | set(dir(str)) | set(dir(set))


@functools.cache
def boto3_methods() -> dict[str, str]:
    """boto3 client method name → IAM action, for SERVICES (a name two services share maps to ``?``: calling
    it fails the analysis, which cannot tell the services apart)."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    found: dict[str, str] = {}
    for service, prefix in SERVICES.items():
        for operation in session.get_service_model(service).operation_names:
            method = xform_name(operation)
            action = ACTION_NAMES.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
            found[method] = action if found.get(method, action) == action else "?"
    return found


def _module_path(module: str) -> Path:
    path = REPO_ROOT / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _modules_under(package: str) -> list[str]:
    root = REPO_ROOT / package
    return [
        ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted(root.rglob("*.py"))
    ]


class _Index:
    """Functions (``module:name``) and methods (``module:Class.name``) of some modules; methods called on an
    object of unknown type resolve by name to the methods of ``helper_modules``."""

    def __init__(self, modules: Iterable[str], helper_modules: Iterable[str]) -> None:
        self.functions: dict[str, ast.AST] = {}
        self.imports: dict[str, dict[str, str]] = {}  # module → local name → qualified name
        self.methods_by_name: dict[str, list[str]] = {}
        helper_modules = set(helper_modules)
        for module in dict.fromkeys([*modules, *helper_modules]):
            tree = ast.parse(_module_path(module).read_text())
            names: dict[str, str] = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
            body = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)]
            self.functions[f"{module}:<module>"] = ast.Module(body=body, type_ignores=[])
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    self.functions[f"{module}:{node.name}"] = node
                    names[node.name] = f"{module}:{node.name}"
                elif isinstance(node, ast.ClassDef):
                    names[node.name] = f"{module}:{node.name}.__init__"
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef):
                            qualified = f"{module}:{node.name}.{item.name}"
                            self.functions[qualified] = item
                            if module in helper_modules:
                                self.methods_by_name.setdefault(item.name, []).append(qualified)
            self.imports[module] = names

    def callees(self, qualified: str) -> tuple[set[str], set[str]]:
        """(IAM actions called directly, functions called) by one function."""
        module, _, name = qualified.partition(":")
        cls = name.rpartition(".")[0]
        actions: set[str] = set()
        called: set[str] = set()
        methods = boto3_methods()
        for node in ast.walk(self.functions[qualified]):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                target = self.imports[module].get(func.id)
                if target:
                    called.add(target)
            elif isinstance(func, ast.Attribute):
                attr = func.attr
                if attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    actions.add(methods[str(node.args[0].value)])
                elif attr in methods:
                    actions.add(methods[attr])
                elif isinstance(func.value, ast.Name) and func.value.id == "self" and cls:
                    called.add(f"{module}:{cls}.{attr}")
                elif isinstance(func.value, ast.Name) and func.value.id in self.imports[module]:
                    # module attribute (``trace.trace``) or a class's (``Cls.method``)
                    base = self.imports[module][func.value.id]
                    called.add(f"{base.replace(':', '.')}:{attr}")
                elif attr not in _BUILTIN_METHODS:
                    called.update(self.methods_by_name.get(attr, ()))
        return actions, {c for c in called if c in self.functions}


@functools.cache
def _index(scope: str) -> _Index:
    if scope == "cli":
        return _Index(_modules_under("o2c_cli"), HELPER_MODULES)
    everything = [*_modules_under("functions"), *_modules_under("shared")]
    return _Index(everything, _modules_under("shared"))


def actions_of(entry_points: Iterable[str], scope: str = "cli") -> set[str]:
    """Every IAM action reachable from the entry functions (``module:function``). Scope ``cli``: o2c_cli and
    the helpers it drives; ``functions``: the Lambda functions' code and all of ``shared``."""
    index = _index(scope)
    seen: set[str] = set()
    todo: list[str] = []
    for entry in entry_points:  # ``module:*``: the module's own code and every function and method in it
        module, _, name = entry.partition(":")
        if name == "*":
            todo.extend(f for f in index.functions if f.startswith(f"{module}:"))
        else:
            todo.append(entry)
    actions: set[str] = set()
    while todo:
        qualified = todo.pop()
        if qualified in seen:
            continue
        assert qualified in index.functions, f"unknown function {qualified}"
        seen.add(qualified)
        direct, called = index.callees(qualified)
        assert "?" not in direct, f"{qualified} calls a boto3 method several services have"
        actions |= direct
        todo.extend(called - seen)
    return actions
