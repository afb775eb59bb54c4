"""Step Functions matches a task's error by its exact name (the Lambda's ``errorType``), not by class
hierarchy: every transient failure a quote-to-cash step can raise must reach the state machine under a name
its technical retry lists, or the execution fails at the first timeout instead of retrying."""

from __future__ import annotations

import pytest

from infra.statemachine import TECHNICAL_RETRY
from shared.deadline import DeadlineExceeded
from shared.errors import TransientError
from shared.order_to_cash.step_errors import classified
from shared.outbound.netsuite import RequestOutcomeUnknown

RETRIED = {name for rule in TECHNICAL_RETRY for name in rule["ErrorEquals"]}


@pytest.mark.parametrize(
    "error",
    [
        TransientError("NetSuite 429", status=429),
        DeadlineExceeded("no time left for the request"),
        # a NetSuite read timeout under load (bench/capacity.py saw executions fail with this name)
        RequestOutcomeUnknown("GET /services/rest/record/v1/customer/105 -> ReadTimeoutError"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_transient_failure_reaches_the_state_machine_under_a_name_it_retries(error: Exception) -> None:
    def step() -> None:
        raise error

    with pytest.raises(TransientError) as raised:
        classified(step)()
    assert type(raised.value).__name__ in RETRIED
    assert str(error) in str(raised.value)
