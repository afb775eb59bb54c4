"""The committed OpenAPI document (``api/openapi.json``) fuzzed against the local API with schemathesis, as a
client would call it: a token from the local ``/oauth2/token`` and the client's usage-plan key on every
request, a fresh valid ``Idempotency-Key`` on each POST (schemathesis' invalid keys stay invalid), valid and
invalid inputs. Every answer must be no server error, a status the document declares for the operation,
with its content type, headers and schema. Bounded and reproducible (a few derandomized examples per
operation and mode, no shrinking, no coverage or stateful phase) so it fits in ``make test``.

schemathesis' pytest plugin (``from_fixture``/``parametrize``) does not run under pytest 9 (it sets a node's
``_nodeid``), so the test drives schemathesis' strategies with Hypothesis itself: one run per operation and
generation mode, every failure collected and reported together."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Config, GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.api.idempotency_keys import KEY_PATTERN
from shared.api.openapi import DOCUMENT
from shared.api.problems import KINDS
from tests.flow.conftest import Hub
from tests.flow.test_api_flow import api_key, caller, token

#: examples per operation and generation mode (valid, invalid): 8 operations x 2 x this many requests
EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(
    base_url: str, credentials: dict[str, str], examples: int = EXAMPLES
) -> tuple[list[str], Counter[int]]:
    """Every operation of the document, valid and invalid inputs: the failures, as schemathesis words them,
    and how often each status was answered."""
    schema = openapi.from_path(
        DOCUMENT, config=Config.from_dict({"generation": {"with-security-parameters": False}})
    )
    schema.config.update(base_url=base_url)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(result.ok(), mode, credentials, examples, failures, statuses)
    return failures, statuses


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    credentials: dict[str, str],
    examples: int,
    failures: list[str],
    statuses: Counter[int],
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        headers = case.headers if case.headers is not None else {}
        key = headers.get("Idempotency-Key")
        if isinstance(key, str) and re.fullmatch(KEY_PATTERN, key):
            headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"  # valid, and not reused by chance
            case.headers = headers
        response = case.call(headers=credentials, timeout=30)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=credentials)
        except FailureGroup as exc:
            failures.append(f"{operation.label} ({mode.value}): {exc}")

    run()


def test_every_answer_is_the_documents(hub: Hub) -> None:
    credentials = {"Authorization": f"Bearer {token(hub)}", "x-api-key": api_key(hub)}
    failures, statuses = fuzz(hub.api, credentials)
    assert not failures, "\n\n".join(failures)
    # the run reached the hub: valid requests were served, invalid ones refused by validation, none by the
    # authorizer or the usage plan (a run answered 401 throughout would conform and test nothing)
    assert statuses[422] and any(200 <= s < 300 for s in statuses), statuses
    assert not statuses[401] and not statuses[403], statuses


def test_a_customer_id_the_erp_cannot_hold_is_not_found(hub: Hub) -> None:
    """Found by the fuzzing run's coverage phase: a customer id the document allows but no ERP external id
    can be (a '.', over 200 characters with the ``api-`` prefix, more digits than an internal id) crashed
    the function (502); it is no customer, so 404."""
    call = caller(hub, "reader")
    for any_id in ("acme.gmbh", "a" * 250, "0" * 250):
        status, headers, body = call("GET", f"/v1/customers/{any_id}")
        assert (status, headers["Content-Type"], body["type"]) == (
            404,
            "application/problem+json",
            KINDS["not-found"][0],
        ), body
