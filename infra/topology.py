"""The hub's wiring, declared once.

Both the CDK stack (``infra/``) and the embedded local cloud (``localcloud/``) build their resources
from this module, so what runs on a laptop is what ``cdk deploy`` ships. It is plain Python with no
CDK import: the local cloud reads it without paying for jsii.

A test (``tests/infra/test_local_matches_template.py``) compares the resources the local cloud
actually provisions with the synthesized CloudFormation template.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Literal

Access = Literal["read", "write", "read_write"]

#: Every function runs on this Lambda runtime and architecture; the layer is built for them, wheels and
#: bytecode alike: ``scripts/build_layer.py`` compiles the layer with this very Python minor version
#: (bytecode of another version is ignored, so /opt would be compiled again on every cold start).
LAMBDA_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURE = "arm64"
LAYER_PYTHON_VERSION = LAMBDA_RUNTIME.removeprefix("python")
LAYER_PLATFORM = "manylinux2014_aarch64"

METRICS_NAMESPACE = "O2CHub"
#: Every function is invoked through this alias (API routes, queues, schedules, state machine tasks, the CLI):
#: each deploy publishes a new version and CodeDeploy shifts the alias to it (infra/constructs/deployments.py).
LIVE_ALIAS = "live"
EVENT_SOURCES = ("o2c.crm", "o2c.erp", "o2c.payments", "o2c.orchestration", "o2c.reconciliation")


def bus_name(stage: str) -> str:
    """The stage's custom bus (CONTRACT §3): ``o2c-<stage>``; derived from the stage, so stages coexist."""
    return f"o2c-{stage}"


# --- time budgets ----------------------------------------------------------------------------------------
#
# A function that is still waiting on a vendor when its timeout strikes is killed with its whole invocation:
# an SQS batch comes back whole (every message one receive closer to the DLQ), a state machine task fails
# with ``Sandbox.Timedout``. So each consumer and each state machine task function has one ``Budget``, and
# its function timeout, its queue's visibility timeout, its batch size and its event source mapping's
# maximum concurrency are derived from it; the connectors stop in time within it
# (``shared.deadline``). ``tests/infra/test_budgets.py`` checks the arithmetic.

#: What a handler keeps after its last vendor call (``shared.deadline.SAFETY_MARGIN_S``).
SAFETY_MARGIN_S = 2.0
#: The AWS guidance for an SQS event source: the queue's visibility timeout at least 6x the function timeout
#: (plus the batching window), so a batch being retried by Lambda is not delivered again meanwhile.
VISIBILITY_TIMEOUT_FACTOR = 6
#: Lambda's floor for an SQS event source mapping's ``MaximumConcurrency``.
MIN_MAXIMUM_CONCURRENCY = 2


@dataclass(frozen=True)
class CallPolicy:
    """How the shared transport calls one vendor (the connectors' defaults): per attempt a connect and a read
    timeout, ``attempts`` in all, at most ``max_backoff_s`` between two, and first up to ``gate_wait_s`` for
    an ERP concurrency slot."""

    name: str
    connect_s: float
    read_s: float
    attempts: int
    max_backoff_s: float
    gate_wait_s: float = 0.0
    #: One call's usual time under load (the latency the vendor is known for), for sizing batches.
    typical_s: float = 0.5

    @property
    def worst_case_s(self) -> float:
        """A call that fails slowly every time: gate wait + every attempt to its timeouts + every backoff."""
        return (
            self.gate_wait_s
            + self.attempts * (self.connect_s + self.read_s)
            + (self.attempts - 1) * self.max_backoff_s
        )


#: ``shared.outbound.netsuite.NetSuiteHttp`` with ``ErpGate`` (the test checks the connectors' defaults).
NETSUITE_CALLS = CallPolicy(
    "netsuite", connect_s=10, read_s=10, attempts=3, max_backoff_s=10, gate_wait_s=10, typical_s=1.5
)
#: ``shared.outbound.http.JsonHttp``: HubSpot, Salesforce, AvaTax.
JSON_HTTP_CALLS = CallPolicy("json_http", connect_s=5, read_s=5, attempts=3, max_backoff_s=10, typical_s=0.4)
#: ``shared.outbound.stripe_payments.StripePayments``.
STRIPE_CALLS = CallPolicy("stripe", connect_s=5, read_s=20, attempts=3, max_backoff_s=10, typical_s=0.4)
#: ``shared.aws.client``: botocore standard retry mode, 3 attempts, backoff at most 1 s then 2 s.
AWS_CALLS = CallPolicy("aws", connect_s=2, read_s=5, attempts=3, max_backoff_s=2, typical_s=0.05)


@dataclass(frozen=True)
class Budget:
    """The time one function has for one invocation, and what follows from it.

    ``calls``: the transports its records use (the slowest one's worst case must fit, whole, in the timeout);
    ``calls_per_record``: how many calls one record (one task) usually makes, each at its slowest transport's
    typical time; ``batch_size`` records per invocation (all of them must usually fit); ``max_concurrency``:
    concurrent invocations from its queue (at least 2, Lambda's floor); ``erp``: it holds ERP slots (one at a
    time per invocation), so its concurrency counts against the ERP account's limit."""

    calls: tuple[CallPolicy, ...]
    calls_per_record: int
    batch_size: int = 1
    max_concurrency: int = MIN_MAXIMUM_CONCURRENCY
    batching_window_s: int = 1
    erp: bool = False
    margin_s: float = SAFETY_MARGIN_S

    @property
    def slowest(self) -> CallPolicy:
        return max(self.calls, key=lambda c: (c.worst_case_s, c.typical_s))

    @property
    def record_s(self) -> float:
        """A record's usual time: its calls at the slowest transport's typical latency."""
        return self.calls_per_record * max(c.typical_s for c in self.calls)

    @property
    def timeout_s(self) -> int:
        """The function timeout: the slowest call's worst case, or a batch's usual time if longer, plus the
        margin. What does not fit is not started (``deadline``) and comes back as a batch item failure."""
        return math.ceil(self.margin_s + max(self.slowest.worst_case_s, self.batch_size * self.record_s))

    @property
    def visibility_timeout_s(self) -> int:
        return VISIBILITY_TIMEOUT_FACTOR * self.timeout_s + self.batching_window_s


