"""Resuming the right Step Functions execution exactly once, whatever arrives first.

A wait has a key that names what it waits for (``setup:<seti_...>``, ``capture:<pi_...>``,
``approval:<execution>``, ``hold:<execution>:<n>``). The execution registers its task token under the key;
the fact that ends the wait (a webhook, an operator's approval) is delivered under the same key. Each side
writes its half with one atomic UpdateItem and looks at what the item holds afterwards; whoever completes
the pair claims the resume with a conditional write (``attribute_not_exists(resumed)``) and only the
claimer calls SendTaskSuccess. So a webhook that arrives before the token is stored still resumes the
execution, a duplicate webhook resumes nothing, and a fact for one key never resumes another wait.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

TTL_S = (
    35 * 24 * 3600
)  # outlives the longest wait (Standard executions can wait up to a year; holds use days)


@dataclass(frozen=True)
class Wait:
    key: str
    execution: str | None
    state: str | None
    fact: dict[str, Any] | None
    resumed: bool


class Correlator:
    def __init__(self, dynamodb: Any, table_name: str, stepfunctions: Any, *, clock: Any = time.time) -> None:
        self._ddb = dynamodb
        self._table = table_name
        self._sfn = stepfunctions
        self._clock = clock

    def _update(self, key: str, set_expr: str, values: dict[str, Any]) -> dict[str, Any]:
        response = self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": key}},
            UpdateExpression=f"SET {set_expr}, expiration = if_not_exists(expiration, :exp)",
            ExpressionAttributeValues={**values, ":exp": {"N": str(int(self._clock()) + TTL_S)}},
            ReturnValues="ALL_NEW",
        )
        return dict(response["Attributes"])

    def register_wait(self, key: str, token: str, *, execution: str, state: str) -> bool:
        """Store the execution's task token under ``key``; resume at once if the fact is already there.
        Returns True if this call resumed the execution."""
        item = self._update(
            key,
            "task_token = :t, execution_name = :e, state_name = :s, waited_at = :now",
            {
                ":t": {"S": token},
                ":e": {"S": execution},
                ":s": {"S": state},
                ":now": {"N": str(int(self._clock()))},
            },
        )
        # Where is this execution waiting now: read by `o2c approve` / `o2c hold release` and `o2c trace`.
        self._update(
            f"exec:{execution}", "waiting = :k, state_name = :s", {":k": {"S": key}, ":s": {"S": state}}
        )
        return self._resume_if_complete(item)

    def deliver_fact(self, key: str, fact: dict[str, Any]) -> bool:
        """Store the fact that ends the wait ``key``; resume the waiting execution if its token is there.
        The first fact wins; later ones (duplicate webhooks) change nothing. True if this call resumed it."""
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET fact = :f, delivered_at = :now, expiration = if_not_exists(expiration, :exp)",
                ConditionExpression="attribute_not_exists(fact)",
                ExpressionAttributeValues={
                    ":f": {"S": json.dumps(fact, separators=(",", ":"), sort_keys=True)},
                    ":now": {"N": str(int(self._clock()))},
                    ":exp": {"N": str(int(self._clock()) + TTL_S)},
                },
                ReturnValues="ALL_NEW",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return self._resume_if_complete(dict(response["Attributes"]))

    def _resume_if_complete(self, item: dict[str, Any]) -> bool:
        if "task_token" not in item or "fact" not in item or "resumed" in item:
            return False
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": item["pk"]},
                UpdateExpression="SET resumed = :now",
                ConditionExpression="attribute_not_exists(resumed) AND task_token = :t",
                ExpressionAttributeValues={":now": {"N": str(int(self._clock()))}, ":t": item["task_token"]},
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False  # someone else completed the pair first
        try:
            self._sfn.send_task_success(taskToken=item["task_token"]["S"], output=item["fact"]["S"])
        except (
            self._sfn.exceptions.TaskTimedOut,
            self._sfn.exceptions.TaskDoesNotExist,
            self._sfn.exceptions.InvalidToken,
        ):
            return False  # the wait already ended (timed out, execution stopped): nothing to resume
        return True

    def get(self, key: str) -> Wait | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return Wait(
            key=key,
            execution=item.get("execution_name", {}).get("S"),
            state=item.get("state_name", {}).get("S"),
            fact=json.loads(item["fact"]["S"]) if "fact" in item else None,
            resumed="resumed" in item,
        )

    def waiting_on(self, execution: str) -> Wait | None:
        """The wait an execution is currently in (None if it never waited, or its wait has ended)."""
        pointer = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": f"exec:{execution}"}}, ConsistentRead=True
        )
        key = pointer.get("Item", {}).get("waiting", {}).get("S")
        wait = self.get(key) if key else None
        return wait if wait and not wait.resumed else None
