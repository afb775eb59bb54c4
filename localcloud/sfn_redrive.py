"""Step Functions ``RedriveExecution`` on the embedded cloud, as AWS documents it (moto 5.2.5 has no such
action: it answered a 500). Installed by ``moto_patches.install()``.

What AWS documents (API reference: RedriveExecution, DescribeExecution, ListExecutions; developer guide
"Restarting state machine executions with redrive"), and how it is emulated on moto's ASL interpreter:

- Only an execution that did not succeed is redriven: ``FAILED``, ``TIMED_OUT`` or ``ABORTED``. Otherwise,
  or when its redrivable period of 14 days (from when it stopped) is over, when it has been open over the
  maximum execution time of one year, when its history holds 24,999 events or more, or after 1,000
  redrives, the answer is ``ExecutionNotRedrivable`` (``ExecutionDoesNotExist`` for an unknown ARN).
- The same execution (same ARN, same state machine definition: the one it started with) continues from
  the unsuccessful step: the last state it entered is entered again with the input it had then — the
  original execution input as transformed by the steps that succeeded before it, which are not run again.
  Retry counters start afresh and the state machine's ``TimeoutSeconds`` counts from the redrive.
- The history continues (event ids go on) with an ``ExecutionRedriven`` event carrying ``redriveCount``;
  ``$$.Execution.RedriveCount`` / ``RedriveTime`` are in the context object.
- ``DescribeExecution`` gives ``redriveCount``, ``redriveDate`` (once redriven), ``redriveStatus`` and,
  when it is ``NOT_REDRIVABLE``, ``redriveStatusReason``; ``ListExecutions`` items carry ``redriveCount``
  and ``redriveDate`` and the request takes ``redriveFilter`` (``REDRIVEN`` / ``NOT_REDRIVEN``).
- ``clientToken``: the answer is idempotent for the last 10 tokens that redrove the execution, for 15
  minutes after their first use (boto3 sends a new token per call unless you give one).

Local difference: a failed state inside a ``Parallel`` or inline ``Map`` state is redriven by entering the
``Parallel``/``Map`` state again (every branch or iteration), where AWS reruns only the unsuccessful ones;
the quote-to-cash state machine has neither.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any

from moto.core.exceptions import AWSError

REDRIVABLE_PERIOD = datetime.timedelta(days=14)
MAX_EXECUTION_TIME = datetime.timedelta(days=365)
MAX_REDRIVES = 1000
#: "The execution event history count is less than 24,999" (room for ExecutionRedriven and one more).
MAX_HISTORY_EVENTS = 24_999
CLIENT_TOKENS_KEPT = 10
CLIENT_TOKEN_TTL = datetime.timedelta(minutes=15)

_REDRIVABLE = {"FAILED", "TIMED_OUT", "ABORTED"}
_lock = threading.Lock()


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _aware(value: Any) -> datetime.datetime | None:
    if not isinstance(value, datetime.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def redrive_count(execution: Any) -> int:
    return int(getattr(execution, "o2c_redrive_count", 0))


def redrive_date(execution: Any) -> datetime.datetime | None:
    return getattr(execution, "o2c_redrive_date", None)


def _history(execution: Any) -> list[dict[str, Any]]:
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:
        return []
    return list(env.event_manager.get_event_history())


def not_redrivable_reason(execution: Any, now: datetime.datetime | None = None) -> str | None:
    """Why ``RedriveExecution`` would answer ``ExecutionNotRedrivable`` now (None: it is redrivable). The
    wording is DescribeExecution's ``redriveStatusReason``."""
    now = now or _now()
    status = str(execution.status)
    if status not in _REDRIVABLE:
        return f"Execution is {status} and cannot be redriven."
    if getattr(getattr(execution, "state_machine", None), "sm_type", "STANDARD") == "EXPRESS":
        return "Execution is of type EXPRESS and cannot be redriven."
    started = _aware(execution.start_date)
    if started is not None and now - started > MAX_EXECUTION_TIME:
        return "Execution has exceeded the max execution time."
    stopped = _aware(getattr(execution, "stop_date", None))
    if stopped is not None and now - stopped > REDRIVABLE_PERIOD:
        return "Execution redrivable period exceeded."
    if len(_history(execution)) >= MAX_HISTORY_EVENTS:
        return "Execution history event limit exceeded."
    if redrive_count(execution) >= MAX_REDRIVES:
        return f"Execution has been redriven the maximum number of times ({MAX_REDRIVES})."
    return None


def redrive_fields(execution: Any) -> dict[str, Any]:
    """DescribeExecution's redrive members."""
    reason = not_redrivable_reason(execution)
    fields: dict[str, Any] = {
        "redriveCount": redrive_count(execution),
        "redriveStatus": "NOT_REDRIVABLE" if reason else "REDRIVABLE",
    }
    if redrive_date(execution) is not None:
        fields["redriveDate"] = redrive_date(execution)
    if reason:
        fields["redriveStatusReason"] = reason
    return fields


def _restart_point(execution: Any, program: Any) -> tuple[str, Any]:
    """The unsuccessful step — the last top-level state the execution entered — and the input it had."""
    names = set(program.states.states)
    for event in reversed(_history(execution)):
        details = event.get("stateEnteredEventDetails")
        if details and details.get("name") in names:
            raw = details.get("input")
            return details["name"], json.loads(raw) if isinstance(raw, str) else raw
    return program.start_at.start_at_name, execution.input_data