#: The NetSuite account's concurrency limit a stage is planned for when ``cdk.json`` does not say
#: (``erpConcurrencyLimit``): NetSuite's base limit is 5 on the Standard service tier and 15 on Premium
#: (or Standard with one SuiteCloud Plus licence, +10 each). The ERP gate enforces the stage's value.
ERP_CONCURRENCY_LIMIT_DEFAULT = 15


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
class ApiRouteSpec:
    """A route of the governed /v1 API: API Gateway requires a token with ``scope`` (a Cognito authorizer;
    IAM as the alternative for callers inside AWS) before the function sees the request."""

    method: str
    path: str
    #: the scope's short name (``read``, ``orders:write`` ...); the token carries ``<API_RESOURCE_SERVER>/<it>``
    scope: str


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
    #: Settings whose values differ per stage (vendor base URLs, allow-lists); values from ``Resolved``.
    stage_settings: tuple[str, ...] = ()
    #: Invoked by the quote-to-cash state machine as a task.
    state_machine_task: bool = False
    #: What the function may do to the state machine: start executions, answer task tokens, or read its
    #: executions (list them and their histories).
    state_machine_access: Literal["start", "task_response", "read", "start_and_read"] | None = None
    #: Reads the depth of every dead-letter queue (their URLs in DEAD_LETTER_QUEUE_URLS, a JSON object).
    reads_dead_letter_queues: bool = False
    #: EventBridge Scheduler expression that invokes the function (e.g. the daily reconciliation).
    schedule: str | None = None
    #: Consumers and state machine task functions: their time budget, which sets ``timeout_s``.
    budget: Budget | None = None
    #: The /v1 API function: the routes it serves, each behind the authorizer with its scope.
    api_routes: tuple[ApiRouteSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.budget is not None:
            object.__setattr__(self, "timeout_s", self.budget.timeout_s)

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
    """A consumer of canonical events: rule on the bus → its own SQS queue (with DLQ) → function. With a
    function budget (every consumer of the hub has one), batch size, batching window and maximum concurrency
    come from it (``consumer()``)."""

    id: str
    function: FunctionSpec
    #: EventBridge event pattern of the rule that feeds the queue.
    pattern: dict[str, object]
    batch_size: int = 10
    max_receive_count: int = 5
    max_batching_window_s: int = 1
    #: The bus the rule sits on: "hub" (the stage's bus) or a partner bus id from PARTNER_BUSES.
    bus: str = "hub"
    #: The event source mapping's ``MaximumConcurrency``: concurrent invocations from this queue (>= 2).
    max_concurrency: int = MIN_MAXIMUM_CONCURRENCY

    @property
    def visibility_timeout_s(self) -> int:
        # AWS: the queue's visibility timeout at least 6x the function timeout, plus the batching window.
        return VISIBILITY_TIMEOUT_FACTOR * self.function.timeout_s + self.max_batching_window_s


def consumer(
    id: str,
    function: FunctionSpec,
    pattern: dict[str, object],
    *,
    max_receive_count: int = 5,
    bus: str = "hub",
) -> ConsumerSpec:
    """A consumer whose batch size, batching window and maximum concurrency are its function's budget's."""
    budget = function.budget
    if budget is None:
        raise ValueError(f"consumer {id}: its function {function.id} has no budget")
    return ConsumerSpec(
        id=id,
        function=function,
        pattern=pattern,
        batch_size=budget.batch_size,
        max_receive_count=max_receive_count,
        max_batching_window_s=budget.batching_window_s,
        bus=bus,
        max_concurrency=budget.max_concurrency,
    )


IDEMPOTENCY_TABLE = TableSpec(
    id="IdempotencyTable", partition_key="id", ttl_attribute="expiration", env_var="IDEMPOTENCY_TABLE_NAME"
)
LINEAGE_TABLE = TableSpec(id="LineageTable", partition_key="pk", sort_key="sk", env_var="LINEAGE_TABLE_NAME")
CORRELATION_TABLE = TableSpec(
    id="CorrelationTable", partition_key="pk", ttl_attribute="expiration", env_var="CORRELATION_TABLE_NAME"
)
ERP_GATE_TABLE = TableSpec(
    id="ErpGateTable", partition_key="pk", ttl_attribute="expiration", env_var="ERP_GATE_TABLE_NAME"
)
#: Facts that arrived before what they depend on, until it arrives (``shared.order_to_cash.pending``); no TTL: nothing
#: waiting is ever dropped.
PENDING_TABLE = TableSpec(id="PendingTable", partition_key="pk", sort_key="sk", env_var="PENDING_TABLE_NAME")
TABLES: tuple[TableSpec, ...] = (
    IDEMPOTENCY_TABLE,
    LINEAGE_TABLE,
    CORRELATION_TABLE,
    ERP_GATE_TABLE,
    PENDING_TABLE,
)


@dataclass(frozen=True)
class ClaimCheckBucketSpec:
    """Where events too large for PutEvents keep their ``data`` (``shared.claimcheck``): the publishing
    functions put, the consumers (which load it back in ``shared.consumers``) get."""

    id: str = "ClaimCheckBucket"
    env_var: str = "CLAIM_CHECK_BUCKET_NAME"
    #: Objects expire after this; longer than any queue or DLQ keeps a message (14 days) and a redrive window,
    #: so a delivered, parked or redriven event still finds its data. Replays of older archived events do not.
    expiry_days: int = 365


CLAIM_CHECK_BUCKET = ClaimCheckBucketSpec()
#: Every claim check's key starts with this (``shared.claimcheck.key_for``); the grants stop at it.
CLAIM_CHECK_KEY_PREFIX = "events/"

STRIPE_WEBHOOK_SECRET = SecretSpec(
    id="StripeWebhookSecret",
    description='Stripe webhook endpoint signing secrets: {"secrets": ["whsec_...", ...]} (several while rolling)',
    env_var="STRIPE_WEBHOOK_SECRET_ARN",
)
HUBSPOT_CREDENTIALS = SecretSpec(
    id="HubSpotCredentials",
    description='HubSpot app: {"secrets": ["<client secret>", ...], "access_token": "pat-..."}',
    env_var="HUBSPOT_CREDENTIALS_ARN",
)
SALESFORCE_CREDENTIALS = SecretSpec(
    id="SalesforceCredentials",
    description='Salesforce connected app (client credentials flow): {"client_id": "...", "client_secret": "..."}',
    env_var="SALESFORCE_CREDENTIALS_ARN",
)
ERP_WEBHOOK_SECRET = SecretSpec(
    id="ErpWebhookSecret",
    description='ERP Standard Webhooks signing secrets: {"secrets": ["whsec_<base64>", ...]}',
    env_var="ERP_WEBHOOK_SECRET_ARN",
)
NETSUITE_CREDENTIALS = SecretSpec(
    id="NetSuiteCredentials",
    description='NetSuite token-based auth: {"account_id", "consumer_key", "consumer_secret", "token_id", "token_secret"}',
    env_var="NETSUITE_CREDENTIALS_ARN",
)
AVATAX_CREDENTIALS = SecretSpec(
    id="AvaTaxCredentials",
    description='AvaTax: {"account_id": "...", "license_key": "...", "company_code": "..."}',
    env_var="AVATAX_CREDENTIALS_ARN",
)
STRIPE_API_KEY = SecretSpec(
    id="StripeApiKey",
    description='Stripe restricted API key for customers, SetupIntents and PaymentIntents: {"api_key": "rk_live_..."}',
    env_var="STRIPE_API_KEY_ARN",
)
ZENDESK_CREDENTIALS = SecretSpec(
    id="ZendeskCredentials",
    description='Zendesk: {"email": "...", "api_token": "..."} or {"oauth_token": "..."}, and the webhook\'s '
    '"signing_secrets": ["...", ...] (several while rolling)',
    env_var="ZENDESK_CREDENTIALS_ARN",
)
SECRETS: tuple[SecretSpec, ...] = (
    STRIPE_WEBHOOK_SECRET,
    HUBSPOT_CREDENTIALS,
    SALESFORCE_CREDENTIALS,
    ERP_WEBHOOK_SECRET,
    NETSUITE_CREDENTIALS,
    AVATAX_CREDENTIALS,
    STRIPE_API_KEY,
    ZENDESK_CREDENTIALS,
)

#: Stage settings (FunctionSpec.stage_settings) and their defaults in a deployed stack; the local cloud
#: points the vendor URLs at its sandboxes.
STAGE_SETTING_DEFAULTS: dict[str, str] = {
    "PUBLIC_BASE_URL": "",  # empty: the API's own execute-api URL
    "HUBSPOT_API_BASE_URL": "https://api.hubapi.com",
    "HUBSPOT_CLOSED_WON_STAGES": "closedwon",
    "SALESFORCE_MY_DOMAIN_URL": "",  # the org's https://<name>.my.salesforce.com (required with Salesforce)
    "SALESFORCE_ORG_IDS": "",
    "SALESFORCE_CLOSED_WON_STAGES": "Closed Won",
    "SALESFORCE_VERIFY_SESSION_ID": "false",
    "SALESFORCE_REQUIRE_CLIENT_CERT": "false",
    "NETSUITE_BASE_URL": "",  # empty: https://<account>.suitetalk.api.netsuite.com
    "ERP_CONCURRENCY_LIMIT": str(ERP_CONCURRENCY_LIMIT_DEFAULT),
    # the account's own ids: {"creditItemId", "adjustmentAccountId", "disputeAccountId", "stripePaymentMethodId",
    # "currencyIds": {"USD": "1", ...}} (currency internal ids; default: USD 1, GBP 2, CAD 3, EUR 4)
    "NETSUITE_ACCOUNT_SETTINGS": "{}",
    "ERP_SUBSIDIARIES": '{"*": {"subsidiaryId": "1", "currency": "USD"}}',
    "AVATAX_BASE_URL": "https://rest.avatax.com",
    "STRIPE_API_BASE_URL": "https://api.stripe.com",
    "APPROVAL_THRESHOLDS": '{"*": 5000000}',
    "HOLD_TIMEOUT_SECONDS": "604800",
    "PAYMENT_METHOD_TIMEOUT_SECONDS": "1209600",
    "DECLINE_HOLD_TIMEOUT_SECONDS": "604800",
    "APPROVAL_TIMEOUT_SECONDS": "1209600",
    "CAPTURE_CONFIRMATION_TIMEOUT_SECONDS": "86400",
    "ZENDESK_API_BASE_URL": "",  # https://<subdomain>.zendesk.com (required with Zendesk)
    # a ticket tagged so asks for a refund of the payment in the ticket field ZENDESK_PAYMENT_INTENT_FIELD_ID
    "ZENDESK_REFUND_TAG": "refund_requested",
    "ZENDESK_PAYMENT_INTENT_FIELD_ID": "",
    # an actionable Radar early fraud warning on a captured payment is refunded in full (shared.order_to_cash.fraud)
    "REFUND_ON_EARLY_FRAUD_WARNING": "false",
}

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
    budget=Budget((AWS_CALLS,), calls_per_record=2, batch_size=10, max_concurrency=5),
    tables={LINEAGE_TABLE.id: "read_write"},
)

