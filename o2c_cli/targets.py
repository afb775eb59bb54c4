"""Where the CLI's commands act: the embedded local cloud (``.o2c/local.json``) or a deployed stack
(its CloudFormation outputs)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The AWS actions resolving ``--stack`` calls (stack_target), before any command acts: see AWS_ACTIONS in the
#: command modules.
RESOLVE_ACTIONS = frozenset({"cloudformation:DescribeStacks"})


class TargetError(RuntimeError):
    pass


@dataclass(frozen=True)
class ConsumerQueues:
    queue_url: str
    dlq_url: str


@dataclass(frozen=True)
class Target:
    name: str
    region: str
    lineage_table: str
    consumers: dict[str, ConsumerQueues] = field(default_factory=dict)
    endpoint_url: str | None = None
    correlation_table: str = ""
    state_machine_arn: str = ""
    event_bus_name: str = ""
    reconciler_function: str = ""
    pending_table: str = ""
    event_bus_arn: str = ""
    #: the bus's archive (``o2c replay``)
    archive_arn: str = ""
    #: consumer id → the ARN of its rule on the bus (``o2c replay --consumer``)
    rule_arns: dict[str, str] = field(default_factory=dict)
    #: the local cloud's ``local.json`` (sandbox URLs, secret ARNs, ...); empty for a deployed stack
    local_info: dict[str, Any] = field(default_factory=dict)
    #: locally, the IAM user acting (``--as operator|readonly``: access_key_id, secret_access_key); empty: the
    #: embedded cloud's root, which IAM does not restrict
    credentials: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str) -> Any:
        import boto3

        if self.is_local:
            return boto3.client(  # type: ignore[call-overload]
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self.credentials.get("access_key_id", "testing"),
                # the embedded cloud's fixed fake credentials (its root), or the --as user's key
                aws_secret_access_key=self.credentials.get("secret_access_key", "testing"),
            )
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]


#: ``o2c --as NAME`` (or ``$O2C_AS``): act on the local cloud as an IAM user holding that operator policy
LOCAL_IDENTITIES = ("operator", "readonly")


def local_target(state_dir: Path | None = None, identity: str | None = None) -> Target:
    """The local cloud described by ``<state dir>/local.json`` (``$O2C_STATE_DIR``, default ``.o2c``), acting as
    ``identity`` (default ``$O2C_AS``): "operator" or "readonly" hold the stack's operator policies; none acts as
    the account's root."""
    path = (state_dir or Path(os.environ.get("O2C_STATE_DIR", ".o2c"))) / "local.json"
    if not path.exists():
        raise TargetError(
            f"{path} not found: start the local cloud with `o2c local up`, or pass --stack NAME"
        )
    info = json.loads(path.read_text())
    identity = identity or os.environ.get("O2C_AS") or None
    credentials: dict[str, str] = {}
    if identity:
        if identity not in LOCAL_IDENTITIES:
            raise TargetError(f"--as {identity}: expected one of {', '.join(LOCAL_IDENTITIES)}")
        operators = info.get("iam", {}).get("operators", {})
        if identity not in operators:
            raise TargetError(
                f"the local cloud at {path} has no {identity} user: restart it with `o2c local up`"
            )
        credentials = {k: operators[identity][k] for k in ("access_key_id", "secret_access_key")}
    resources = info["resources"]
    bus_arn = resources.get("event_bus", {}).get("arn", "")
    archive = resources.get("archive", "")
    return Target(
        name="local",
        region=info["region"],
        endpoint_url=info["aws_endpoint_url"],
        lineage_table=resources["tables"]["LineageTable"],
        correlation_table=resources["tables"].get("CorrelationTable", ""),
        pending_table=resources["tables"].get("PendingTable", ""),
        state_machine_arn=info.get("state_machine_arn", ""),
        event_bus_name=resources.get("event_bus", {}).get("name", ""),
        event_bus_arn=bus_arn,
        archive_arn=f"{bus_arn.split(':event-bus/')[0]}:archive/{archive}" if bus_arn and archive else "",
        rule_arns={cid: r["arn"] for cid, r in resources.get("rules", {}).items()},
        reconciler_function=info.get("functions", {}).get("Reconciler", ""),
        consumers={
            cid: ConsumerQueues(queue_url=q["url"], dlq_url=resources["dlqs"][cid]["url"])
            for cid, q in resources["queues"].items()
        },
        local_info=info,
        credentials=credentials,
    )


def stack_target(stack: str, region: str | None = None) -> Target:
    import boto3

    cfn = boto3.client("cloudformation", region_name=region)
    try:
        outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except Exception as exc:
        raise TargetError(f"cannot read stack {stack}: {exc}") from exc
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    consumers = {
        key.removesuffix("QueueUrl"): ConsumerQueues(
            queue_url=url, dlq_url=values[key.removesuffix("QueueUrl") + "DlqUrl"]
        )
        for key, url in values.items()
        if key.endswith("QueueUrl") and key.removesuffix("QueueUrl") + "DlqUrl" in values
    }
    return Target(
        name=stack,
        region=cfn.meta.region_name,
        lineage_table=values["LineageTableName"],
        correlation_table=values.get("CorrelationTableName", ""),
        pending_table=values.get("PendingTableName", ""),
        state_machine_arn=values.get("StateMachineArn", ""),
        event_bus_name=values.get("EventBusName", ""),
        event_bus_arn=values.get("EventBusArn", ""),
        archive_arn=values.get("EventArchiveArn", ""),
        rule_arns={k.removesuffix("RuleArn"): v for k, v in values.items() if k.endswith("RuleArn")},
        reconciler_function=values.get("ReconcilerFunctionName", ""),
        consumers=consumers,
    )


def resolve(stack: str | None, region: str | None) -> Target:
    if stack and os.environ.get("O2C_AS"):
        raise TargetError("--as is for the local cloud; on a deployed stack your AWS credentials decide")
    return stack_target(stack, region) if stack else local_target()
