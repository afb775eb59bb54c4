"""The hub's wiring, declared once.

Both the CDK stack (``infra/``) and the embedded local cloud (``localcloud/``) build their resources
from this module, so what runs on a laptop is what ``cdk deploy`` ships. It is plain Python with no
CDK import: the local cloud reads it without paying for jsii.

A test (``tests/infra/test_local_matches_template.py``) compares the resources the local cloud
actually provisions with the synthesized CloudFormation template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Access = Literal["read", "write", "read_write"]

#: Every function runs on this Lambda runtime and architecture; the layer is built for them.
LAMBDA_RUNTIME = "python3.14"
LAMBDA_ARCHITECTURE = "arm64"
LAYER_PYTHON_VERSION = "3.14"
LAYER_PLATFORM = "manylinux2014_aarch64"

METRICS_NAMESPACE = "O2CHub"
EVENT_SOURCES = ("o2c.crm", "o2c.erp", "o2c.payments", "o2c.orchestration", "o2c.reconciliation")


def bus_name(stage: str) -> str:
    """The stage's custom bus (CONTRACT §3): ``o2c-<stage>``; derived from the stage, so stages coexist."""
    return f"o2c-{stage}"


@dataclass(frozen=True)
class TableSpec:
    id: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    #: Environment variable through which functions learn the table's name.
    env_var: str = ""


@dataclass(frozen=True)
class SecretSpec:
    id: str
    description: str
    #: Environment variable through which functions learn the secret's ARN (or name locally).
    env_var: str


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str


@dataclass(frozen=True)
class FunctionSpec:
    id: str
    #: Directory (relative to the repository root) shipped as the function's code asset.
    code_dir: str
    description: str
    handler: str = "handler.lambda_handler"
    memory_mb: int = 256
    timeout_s: int = 10
    route: RouteSpec | None = None
    tables: dict[str, Access] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    publishes_events: bool = False
    #: Static, non-secret settings the function reads at cold start.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """Import path of the handler module when the repository root is on sys.path."""
        return self.code_dir.replace("/", ".") + "." + self.handler.rsplit(".", 1)[0]

    @property
    def handler_attr(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def service_name(self) -> str:
        return self.code_dir.rsplit("/", 1)[-1].replace("_", "-")


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer of canonical events: rule on the bus → its own SQS queue (with DLQ) → function."""

    id: str
    function: FunctionSpec
    #: EventBridge event pattern of the rule that feeds the queue.
    pattern: dict[str, object]
    batch_size: int = 10
    max_receive_count: int = 5
    max_batching_window_s: int = 1

    @property
    def visibility_timeout_s(self) -> int:
        # AWS: the queue's visibility timeout should be at least 6x the function timeout.
        return 6 * self.function.timeout_s


IDEMPOTENCY_TABLE = TableSpec(
    id="IdempotencyTable", partition_key="id", ttl_attribute="expiration", env_var="IDEMPOTENCY_TABLE_NAME"
)
LINEAGE_TABLE = TableSpec(id="LineageTable", partition_key="pk", sort_key="sk", env_var="LINEAGE_TABLE_NAME")
TABLES: tuple[TableSpec, ...] = (IDEMPOTENCY_TABLE, LINEAGE_TABLE)

STRIPE_WEBHOOK_SECRET = SecretSpec(
    id="StripeWebhookSecret",
    description='Stripe webhook endpoint signing secrets: {"secrets": ["whsec_...", ...]} (several while rolling)',
    env_var="STRIPE_WEBHOOK_SECRET_ARN",
)
SECRETS: tuple[SecretSpec, ...] = (STRIPE_WEBHOOK_SECRET,)

STRIPE_WEBHOOK = FunctionSpec(
    id="StripeWebhook",
    code_dir="functions/stripe_webhook",
    description="POST /webhooks/stripe: verify, de-duplicate, normalise and publish Stripe events",
    memory_mb=512,
    timeout_s=10,
    route=RouteSpec("POST", "/webhooks/stripe"),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(STRIPE_WEBHOOK_SECRET.id,),
    publishes_events=True,
    settings={"STRIPE_TOLERANCE_SECONDS": "300", "MAX_BODY_BYTES": "262144"},
)

LINEAGE_RECORDER = FunctionSpec(
    id="LineageRecorder",
    code_dir="functions/lineage_recorder",
    description="Records every canonical event against every id it carries (o2c trace)",
    memory_mb=256,
    timeout_s=30,
    tables={LINEAGE_TABLE.id: "read_write"},
)

WEBHOOK_FUNCTIONS: tuple[FunctionSpec, ...] = (STRIPE_WEBHOOK,)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec(
        id="LineageRecorder",
        function=LINEAGE_RECORDER,
        pattern={"source": list(EVENT_SOURCES)},
        batch_size=10,
        max_receive_count=5,
    ),
)

FUNCTIONS: tuple[FunctionSpec, ...] = WEBHOOK_FUNCTIONS + tuple(c.function for c in CONSUMERS)

TABLES_BY_ID = {t.id: t for t in TABLES}
SECRETS_BY_ID = {s.id: s for s in SECRETS}


@dataclass(frozen=True)
class Resolved:
    """Physical names (or CDK tokens) of the shared resources, as a stage knows them."""

    stage: str
    table_names: dict[str, str]
    secret_refs: dict[str, str]
    event_bus_name: str
    log_level: str = "INFO"


def function_environment(fn: FunctionSpec, resolved: Resolved) -> dict[str, str]:
    """The environment one function gets, and no other function's: same in the stack and locally."""
    env: dict[str, str] = {
        "STAGE": resolved.stage,
        "POWERTOOLS_SERVICE_NAME": fn.service_name,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": resolved.log_level,
    }
    for table_id in fn.tables:
        env[TABLES_BY_ID[table_id].env_var] = resolved.table_names[table_id]
    for secret_id in fn.secrets:
        env[SECRETS_BY_ID[secret_id].env_var] = resolved.secret_refs[secret_id]
    if fn.publishes_events:
        env["EVENT_BUS_NAME"] = resolved.event_bus_name
    env.update(fn.settings)
    return env