HUBSPOT_WEBHOOK = FunctionSpec(
    id="HubSpotWebhook",
    code_dir="functions/hubspot_webhook",
    description="POST /webhooks/hubspot: v3 signature, per-event de-duplication, closed-won deals fetched and published",
    memory_mb=512,
    timeout_s=20,
    route=RouteSpec("POST", "/webhooks/hubspot"),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(HUBSPOT_CREDENTIALS.id,),
    publishes_events=True,
    settings={"MAX_BODY_BYTES": "1048576"},
    stage_settings=("PUBLIC_BASE_URL", "HUBSPOT_API_BASE_URL", "HUBSPOT_CLOSED_WON_STAGES"),
)

SALESFORCE_WEBHOOK = FunctionSpec(
    id="SalesforceWebhook",
    code_dir="functions/salesforce_webhook",
    description="POST /webhooks/salesforce: Outbound Messages (SOAP), org allow-list, closed-won opportunities",
    memory_mb=512,
    timeout_s=20,
    route=RouteSpec("POST", "/webhooks/salesforce"),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(SALESFORCE_CREDENTIALS.id,),
    publishes_events=True,
    settings={"MAX_BODY_BYTES": "1048576"},
    stage_settings=(
        "SALESFORCE_MY_DOMAIN_URL",
        "SALESFORCE_ORG_IDS",
        "SALESFORCE_CLOSED_WON_STAGES",
        "SALESFORCE_VERIFY_SESSION_ID",
        "SALESFORCE_REQUIRE_CLIENT_CERT",
    ),
)