def _kept_token(execution: Any, token: str | None, now: datetime.datetime) -> datetime.datetime | None:
    if not token:
        return None
    kept = [
        (t, first, date)
        for t, first, date in getattr(execution, "o2c_redrive_tokens", [])
        if now - first <= CLIENT_TOKEN_TTL
    ]
    execution.o2c_redrive_tokens = kept
    return next((date for t, first, date in kept if t == token), None)


def redrive(backend: Any, execution_arn: str, client_token: str | None = None) -> datetime.datetime:
    """Redrive an execution of moto's interpreter backend; returns ``redriveDate``."""
    from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    execution = backend.describe_execution(execution_arn)  # ExecutionDoesNotExist / InvalidArn
    with _lock:
        now = _now()
        answered = _kept_token(execution, client_token, now)
        if answered is not None:
            return answered
        reason = not_redrivable_reason(execution, now)
        if reason:
            raise ExecutionNotRedrivable(f"Execution {execution_arn} cannot be redriven: {reason}")
        old_env = execution.exec_worker.env if execution.exec_worker is not None else None
        # the definition the execution started with (its state machine snapshot), never a later update
        program = AmazonStateLanguageParser.parse(execution.state_machine.definition)[0]
        state_name, state_input = _restart_point(execution, program)

        from localcloud.sfn_redrive_worker import RedriveExecutionWorker

        count = redrive_count(execution) + 1
        worker = RedriveExecutionWorker.for_execution(execution, state_name)
        env = worker._get_evaluation_environment()
        if old_env is not None:
            env.event_manager = old_env.event_manager  # the history goes on, event ids too
        last_id = max((e["id"] for e in _history(execution)), default=0)
        env.event_history_context = EventHistoryContext(previous_event_id=last_id)  # type: ignore[misc]
        context = env.states.context_object.context_object_data
        execution_context: dict[str, Any] = context["Execution"]  # type: ignore[assignment]
        execution_context["RedriveCount"] = count
        execution_context["RedriveTime"] = now.isoformat()
        env.states.reset(state_input)
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details={"executionRedrivenEventDetails": {"redriveCount": count}},  # type: ignore[arg-type]
        )
        worker.env = env

        execution.o2c_redrive_count = count
        execution.o2c_redrive_date = now
        if client_token:
            tokens = [*getattr(execution, "o2c_redrive_tokens", []), (client_token, now, now)]
            execution.o2c_redrive_tokens = tokens[-CLIENT_TOKENS_KEPT:]
        execution.exec_worker = worker
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.error = None
        execution.cause = None
        execution.output = None
        worker.start()
        return now


class ExecutionNotRedrivable(AWSError):
    """Step Functions' error (moto's parser declares the class without its code: the answer had none)."""

    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


def install() -> None:
    """Add RedriveExecution to moto's Step Functions and the redrive members to DescribeExecution and
    ListExecutions (with ``redriveFilter``)."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.responses import StepFunctionResponse
    from moto.stepfunctions.utils import PAGINATION_MODEL
    from moto.utilities.paginator import paginate

    def redrive_execution(self: Any) -> Any:
        when = redrive(
            self.stepfunction_backend, self._get_param("executionArn"), self._get_param("clientToken")
        )
        return ActionResult({"redriveDate": when})

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        result = original_describe(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        body = result.result
        if isinstance(body, dict):
            if execution.status == ExecutionStatus.TIMED_OUT and execution.stop_date:
                body["stopDate"] = execution.stop_date
            body.update(redrive_fields(execution))
        return result

    @paginate(pagination_model=PAGINATION_MODEL)
    def list_executions(
        self: Any,
        state_machine_arn: str,
        status_filter: str | None = None,
        redrive_filter: str | None = None,
    ) -> list[Any]:
        executions = list(self.describe_state_machine(state_machine_arn).executions)
        if status_filter:
            executions = [e for e in executions if e.status == status_filter]
        if redrive_filter == "REDRIVEN":
            executions = [e for e in executions if redrive_count(e) > 0]
        elif redrive_filter == "NOT_REDRIVEN":
            executions = [e for e in executions if redrive_count(e) == 0]
        return sorted(executions, key=lambda x: x.start_date, reverse=True)

    list_executions_backend = list_executions

    def list_executions_response(self: Any) -> Any:
        arn = self._get_param("stateMachineArn")
        state_machine = self.stepfunction_backend.describe_state_machine(arn)
        results, next_token = self.stepfunction_backend.list_executions(
            arn,
            status_filter=self._get_param("statusFilter"),
            redrive_filter=self._get_param("redriveFilter"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        items = []
        for execution in results:
            item: dict[str, Any] = {
                "executionArn": execution.execution_arn,
                "name": execution.name,
                "startDate": execution.start_date,
                "stateMachineArn": state_machine.arn,
                "status": execution.status,
                "redriveCount": redrive_count(execution),
            }
            if execution.status != ExecutionStatus.RUNNING and execution.stop_date:
                item["stopDate"] = execution.stop_date
            if redrive_date(execution) is not None:
                item["redriveDate"] = redrive_date(execution)
            items.append(item)
        return ActionResult({"executions": items, "nextToken": next_token})

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]
    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionResponse.list_executions = list_executions_response  # type: ignore[method-assign]
    StepFunctionBackend.list_executions = list_executions_backend  # type: ignore[method-assign]
