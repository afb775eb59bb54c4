"""The worker that runs a redriven execution (``localcloud.sfn_redrive``). A module of its own, imported at the
first redrive: it loads moto's ASL interpreter, whose import takes seconds, and a cloud that never redrives
should not pay for it at boot. Module-level, so a snapshot (``localcloud.state``) can pickle the worker."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker


class RedriveExecutionWorker(ExecutionWorker):
    """Runs an execution's program again from ``start_state`` in the environment ``redrive`` prepared (its
    history, the failed state's input)."""

    start_state: str

    @classmethod
    def for_execution(cls, execution: Any, start_state: str) -> RedriveExecutionWorker:
        base = execution._get_start_execution_worker()
        worker = cls.__new__(cls)
        worker.__dict__.update(base.__dict__)
        worker.start_state = start_state
        return worker

    def _execution_logic(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        program: Any = AmazonStateLanguageParser.parse(
            self._evaluation_details.state_machine_details.definition
        )[0]
        program.start_at = StartAt(self.start_state)
        program.eval(self.env)
        self._execution_communication.terminated()