ERP_WEBHOOK = FunctionSpec(
    id="ErpWebhook",
    code_dir="functions/erp_webhook",
    description="POST /webhooks/erp: Standard Webhooks v1 from the ERP, mapped to canonical ERP facts",
    memory_mb=512,
    timeout_s=10,
    route=RouteSpec("POST", "/webhooks/erp"),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(ERP_WEBHOOK_SECRET.id,),
    publishes_events=True,
    settings={"MAX_BODY_BYTES": "262144"},
)

ZENDESK_WEBHOOK = FunctionSpec(
    id="ZendeskWebhook",
    code_dir="functions/zendesk_webhook",
    description="POST /webhooks/zendesk: signed ticket events; a ticket tagged for a refund requests it once",
    memory_mb=512,
    timeout_s=20,
    route=RouteSpec("POST", "/webhooks/zendesk"),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(ZENDESK_CREDENTIALS.id,),
    publishes_events=True,
    settings={"ZENDESK_TOLERANCE_SECONDS": "300", "MAX_BODY_BYTES": "262144"},
    stage_settings=("ZENDESK_API_BASE_URL", "ZENDESK_REFUND_TAG", "ZENDESK_PAYMENT_INTENT_FIELD_ID"),
)

PARTNER_EVENT_INGEST = FunctionSpec(
    id="PartnerEventIngest",
    code_dir="functions/partner_event_ingest",
    description="Stripe event destinations and Salesforce Event Relay (partner buses) into the same ingress path",
    memory_mb=512,
    budget=Budget((JSON_HTTP_CALLS, AWS_CALLS), calls_per_record=3, batch_size=10, max_concurrency=5),
    tables={IDEMPOTENCY_TABLE.id: "read_write"},
    secrets=(SALESFORCE_CREDENTIALS.id,),
    publishes_events=True,
    stage_settings=("SALESFORCE_MY_DOMAIN_URL", "SALESFORCE_CLOSED_WON_STAGES"),
)

ERP_TASKS = FunctionSpec(
    id="ErpTasks",
    code_dir="functions/q2c_erp_tasks",
    description="Quote-to-cash ERP steps: customer, sales order, invoice, payment applied (at Stripe's FX rate), activate, cancel",
    memory_mb=512,
    budget=Budget((NETSUITE_CALLS, STRIPE_CALLS), calls_per_record=6, erp=True),
    tables={ERP_GATE_TABLE.id: "read_write"},
    secrets=(NETSUITE_CREDENTIALS.id, STRIPE_API_KEY.id),
    stage_settings=(
        "NETSUITE_BASE_URL",
        "ERP_CONCURRENCY_LIMIT",
        "NETSUITE_ACCOUNT_SETTINGS",
        "ERP_SUBSIDIARIES",
        "STRIPE_API_BASE_URL",
    ),
    state_machine_task=True,
)
TAX_TASKS = FunctionSpec(
    id="TaxTasks",
    code_dir="functions/q2c_tax_tasks",
    description="Quote-to-cash tax steps: tax lines from the tax engine, the invoiced sale recorded in it",
    memory_mb=256,
    budget=Budget((JSON_HTTP_CALLS,), calls_per_record=3),
    secrets=(AVATAX_CREDENTIALS.id,),
    stage_settings=("AVATAX_BASE_URL",),
    state_machine_task=True,
)
PAYMENT_TASKS = FunctionSpec(
    id="PaymentTasks",
    code_dir="functions/q2c_payment_tasks",
    description="Quote-to-cash payment steps on Stripe: customer, SetupIntent, authorize, capture, void",
    memory_mb=512,
    budget=Budget((STRIPE_CALLS,), calls_per_record=4),
    secrets=(STRIPE_API_KEY.id,),
    stage_settings=("STRIPE_API_BASE_URL", "APPROVAL_THRESHOLDS"),
    state_machine_task=True,
)
CRM_TASKS = FunctionSpec(
    id="CrmTasks",
    code_dir="functions/q2c_crm_tasks",
    description="Quote-to-cash CRM steps: re-check a held deal, write ERP numbers and payment status back",
    memory_mb=512,
    budget=Budget((JSON_HTTP_CALLS,), calls_per_record=6),
    secrets=(HUBSPOT_CREDENTIALS.id, SALESFORCE_CREDENTIALS.id),
    stage_settings=(
        "HUBSPOT_API_BASE_URL",
        "SALESFORCE_MY_DOMAIN_URL",
        "HUBSPOT_CLOSED_WON_STAGES",
        "SALESFORCE_CLOSED_WON_STAGES",
    ),
    state_machine_task=True,
)
WAIT_REGISTRAR = FunctionSpec(
    id="WaitRegistrar",
    code_dir="functions/q2c_wait_registrar",
    description="Stores a waiting execution's task token by what it waits for; resumes at once if that already happened",
    memory_mb=256,
    budget=Budget((AWS_CALLS,), calls_per_record=3),
    tables={CORRELATION_TABLE.id: "read_write"},
    state_machine_task=True,
    state_machine_access="task_response",
)
PAYMENT_SIGNALS = FunctionSpec(
    id="PaymentSignals",
    code_dir="functions/q2c_payment_signals",
    description="Payment facts (method saved, capture confirmed, review closed) resume the waiting execution once",
    memory_mb=256,
    budget=Budget((AWS_CALLS,), calls_per_record=3, batch_size=10, max_concurrency=5),
    tables={CORRELATION_TABLE.id: "read_write"},
    state_machine_access="task_response",
)
QUOTE_TO_CASH_STARTER = FunctionSpec(
    id="QuoteToCashStarter",
    code_dir="functions/q2c_starter",
    description="Starts one quote-to-cash execution per won deal, named after the CRM and the opportunity",
    memory_mb=256,
    budget=Budget((AWS_CALLS,), calls_per_record=2, batch_size=5, max_concurrency=5),
    stage_settings=(
        "HOLD_TIMEOUT_SECONDS",
        "PAYMENT_METHOD_TIMEOUT_SECONDS",
        "DECLINE_HOLD_TIMEOUT_SECONDS",
        "APPROVAL_TIMEOUT_SECONDS",
        "CAPTURE_CONFIRMATION_TIMEOUT_SECONDS",
    ),
    state_machine_access="start",
)
STATE_MACHINE_TASKS: tuple[FunctionSpec, ...] = (
    ERP_TASKS,
    TAX_TASKS,
    PAYMENT_TASKS,
    CRM_TASKS,
    WAIT_REGISTRAR,
)

