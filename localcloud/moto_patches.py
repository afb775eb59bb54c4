"""Changes to moto's in-process backends that make the embedded cloud behave like AWS here:

1. Lambda invocations (from Step Functions tasks, or any ``lambda:Invoke``) of the hub's functions are
   dispatched to their worker processes instead of moto's Docker runner, which this machine lacks.
2. Writes to DynamoDB are serialized. DynamoDB applies the writes to one item one at a time (conditional
   writes and ``ReturnValues`` see a consistent item); moto's in-memory tables take no lock, so threads
   serving concurrent requests could interleave inside one write.
3. Step Functions ``RedriveExecution`` (moto has none), with the redrive members of DescribeExecution and
   ListExecutions: ``localcloud/sfn_redrive.py``.
4. EventBridge replays as AWS runs them (window, ``FilterArns``, the archive's own events):
   ``localcloud/events_replay.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

# function name → invoke(event) -> (payload JSON, errored)
Dispatcher = Callable[[Any], tuple[str, bool]]
_dispatchers: dict[str, Dispatcher] = {}
_installed = False
_install_lock = threading.Lock()
_dynamodb_lock = threading.RLock()
#: DynamoDB write requests served (put/update/delete items, and each item of a batch or transaction).
dynamodb_writes = {"count": 0}
#: The same writes by table name (what ``bench/cost.py`` reports per table).
dynamodb_writes_by_table: dict[str, int] = {}
_WRITES = {"put_item", "update_item", "delete_item"}


def _count_table(table: object, n: int) -> None:
    name = str(table)
    dynamodb_writes_by_table[name] = dynamodb_writes_by_table.get(name, 0) + n


def route_lambda(function_name: str, dispatch: Dispatcher) -> None:
    _dispatchers[function_name] = dispatch


def unroute_lambda(function_name: str) -> None:
    _dispatchers.pop(function_name, None)


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        from moto.awslambda.models import LambdaFunction
        from moto.dynamodb.models import DynamoDBBackend

        original_invoke = LambdaFunction._invoke_lambda

        def invoke(self: Any, event: Any = None) -> Any:
            dispatch = _dispatchers.get(self.function_name)
            if dispatch is None:
                return original_invoke(self, event)
            payload, errored = dispatch(json.loads(event) if isinstance(event, str | bytes) else event)
            return payload, errored, ""

        LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign]

        for name in (
            "put_item",
            "update_item",
            "delete_item",
            "get_item",
            "transact_write_items",
            "batch_write_item",
        ):
            original = getattr(DynamoDBBackend, name, None)
            if original is None:
                continue

            def serialized(
                self: Any, *args: Any, __original: Any = original, __name: str = name, **kwargs: Any
            ) -> Any:
                with _dynamodb_lock:
                    if __name in _WRITES:
                        dynamodb_writes["count"] += 1
                        _count_table(args[0] if args else kwargs.get("table_name"), 1)
                    elif __name in {"transact_write_items", "batch_write_item"}:
                        items = args[0] if args else next(iter(kwargs.values()), [])
                        dynamodb_writes["count"] += (
                            sum(len(v) for v in items.values()) if isinstance(items, dict) else len(items)
                        )
                        for entry in items if isinstance(items, list) else ():
                            for action in entry.values() if isinstance(entry, dict) else ():
                                if isinstance(action, dict) and action.get("TableName"):
                                    _count_table(action["TableName"], 1)
                    return __original(self, *args, **kwargs)

            setattr(DynamoDBBackend, name, serialized)

        from localcloud import events_replay, sfn_redrive

        sfn_redrive.install()
        events_replay.install()
