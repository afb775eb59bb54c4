"""``o2c rollback --stack S [--function F]``: undo a bad release of the stack's functions, fast.

Per function (its FunctionSpec id, e.g. ``Reconciler``; default: every function of the stack):

1. A CodeDeploy deployment in flight (the canary is still shifting, or baking) is stopped with rollback:
   CodeDeploy points the ``live`` alias back at the version it replaced (and CloudFormation rolls the stack
   update back).
2. Otherwise, an alias still splitting traffic (a shift left half done) goes back to its main version only.
3. Otherwise the alias moves back to the version before the one it serves. Without ``--function`` only the
   functions the stack's last update changed move (their live version was published since that update
   started); the others stay where they are. A second run therefore changes nothing more.

Deployments are found by name: the CodeDeploy application is named after the stack, each deployment group after
its function (infra/constructs/deployments.py). Old versions are retained by the stack, so the previous one
exists. Moving an alias by hand leaves the stack believing the newer version: the next deploy that changes the
function shifts from where the alias is.

An unknown stack or function is a ``TargetError`` (exit 2); an AWS error while rolling back a
``RollbackError`` naming the function (exit 1); each one line, never a traceback (``o2c_cli.main``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from o2c_cli.targets import TargetError

#: The AWS actions the command calls (tests/infra/test_operator_policy.py keeps this true; the operator
#: policy grants them: infra/constructs/operators.py).
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "rollback": (
        ("rollback",),
        frozenset(
            {
                "cloudformation:DescribeStacks",
                "cloudformation:ListStackResources",
                "codedeploy:ListDeployments",
                "codedeploy:StopDeployment",
                "lambda:GetAlias",
                "lambda:ListVersionsByFunction",
                "lambda:UpdateAlias",
            }
        ),
    ),
}

#: Deployment statuses that are not over yet (Baking: all traffic shifted, the alarms still watched).
IN_FLIGHT = ("Created", "Queued", "InProgress", "Baking", "Ready")
_NO_DEPLOYMENTS = {"ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"}


def function_logical_id_pattern(function_id: str) -> re.Pattern[str]:
    """The logical id CDK gives a hub function (construct path Functions/<id>/Function + an 8-hex hash)."""
    return re.compile(rf"^Functions{re.escape(function_id)}Function[0-9A-F]{{8}}$")


@dataclass(frozen=True)
class Outcome:
    function: str
    #: "stopped", "rolled back" or "unchanged"
    action: str
    detail: str

    def line(self) -> str:
        return f"{self.function}: {self.detail}"


def _client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


class RollbackError(RuntimeError):
    """AWS refused or failed a step of the rollback: the message names the function and AWS's error."""


def _aws_error(exc: Exception, doing: str, kind: type[Exception] = RollbackError) -> Exception:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return kind(f"{doing}: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": "))
    return kind(f"{doing}: {exc}")


def _timestamp(value: Any) -> datetime:
    """Lambda's LastModified (``2026-12-01T17:36:30.104+0000``) or a datetime, as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", str(value))
    if not match:
        raise TargetError(f"unexpected timestamp {value!r}")
    offset = match.group(3) or "Z"
    zone = "+00:00" if offset == "Z" else f"{offset[:3]}:{offset[-2:]}"
    micros = int((match.group(2) or "0")[:6].ljust(6, "0"))
    return datetime.fromisoformat(match.group(1) + zone).replace(microsecond=micros)


def stack_functions(cfn: Any, stack: str) -> tuple[str, datetime, dict[str, str]]:
    """(stack name, when its last update started, FunctionSpec id → function name)."""
    from infra.topology import FUNCTIONS

    try:
        [described] = cfn.describe_stacks(StackName=stack)["Stacks"]
        summaries = [
            s
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
            for s in page["StackResourceSummaries"]
        ]
    except (BotoCoreError, ClientError) as exc:
        raise _aws_error(exc, f"cannot read stack {stack}", TargetError) from None
    last_update = _timestamp(described.get("LastUpdatedTime") or described["CreationTime"])
    functions: dict[str, str] = {}
    for spec in FUNCTIONS:
        pattern = function_logical_id_pattern(spec.id)
        for summary in summaries:
            if summary["ResourceType"] == "AWS::Lambda::Function" and pattern.match(
                summary["LogicalResourceId"]
            ):
                functions[spec.id] = summary["PhysicalResourceId"]
    return described["StackName"], last_update, functions


def _in_flight(codedeploy: Any, application: str, group: str) -> list[str]:
    try:
        return list(
            codedeploy.list_deployments(
                applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(IN_FLIGHT)
            )["deployments"]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NO_DEPLOYMENTS:
            return []  # a stack deployed before canaries: the alias path applies
        raise


def _roll_back_alias(lam: Any, function_id: str, name: str, *, since: datetime | None) -> Outcome:
    from infra.topology import LIVE_ALIAS

    alias = lam.get_alias(FunctionName=name, Name=LIVE_ALIAS)
    current = alias["FunctionVersion"]
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        lam.update_alias(
            FunctionName=name,
            Name=LIVE_ALIAS,
            FunctionVersion=current,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        shifted = ", ".join(f"{round(w * 100)} % to version {v}" for v, w in sorted(weights.items()))
        return Outcome(
            function_id, "rolled back", f"{LIVE_ALIAS} back to version {current} only (was {shifted})"
        )
    if not current.isdigit():
        return Outcome(function_id, "unchanged", f"{LIVE_ALIAS} points at {current}, not a published version")
    versions = {
        v["Version"]: v
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page["Versions"]
        if v["Version"].isdigit()
    }
    if since is not None and current in versions and _timestamp(versions[current]["LastModified"]) < since:
        return Outcome(
            function_id,
            "unchanged",
            f"version {current} is older than the stack's last update: not changed by it, left as is",
        )
    earlier = sorted((int(v) for v in versions if int(v) < int(current)), reverse=True)
    if not earlier:
        return Outcome(function_id, "unchanged", f"no version before {current} to roll back to")
    previous = str(earlier[0])
    lam.update_alias(
        FunctionName=name,
        Name=LIVE_ALIAS,
        FunctionVersion=previous,
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    return Outcome(
        function_id, "rolled back", f"{LIVE_ALIAS} moved from version {current} back to version {previous}"
    )


def rollback(stack: str, region: str | None = None, function: str | None = None) -> list[Outcome]:
    """Roll back one function (``function``: its FunctionSpec id) or the stack's last update; see the module."""
    cfn = _client("cloudformation", region)
    application, last_update, functions = stack_functions(cfn, stack)
    if not functions:
        raise TargetError(f"stack {stack} has no O2C Hub functions")
    if function is not None and function not in functions:
        raise TargetError(
            f"stack {stack} has no function {function} (one of: {', '.join(sorted(functions))})"
        )
    selected = {function: functions[function]} if function else functions
    codedeploy = _client("codedeploy", region)
    lam = _client("lambda", region)
    outcomes: list[Outcome] = []
    for function_id, name in selected.items():
        try:
            deployments = _in_flight(codedeploy, application, function_id)
            if deployments:
                for deployment_id in deployments:
                    stopped = codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
                    outcomes.append(
                        Outcome(
                            function_id,
                            "stopped",
                            f"stopped deployment {deployment_id} ({stopped.get('status', 'Pending')}); "
                            "CodeDeploy moves live back to the version it replaced",
                        )
                    )
                continue
            outcomes.append(_roll_back_alias(lam, function_id, name, since=None if function else last_update))
        except (BotoCoreError, ClientError) as exc:
            raise _aws_error(exc, f"{function_id}: rollback failed") from None
    return outcomes