_ERP_AND_STRIPE_SECRETS = (NETSUITE_CREDENTIALS.id, STRIPE_API_KEY.id)
_ERP_AND_STRIPE_SETTINGS = (
    "NETSUITE_BASE_URL",
    "ERP_CONCURRENCY_LIMIT",
    "NETSUITE_ACCOUNT_SETTINGS",
    "ERP_SUBSIDIARIES",
    "STRIPE_API_BASE_URL",
)
REFUND_BOOKER = FunctionSpec(
    id="RefundBooker",
    code_dir="functions/refund_booker",
    description="A refund that succeeded at Stripe becomes an ERP credit memo and customer refund, once",
    memory_mb=512,
    budget=Budget(
        (NETSUITE_CALLS, STRIPE_CALLS, JSON_HTTP_CALLS), calls_per_record=8, batch_size=5, erp=True
    ),
    publishes_events=True,
    tables={
        ERP_GATE_TABLE.id: "read_write",
        PENDING_TABLE.id: "read_write",
        IDEMPOTENCY_TABLE.id: "read_write",
    },
    # the refund's tax is returned in AvaTax
    secrets=(*_ERP_AND_STRIPE_SECRETS, AVATAX_CREDENTIALS.id),
    stage_settings=(*_ERP_AND_STRIPE_SETTINGS, "AVATAX_BASE_URL"),
)
REFUND_INITIATOR = FunctionSpec(
    id="RefundInitiator",
    code_dir="functions/refund_initiator",
    description="A refund the hub is asked for becomes a Stripe refund (idempotency key per request)",
    memory_mb=512,
    budget=Budget((STRIPE_CALLS, AWS_CALLS), calls_per_record=2, batch_size=5),
    secrets=(STRIPE_API_KEY.id,),
    publishes_events=True,
    stage_settings=("STRIPE_API_BASE_URL",),
)
PAYOUT_DEPOSITOR = FunctionSpec(
    id="PayoutDepositor",
    code_dir="functions/payout_depositor",
    description="A Stripe payout becomes one ERP deposit equal to it to the cent, or an exception",
    memory_mb=512,
    budget=Budget((NETSUITE_CALLS, STRIPE_CALLS), calls_per_record=75, batch_size=1, erp=True),
    publishes_events=True,
    # the idempotency table: one deposit per payout, whichever of Stripe's two events comes first
    tables={
        ERP_GATE_TABLE.id: "read_write",
        PENDING_TABLE.id: "read_write",
        IDEMPOTENCY_TABLE.id: "read_write",
    },
    secrets=_ERP_AND_STRIPE_SECRETS,
    stage_settings=_ERP_AND_STRIPE_SETTINGS,
)
_ERP_STRIPE_CRM_SECRETS = (*_ERP_AND_STRIPE_SECRETS, HUBSPOT_CREDENTIALS.id, SALESFORCE_CREDENTIALS.id)
_ERP_STRIPE_CRM_SETTINGS = (*_ERP_AND_STRIPE_SETTINGS, "HUBSPOT_API_BASE_URL", "SALESFORCE_MY_DOMAIN_URL")
DISPUTE_SYNC = FunctionSpec(
    id="DisputeSync",
    code_dir="functions/dispute_sync",
    description="Chargebacks: an ERP dispute hold and a CRM task with the evidence due date; settled won or lost; early fraud warnings",
    memory_mb=512,
    budget=Budget(
        (NETSUITE_CALLS, STRIPE_CALLS, JSON_HTTP_CALLS), calls_per_record=8, batch_size=5, erp=True
    ),
    publishes_events=True,
    tables={
        ERP_GATE_TABLE.id: "read_write",
        IDEMPOTENCY_TABLE.id: "read_write",
        PENDING_TABLE.id: "read_write",
    },
    # a lost dispute's tax is returned in AvaTax
    secrets=(*_ERP_STRIPE_CRM_SECRETS, AVATAX_CREDENTIALS.id),
    stage_settings=(*_ERP_STRIPE_CRM_SETTINGS, "AVATAX_BASE_URL", "REFUND_ON_EARLY_FRAUD_WARNING"),
)
RENEWAL_SYNC = FunctionSpec(
    id="RenewalSync",
    code_dir="functions/renewal_sync",
    description="Subscription renewals: an ERP invoice per paid cycle with its payment; dunning in ERP and CRM",
    memory_mb=512,
    budget=Budget(
        (NETSUITE_CALLS, STRIPE_CALLS, JSON_HTTP_CALLS), calls_per_record=6, batch_size=5, erp=True
    ),
    publishes_events=True,
    tables={ERP_GATE_TABLE.id: "read_write", PENDING_TABLE.id: "read_write"},
    secrets=_ERP_STRIPE_CRM_SECRETS,
    stage_settings=_ERP_STRIPE_CRM_SETTINGS,
)
FACT_RELEASER = FunctionSpec(
    id="FactReleaser",
    code_dir="functions/fact_releaser",
    description="Puts facts that waited for another fact back on the bus once it arrives; hourly sweep",
    memory_mb=256,
    budget=Budget((AWS_CALLS,), calls_per_record=100, batch_size=10),
    publishes_events=True,
    tables={PENDING_TABLE.id: "read_write"},
    schedule="rate(1 hour)",
)
RECONCILER = FunctionSpec(
    id="Reconciler",
    code_dir="functions/reconciler",
    description="Daily three-way reconciliation: CRM deal, ERP records, Stripe payments and payouts",
    memory_mb=1024,
    timeout_s=300,
    publishes_events=True,
    tables={ERP_GATE_TABLE.id: "read_write", LINEAGE_TABLE.id: "read"},
    secrets=_ERP_AND_STRIPE_SECRETS,
    stage_settings=(
        "NETSUITE_BASE_URL",
        "ERP_CONCURRENCY_LIMIT",
        "NETSUITE_ACCOUNT_SETTINGS",
        "STRIPE_API_BASE_URL",
    ),
    schedule="cron(0 6 * * ? *)",
)
OPERATIONS_SWEEP = FunctionSpec(
    id="OperationsSweep",
    code_dir="functions/operations_sweep",
    description="Business gauges every 5 minutes: open orders by state and age, waiting facts, refunds, disputes, DLQs",
    memory_mb=256,
    # one GetExecutionHistory per open execution: Step Functions allows bursts of 250 and then 5 a second
    timeout_s=180,
    tables={PENDING_TABLE.id: "read"},
    # Stripe's disputes (GET /v1/disputes): the open ones and their evidence due dates
    secrets=(STRIPE_API_KEY.id,),
    stage_settings=("STRIPE_API_BASE_URL",),
    state_machine_access="read",
    reads_dead_letter_queues=True,
    schedule="rate(5 minutes)",
)
#: Zendesk JSON over ``JsonHttp``; a note costs a comments read and a PUT per open ticket.
SUPPORT_NOTES = FunctionSpec(
    id="SupportNotes",
    code_dir="functions/support_notes",
    description="Payment facts on the customer's open Zendesk tickets (internal notes) and organization fields",
    memory_mb=256,
    budget=Budget((JSON_HTTP_CALLS, AWS_CALLS), calls_per_record=10, batch_size=5),
    # the lineage table: the customer of a fact that does not carry it (a refund, a hold), from earlier facts
    tables={IDEMPOTENCY_TABLE.id: "read_write", LINEAGE_TABLE.id: "read"},
    secrets=(ZENDESK_CREDENTIALS.id,),
    stage_settings=("ZENDESK_API_BASE_URL",),
)
#: The facts support agents see on the customer's tickets.
SUPPORT_FACTS = {
    "o2c.payments": ["PaymentFailed", "DisputeOpened", "DisputeClosed"],
    "o2c.erp": ["RefundBooked", "DunningChanged"],
    "o2c.orchestration": ["OrderOnHold"],
}

