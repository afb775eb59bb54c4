"""Handlers built from injected settings and dependencies, with no function environment at all; a missing or
malformed variable named in the error; the Powertools stack applied once, in its order (``lambda_entry``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from shared.crm.closed_won import DealState
from shared.events.envelope import CanonicalEvent
from shared.ingress.lambda_adapter import WebhookDeps
from shared.observability import lambda_entry, logger, metrics
from shared.settings import Env, SettingError, WebhookSettings
from tests.conftest import stripe_sample
from tests.unit.crm_fixtures import opportunity

SECRET = "whsec_boundaries"


@dataclass
class Context:
    """What Lambda hands a handler (the fields Powertools' logger reads)."""

    function_name: str = "fn"
    function_version: str = "1"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/fn"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class Bus:
    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []

    def publish(self, events: Sequence[CanonicalEvent]) -> int:
        self.events.extend(events)
        return len(events)


class EveryTimeOnce:
    """A de-duplication gate that remembers nothing: each delivery is new."""

    def __init__(self) -> None:
        self.contexts: list[Any] = []

    def wrap(self, work: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return work

    def register_lambda_context(self, context: Any) -> None:
        self.contexts.append(context)


@pytest.fixture(autouse=True)
def lambda_like(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Powertools environment every function gets (the metrics' namespace was read at import)."""
    monkeypatch.setattr(metrics.provider, "namespace", "O2CHubTest")
    metrics.clear_metrics()


WEBHOOK = WebhookSettings(stage="unit", idempotency_table_name="idem", event_bus_name="o2c-unit")


# --- settings ------------------------------------------------------------------------------------------------


def test_a_missing_variable_is_named_with_the_settings_it_belongs_to() -> None:
    from functions.stripe_webhook.handler import Settings

    env = {"IDEMPOTENCY_TABLE_NAME": "idem", "EVENT_BUS_NAME": "bus"}
    with pytest.raises(
        SettingError, match=r"^Settings: environment variable STRIPE_WEBHOOK_SECRET_ARN is not set$"
    ):
        Settings.read(Env(env, owner="Settings"))


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("MAX_BODY_BYTES", "lots", "is not an integer: 'lots'"),
        ("MAX_BODY_BYTES", "0", "must be positive"),
        ("EVENT_BUS_NAME", "", "is empty"),
    ],
)
def test_a_malformed_variable_is_named_with_what_is_wrong(name: str, value: str, problem: str) -> None:
    env = {"IDEMPOTENCY_TABLE_NAME": "idem", "EVENT_BUS_NAME": "bus", name: value}
    with pytest.raises(SettingError, match=f"environment variable {name} {problem}"):
        WebhookSettings.read(Env(env))


def test_flags_and_json_settings_refuse_what_they_cannot_read() -> None:
    from functions.operations_sweep.handler import Settings as SweepSettings
    from functions.salesforce_webhook.handler import Settings as SalesforceSettings

    base = {"IDEMPOTENCY_TABLE_NAME": "idem", "EVENT_BUS_NAME": "bus"}
    with pytest.raises(SettingError, match="SALESFORCE_VERIFY_SESSION_ID is not true or false: 'yes'"):
        SalesforceSettings.read(Env({**base, "SALESFORCE_VERIFY_SESSION_ID": "yes"}))
    with pytest.raises(SettingError, match="SALESFORCE_MY_DOMAIN_URL is not set"):
        SalesforceSettings.read(Env({**base, "SALESFORCE_VERIFY_SESSION_ID": "true"}))
    with pytest.raises(SettingError, match="DEAD_LETTER_QUEUE_URLS is not JSON"):
        SweepSettings.read(
            Env(
                {
                    "QUOTE_TO_CASH_STATE_MACHINE_ARN": "arn",
                    "PENDING_TABLE_NAME": "p",
                    "DEAD_LETTER_QUEUE_URLS": "{",
                }
            )
        )


def test_settings_are_read_from_the_environment_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.q2c_wait_registrar.handler import Settings

    Settings.forget()
    monkeypatch.setenv("CORRELATION_TABLE_NAME", "first")
    first = Settings.from_env()
    monkeypatch.setenv("CORRELATION_TABLE_NAME", "second")
    assert Settings.from_env() is first and first.correlation_table_name == "first"
    Settings.forget()
    assert Settings.from_env().correlation_table_name == "second"
    Settings.forget()


def test_settings_do_not_import_pydantic() -> None:
    """Issue 16: pydantic stays off the webhooks' cold-start path; reading settings must not bring it in."""
    probe = "import sys, shared.settings; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_a_handler_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module-level handler is built on the first invocation: with no function environment the import
    succeeds and only the invocation fails, naming the variable."""
    from functions.q2c_wait_registrar import handler

    handler.Settings.forget()
    monkeypatch.delenv("CORRELATION_TABLE_NAME", raising=False)
    named = r"^functions\.q2c_wait_registrar\.handler\.Settings: environment variable CORRELATION_TABLE_NAME is not set$"
    with pytest.raises(SettingError, match=named):
        handler.lambda_handler({"key": "k", "token": "t", "execution": "e", "state": "s"}, Context())
    handler.Settings.forget()


# --- handlers built with injected settings and dependencies -------------------------------------------------


def no_function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.topology import FUNCTIONS, Resolved, function_environment

    resolved = Resolved(
        stage="x", table_names={}, secret_refs={}, event_bus_name="", settings={}, state_machine_arn=""
    )
    for fn in FUNCTIONS:
        try:
            names = function_environment(fn, resolved)
        except KeyError:
            names = {}
        for name in [*names, *fn.settings, *fn.stage_settings]:
            if not name.startswith("POWERTOOLS_"):
                monkeypatch.delenv(name, raising=False)


def test_a_webhook_handler_runs_on_injected_settings_and_fakes(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.stripe_webhook.handler import Settings, make_handler
    from shared.inbound.stripe import StripeProvider, signature_header

    no_function_environment(monkeypatch)
    bus, gate = Bus(), EveryTimeOnce()
    settings = Settings(webhook=WEBHOOK, webhook_secret_arn="unused: the provider is injected")
    handler = make_handler(
        settings, WebhookDeps(publisher=bus, once_only=gate), StripeProvider(secrets=lambda: [SECRET])
    )
    body = json.dumps(stripe_sample("payment_intent.succeeded"))
    event = {
        "httpMethod": "POST",
        "path": "/webhooks/stripe",
        "headers": {"Stripe-Signature": signature_header(body.encode(), [SECRET])},
        "body": body,
        "requestContext": {"requestId": "req-1"},
    }

    reply = handler(event, Context())

    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["status"] == "accepted"
    assert [e.detail_type for e in bus.events] == ["PaymentCaptured"]
    assert len(gate.contexts) == 1
    unsigned = handler({**event, "headers": {}}, Context())
    assert unsigned["statusCode"] == 401 and len(bus.events) == 1


def test_a_webhook_refuses_a_body_over_its_settings_limit(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.erp_webhook.handler import Settings, make_handler
    from shared.inbound.erp import ErpProvider

    no_function_environment(monkeypatch)
    bus = Bus()
    small = WebhookSettings(
        stage="unit", idempotency_table_name="idem", event_bus_name="bus", max_body_bytes=10
    )
    handler = make_handler(
        Settings(webhook=small, webhook_secret_arn="unused"),
        WebhookDeps(publisher=bus, once_only=EveryTimeOnce()),
        ErpProvider(secrets=lambda: ["whsec_x"]),
    )
    reply = handler(
        {"httpMethod": "POST", "path": "/webhooks/erp", "body": "x" * 11, "headers": {}}, Context()
    )
    assert reply["statusCode"] == 413 and bus.events == []


class Crm:
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def update_deal(self, deal_id: str, properties: dict[str, Any]) -> None:
        self.writes.append((deal_id, properties))

    def fetch_deal_state(self, opportunity_id: str) -> DealState:
        return DealState(self.stage, None, None)

    def fetch_opportunity(self, opportunity_id: str) -> Any:
        return opportunity("hubspot", opportunity_id)


def test_a_task_handler_uses_its_settings_and_injected_clients(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.q2c_crm_tasks.handler import Deps, Settings, make_handler

    no_function_environment(monkeypatch)
    crm = Crm("won_custom")
    handler = make_handler(
        Settings(hubspot_closed_won_stages=("won_custom",)), Deps(crm_for=lambda system: crm)
    )
    won = opportunity("hubspot", "9876543210")
    base = {"opportunity": {"opportunity": won.dump()}, "correlationId": "c-1"}

    written = handler(
        {**base, "action": "write_back", "order": {"erpOrderId": "1001", "documentNumber": "SO-1001"}},
        Context(),
    )
    assert written == {"crmUpdated": True, "paymentStatus": "paid"}
    assert crm.writes == [
        (
            "9876543210",
            {"o2c_erp_order_number": "SO-1001", "o2c_erp_invoice_number": "", "o2c_payment_status": "paid"},
        )
    ]
    # the won stages are the settings' (a stage the CRM's default would not count)
    assert handler({**base, "action": "recheck"}, Context())["wonInCrm"] is True
    other = make_handler(Settings(), Deps(crm_for=lambda system: crm))
    assert other({**base, "action": "recheck"}, Context())["wonInCrm"] is False
    with pytest.raises(ValueError, match="unknown action 'nope'"):
        handler({**base, "action": "nope"}, Context())


def test_the_wait_registrar_registers_with_the_injected_store(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.q2c_wait_registrar.handler import Settings, make_handler

    no_function_environment(monkeypatch)
    waits: list[tuple[str, str, str, str]] = []

    class Correlations:
        def register_wait(self, key: str, token: str, *, execution: str, state: str) -> bool:
            waits.append((key, token, execution, state))
            return False

    handler = make_handler(Settings(correlation_table_name="unused"), Correlations())  # type: ignore[arg-type]
    reply = handler(
        {"key": "pm:deal-1", "token": "tok", "execution": "ex", "state": "WaitForCard"}, Context()
    )
    assert reply == {"registered": True, "resumedNow": False}
    assert waits == [("pm:deal-1", "tok", "ex", "WaitForCard")]


# --- the Powertools stack ------------------------------------------------------------------------------------


def test_lambda_entry_clears_the_last_invocations_keys_and_flushes_metrics_even_on_failure(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, Any]] = []

    @lambda_entry
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(dict(logger.get_current_keys()))
        logger.append_keys(order=event["order"])
        metrics.add_metric(name="Handled", unit="Count", value=1)
        if event.get("fail"):
            raise RuntimeError("boom")
        return {"ok": True}

    assert handler({"order": "o-1"}, Context()) == {"ok": True}
    with pytest.raises(RuntimeError):
        handler({"order": "o-2", "fail": True}, Context(aws_request_id="req-2"))

    # the second invocation starts without the first one's key, with its own Lambda context
    assert "order" not in seen[1] and seen[1]["function_request_id"] == "req-2"
    flushed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    # one EMF document per invocation, the failed one too
    assert [m["Handled"] for m in flushed] == [[1.0], [1.0]]