#: Functions invoked by name (Step Functions tasks, the scheduler, ``o2c reconcile``), not by a queue or route.
INVOKED_FUNCTIONS: tuple[FunctionSpec, ...] = (*STATE_MACHINE_TASKS, RECONCILER, OPERATIONS_SWEEP)

# --- the governed /v1 API (issue 14) ---------------------------------------------------------------------
#: The Cognito resource server's identifier: a token's scopes are ``o2c/read``, ``o2c/orders:write`` ...
API_RESOURCE_SERVER = "o2c"
#: The resource server's scopes (short name → what it allows).
API_SCOPES: dict[str, str] = {
    "read": "read customers, orders, payments, invoices and refunds",
    "orders:write": "submit orders",
    "refunds:write": "start refunds",
    "customers:write": "create or update customers",
}
#: Every route under /v1 and the scope it requires (shared/api/app.py declares the same; the OpenAPI drift
#: test compares them).
API_ROUTES: tuple[ApiRouteSpec, ...] = (
    ApiRouteSpec("POST", "/v1/customers", "customers:write"),
    ApiRouteSpec("GET", "/v1/customers/{id}", "read"),
    ApiRouteSpec("POST", "/v1/orders", "orders:write"),
    ApiRouteSpec("GET", "/v1/orders/{id}", "read"),
    ApiRouteSpec("GET", "/v1/payments/{id}", "read"),
    ApiRouteSpec("GET", "/v1/invoices/{id}", "read"),
    ApiRouteSpec("POST", "/v1/refunds", "refunds:write"),
    ApiRouteSpec("GET", "/v1/refunds/{id}", "read"),
)
API_FUNCTION = FunctionSpec(
    id="Api",
    code_dir="functions/api",
    description="The /v1 API: customers, orders, payments, invoices, refunds for partners and services (OAuth scopes)",
    memory_mb=512,
    # a GET reads Stripe and the ERP once each; API Gateway gives up after 29 s
    timeout_s=28,
    api_routes=API_ROUTES,
    tables={
        IDEMPOTENCY_TABLE.id: "read_write",
        LINEAGE_TABLE.id: "read",
        CORRELATION_TABLE.id: "read",
        ERP_GATE_TABLE.id: "read_write",
    },
    secrets=(NETSUITE_CREDENTIALS.id, STRIPE_API_KEY.id),
    publishes_events=True,
    state_machine_access="start_and_read",
    stage_settings=(
        "NETSUITE_BASE_URL",
        "ERP_CONCURRENCY_LIMIT",
        "NETSUITE_ACCOUNT_SETTINGS",
        "STRIPE_API_BASE_URL",
        "HOLD_TIMEOUT_SECONDS",
        "PAYMENT_METHOD_TIMEOUT_SECONDS",
        "DECLINE_HOLD_TIMEOUT_SECONDS",
        "APPROVAL_TIMEOUT_SECONDS",
        "CAPTURE_CONFIRMATION_TIMEOUT_SECONDS",
    ),
)
API_FUNCTIONS: tuple[FunctionSpec, ...] = (API_FUNCTION,)


def api_rate_limited_detail(rate: int, burst: int) -> str:
    """The ``detail`` of the /v1 API's 429 problem: the stack's THROTTLED gateway response and the local
    gateway (``localcloud/api_usage.py``) say the same."""
    return (
        f"over this client's usage plan ({rate} requests per second, burst {burst}) or the stage's limit; "
        "retry after Retry-After seconds"
    )


# --- end of the /v1 API ----------------------------------------------------------------------------------

WEBHOOK_FUNCTIONS: tuple[FunctionSpec, ...] = (
    STRIPE_WEBHOOK,
    HUBSPOT_WEBHOOK,
    SALESFORCE_WEBHOOK,
    ERP_WEBHOOK,
    ZENDESK_WEBHOOK,
)


@dataclass(frozen=True)
class PartnerBusSpec:
    """An EventBridge partner event bus (created from the partner's event source, behind a stage flag)."""

    id: str
    vendor: str
    #: The stage setting holding the partner event source name; empty → not wired in that stage.
    config_key: str
    source_prefix: str
    local_event_source: str


STRIPE_PARTNER_BUS = PartnerBusSpec(
    id="StripePartnerBus",
    vendor="stripe",
    config_key="stripePartnerEventSource",
    source_prefix="aws.partner/stripe.com",
    local_event_source="aws.partner/stripe.com/ed_local",
)
SALESFORCE_PARTNER_BUS = PartnerBusSpec(
    id="SalesforcePartnerBus",
    vendor="salesforce",
    config_key="salesforcePartnerEventSource",
    source_prefix="aws.partner/salesforce.com",
    local_event_source="aws.partner/salesforce.com/00D5g000004DemoEAA/0YLlocal",
)
PARTNER_BUSES: tuple[PartnerBusSpec, ...] = (STRIPE_PARTNER_BUS, SALESFORCE_PARTNER_BUS)
PARTNER_BUSES_BY_ID = {b.id: b for b in PARTNER_BUSES}

CONSUMERS: tuple[ConsumerSpec, ...] = (
    consumer(
        "LineageRecorder",
        LINEAGE_RECORDER,
        {"source": list(EVENT_SOURCES)},
        max_receive_count=5,
    ),
    consumer(
        "QuoteToCashStarter",
        QUOTE_TO_CASH_STARTER,
        {"source": ["o2c.crm"], "detail-type": ["OpportunityClosedWon"]},
        max_receive_count=5,
    ),
    consumer(
        "PaymentSignals",
        PAYMENT_SIGNALS,
        {
            "source": ["o2c.payments"],
            "detail-type": ["PaymentMethodSaved", "PaymentCaptured", "PaymentReviewClosed", "PaymentFailed"],
        },
        max_receive_count=5,
    ),
    consumer(
        "RefundBooker",
        REFUND_BOOKER,
        {"source": ["o2c.payments"], "detail-type": ["RefundSucceeded"]},
    ),
    consumer(
        "RefundInitiator",
        REFUND_INITIATOR,
        {"source": ["o2c.orchestration"], "detail-type": ["RefundRequested"]},
    ),
    consumer(
        "PayoutDepositor",
        PAYOUT_DEPOSITOR,
        {"source": ["o2c.payments"], "detail-type": ["PayoutPaid", "PayoutReconciled"]},
    ),
    consumer(
        "DisputeSync",
        DISPUTE_SYNC,
        {
            "source": ["o2c.payments"],
            "detail-type": ["DisputeOpened", "DisputeClosed", "EarlyFraudWarningCreated"],
        },
    ),
    consumer(
        "RenewalSync",
        RENEWAL_SYNC,
        {
            "source": ["o2c.payments"],
            "detail-type": ["BillingInvoicePaid", "BillingInvoicePaymentFailed"],
        },
    ),
    consumer(
        "FactReleaser",
        FACT_RELEASER,
        {
            "source": ["o2c.orchestration", "o2c.erp"],
            "detail-type": ["InvoicePaid", "RenewalInvoiced", "DisputeRecorded"],
        },
    ),
    consumer(
        "SupportNotes",
        SUPPORT_NOTES,
        {
            "source": sorted(SUPPORT_FACTS),
            "detail-type": sorted({t for types in SUPPORT_FACTS.values() for t in types}),
        },
    ),
    consumer(
        "StripePartnerIngest",
        PARTNER_EVENT_INGEST,
        {"source": [{"prefix": STRIPE_PARTNER_BUS.source_prefix}]},
        max_receive_count=5,
        bus=STRIPE_PARTNER_BUS.id,
    ),
    consumer(
        "SalesforcePartnerIngest",
        PARTNER_EVENT_INGEST,
        {"source": [{"prefix": SALESFORCE_PARTNER_BUS.source_prefix}]},
        max_receive_count=5,
        bus=SALESFORCE_PARTNER_BUS.id,
    ),
)


def _unique(functions: tuple[FunctionSpec, ...]) -> tuple[FunctionSpec, ...]:
    return tuple({fn.id: fn for fn in functions}.values())


FUNCTIONS: tuple[FunctionSpec, ...] = _unique(
    WEBHOOK_FUNCTIONS + tuple(c.function for c in CONSUMERS) + INVOKED_FUNCTIONS + API_FUNCTIONS
)


@dataclass(frozen=True)
class ErpConcurrencyPlan:
    """How a NetSuite account's concurrent-request limit is shared. Every invocation that calls the ERP holds
    at most one slot at a time (``ErpGate``), so: the ERP-bound consumers' event source mappings may run
    ``consumers[id]`` invocations at once, the scheduled ERP functions one each, and the state machine's ERP
    tasks the rest (``tasks``, at least ``MIN_ERP_TASK_SLOTS``). Their sum is the limit, never more: no
    invocation then waits on the gate for long, and none burns its budget (or a message's receives) there."""

    limit: int
    consumers: dict[str, int]
    scheduled: dict[str, int]
    tasks: int

    @property
    def total(self) -> int:
        return sum(self.consumers.values()) + sum(self.scheduled.values()) + self.tasks


#: The state machine's ERP tasks (quote-to-cash, the busiest ERP path) keep at least this many slots.
MIN_ERP_TASK_SLOTS = 2


def erp_bound(fn: FunctionSpec) -> bool:
    """Whether the function calls the ERP (holds ERP gate slots)."""
    return ERP_GATE_TABLE.id in fn.tables


def erp_concurrency_plan(limit: int, consumers: tuple[ConsumerSpec, ...] | None = None) -> ErpConcurrencyPlan:
    """The share of each ERP-bound path within ``limit``; ``ValueError`` (at synth) when the account's limit
    cannot give every ERP-bound consumer Lambda's minimum of 2 and the state machine its minimum."""
    consumers = CONSUMERS if consumers is None else consumers
    shares = {c.id: c.max_concurrency for c in consumers if erp_bound(c.function)}
    consumer_fns = {c.function.id for c in consumers}
    scheduled = {
        fn.id: 1 for fn in INVOKED_FUNCTIONS if fn.schedule and erp_bound(fn) and fn.id not in consumer_fns
    }
    tasks = limit - sum(shares.values()) - sum(scheduled.values())
    if tasks < MIN_ERP_TASK_SLOTS:
        needed = sum(shares.values()) + sum(scheduled.values()) + MIN_ERP_TASK_SLOTS
        raise ValueError(
            f"an ERP concurrency limit of {limit} cannot hold the hub's ERP-bound paths: "
            f"{', '.join(f'{k} {v}' for k, v in {**shares, **scheduled}.items())} and the state machine's "
            f"{MIN_ERP_TASK_SLOTS} need {needed}. Set erpConcurrencyLimit in cdk.json to the account's "
            "limit (NetSuite: 5 on Standard, 15 on Premium, +10 per SuiteCloud Plus licence)"
        )
    return ErpConcurrencyPlan(limit=limit, consumers=shares, scheduled=scheduled, tasks=tasks)


#: The quote-to-cash state machine's name in the console is the stack's; its executions are named after the deal.
STATE_MACHINE_ID = "QuoteToCash"

TABLES_BY_ID = {t.id: t for t in TABLES}
#: Functions that read SQS records through ``shared.consumers`` (they load claim checks back).
CONSUMER_FUNCTION_IDS = frozenset(c.function.id for c in CONSUMERS)


def claim_check_access(fn: FunctionSpec) -> Access | None:
    """What a function may do in the claim-check bucket: publishers write, consumers read."""
    put, get = fn.publishes_events, fn.id in CONSUMER_FUNCTION_IDS
    if put and get:
        return "read_write"
    return "write" if put else "read" if get else None


SECRETS_BY_ID = {s.id: s for s in SECRETS}


@dataclass(frozen=True)
class Resolved:
    """Physical names (or CDK tokens) of the shared resources, as a stage knows them."""

    stage: str
    table_names: dict[str, str]
    secret_refs: dict[str, str]
    event_bus_name: str
    log_level: str = "INFO"
    #: Values of the stage settings (STAGE_SETTING_DEFAULTS keys).
    settings: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    claim_check_bucket: str = ""
    #: Dead-letter queue name (the consumer id, or ``<function id>Schedule``) → URL.
    dead_letter_queue_urls: dict[str, str] = field(default_factory=dict)


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
    if claim_check_access(fn):
        env[CLAIM_CHECK_BUCKET.env_var] = resolved.claim_check_bucket
    if fn.state_machine_access in ("start", "read", "start_and_read"):
        env["QUOTE_TO_CASH_STATE_MACHINE_ARN"] = resolved.state_machine_arn
    if fn.reads_dead_letter_queues:
        env["DEAD_LETTER_QUEUE_URLS"] = json.dumps(resolved.dead_letter_queue_urls, sort_keys=True)
    env.update(fn.settings)
    for name in fn.stage_settings:
        env[name] = resolved.settings.get(name, STAGE_SETTING_DEFAULTS[name])
    return env


# --- the warehouse feed (issue 18) -------------------------------------------------------------------------
#
# Every canonical event on the bus, projected (``shared.warehouse.project``: no card data, personal data only
# if the stage keeps it) and written as Parquet under ``events/type=<detail-type>/dt=<yyyy-MM-dd>/`` in the
# stage's warehouse bucket, with a Glue table Athena queries. On AWS: rule → Firehose (transformation Lambda,
# JQ partitioning, Parquet through the Glue table). Locally (moto's EventBridge delivers to SQS only): rule →
# queue → ``localcloud/warehouse.py``, which runs the same projection into the same layout.


@dataclass(frozen=True)
class WarehouseSpec:
    bucket_id: str = "WarehouseBucket"
    #: The rule on the hub's bus: every canonical event (the hub's own sources).
    pattern: dict[str, object] = field(default_factory=lambda: {"source": list(EVENT_SOURCES)})
    #: Firehose buffering: dynamic partitioning needs at least 64 MB; at most 900 s.
    buffer_interval_s: int = 300
    buffer_size_mb: int = 64
    #: How long Firehose retries delivering a partition to S3.
    retry_duration_s: int = 300
    #: Event files move to Infrequent Access after this, and expire after ``expiry_days``.
    infrequent_access_after_days: int = 90
    expiry_days: int = 2555  # seven years: the books' retention
    #: Records Firehose could not convert or partition (``errors/``) expire sooner: they are for diagnosis.
    error_expiry_days: int = 90
    #: Athena's query results (the workgroup's output location, in the same bucket).
    results_prefix: str = "athena-results/"
    results_expiry_days: int = 30
    #: The environment variable the projection reads the stage's privacy setting from.
    personal_data_env_var: str = "WAREHOUSE_PERSONAL_DATA"
    #: Locally: the queue that stands in for the Firehose target, and how often its poller writes files.
    local_queue_id: str = "WarehouseFeed"
    local_flush_interval_s: float = 0.5
    #: Partition projection of ``dt`` starts here (Athena generates the days up to NOW).
    first_day: str = "2026-01-01"


WAREHOUSE = WarehouseSpec()


def warehouse_database_name(stage: str) -> str:
    """The stage's Glue database (Athena reads ``<database>.events``): letters, digits and underscores."""
    return "o2c_" + stage.replace("-", "_")


def warehouse_workgroup_name(stage: str) -> str:
    return f"o2c-{stage}-warehouse"
