"""``LocalCloud``: moto + provisioning + function workers + API Gateway + SQS pollers, in one process."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from infra import topology
from infra.topology import ConsumerSpec, FunctionSpec, Resolved, SecretSpec, TableSpec, function_environment
from localcloud import latency
from localcloud.api import ApiGateway
from localcloud.api_auth import LocalOAuth
from localcloud.api_sigv4 import LocalSigV4
from localcloud.pollers import SqsPoller
from localcloud.provision import (
    ACCOUNT_ID,
    REGION,
    Resources,
    client,
    physical_name,
    provision,
    state_machine_name,
)
from localcloud.workers import InvokeResult, WorkerPool, plumbing_environment

log = logging.getLogger("localcloud")


def _check_port_free(port: int, what: str) -> None:
    """Fail fast (and clearly) when a fixed port is taken, before anything is started."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise OSError(
                exc.errno, f"{what} port {port} on 127.0.0.1 is not available: {exc.strerror}"
            ) from exc


def _moto_server(port: int) -> Any:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    # ThreadedMotoServer.start() waits forever if its thread fails to bind: give it a deadline.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(timeout=30)
    if starter.is_alive() or server._server is None:
        raise OSError(f"moto server did not start on 127.0.0.1:{port}")
    return server


#: The Salesforce organisation the local sandbox plays (also the sample Outbound Message's).
LOCAL_SALESFORCE_ORG_ID = "00D5g000004DemoEAA"
#: The local ERP account's concurrency limit (NetSuite's default for a standard account).
LOCAL_ERP_CONCURRENCY = 5
#: Stage settings of the local stage (the sandbox NetSuite's subsidiaries; approvals above 50,000.00).
#: The Zendesk ticket field the local account holds payments in (README, Zendesk).
ZENDESK_PAYMENT_FIELD_TITLE = "Payment ID"
LOCAL_SETTINGS = {
    "ERP_CONCURRENCY_LIMIT": str(LOCAL_ERP_CONCURRENCY),
    "ERP_SUBSIDIARIES": json.dumps(
        {
            "NA": {"subsidiaryId": "1", "currency": "USD"},
            "EMEA": {"subsidiaryId": "2", "currency": "EUR"},
            "*": {"subsidiaryId": "1", "currency": "USD"},
        }
    ),
    "APPROVAL_THRESHOLDS": json.dumps({"*": 5_000_000}),
    # the local stage refunds an actionable early fraud warning at once (deployed stages: off by default)
    "REFUND_ON_EARLY_FRAUD_WARNING": "true",
    # the sandbox account's currency internal ids (Lists > Accounting > Currencies)
    "NETSUITE_ACCOUNT_SETTINGS": json.dumps(
        {
            "creditItemId": "77",
            "stripePaymentOptionId": "9",
            "roundingItemId": "78",
            "currencyIds": {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4", "JPY": "5", "KWD": "6"},
        }
    ),
}


_STATE_WAY_OUT = "Start empty with `o2c local up --fresh`, or delete it with `o2c local reset`"


#: the execute-api id of the local /v1 API for IAM callers (in the method ARNs its policies name)
IAM_API_ID = "o2ciam0000"


class LocalCloud:
    """The embedded local cloud. Use as a context manager, or call ``start()`` / ``stop()``."""

    def __init__(
        self,
        api_port: int = 3000,
        aws_port: int = 4566,
        state_dir: Path | str = Path(".o2c"),
        stage: str = "local",
        *,
        functions: Sequence[FunctionSpec] | None = None,
        consumers: Sequence[ConsumerSpec] | None = None,
        tables: Sequence[TableSpec] | None = None,
        secrets: Sequence[SecretSpec] | None = None,
        tasks: Sequence[FunctionSpec] | None = None,
        log_level: str = "INFO",
        warm_workers: int = 2,
        max_workers: int = 4,
        retry_backoff_s: int = 1,
        fresh: bool = False,
        persist: bool = True,
        sandbox_latency: str | Mapping[str, Any] | None = None,
        erp_concurrency_limit: int = LOCAL_ERP_CONCURRENCY,
        function_max_workers: Mapping[str, int] | None = None,
        enforce_iam: bool = True,
        warehouse_personal_data: bool = False,
    ) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.state_dir = Path(state_dir)
        self.stage = stage
        self.webhook_functions = tuple(topology.WEBHOOK_FUNCTIONS if functions is None else functions)
        self.consumer_specs = tuple(topology.CONSUMERS if consumers is None else consumers)
        self.table_specs = tuple(topology.TABLES if tables is None else tables)
        self.secret_specs = tuple(topology.SECRETS if secrets is None else secrets)
        default_cloud = functions is None and consumers is None
        #: Functions invoked by name: the state machine's tasks and the reconciler (only in the full hub).
        self.task_specs = tuple(
            topology.INVOKED_FUNCTIONS if tasks is None and default_cloud else (tasks or ())
        )
        self.state_machine_arn = ""
        self.settings: dict[str, str] = {}
        self.log_level = log_level
        self.warm_workers = warm_workers
        self.max_workers = max_workers
        #: Concurrent invocations per function where it differs from ``max_workers`` (function id → count).
        self.function_max_workers = dict(function_max_workers or {})
        self.retry_backoff_s = retry_backoff_s
        #: Start empty (the kept state is deleted first) instead of from the last run's state.
        self.fresh = fresh
        #: Keep the state across restarts (``localcloud.state``): load it at boot, write it while running.
        self.persist = persist
        #: True when this boot restored a previous run's state.
        self.restored = False
        #: How long each vendor sandbox takes to answer (``localcloud.latency``; default: no added latency).
        self.sandbox_latency = latency.parse(sandbox_latency)
        #: The sandbox NetSuite account's concurrency limit, which the hub's ERP gate is set to as well.
        self.erp_concurrency_limit = erp_concurrency_limit
        self._snapshots: Any = None
        #: Authorize every call a function, a poller or ``o2c --as`` makes against its IAM policy
        #: (``localcloud.iam``); off, the embedded cloud allows everything, as moto does.
        self.enforce_iam = enforce_iam
        #: function id → the credentials its workers act with (its role's session)
        self.function_credentials: dict[str, dict[str, str]] = {}
        #: "operator" / "readonly" → the IAM user ``o2c --as`` acts as
        self.operators: dict[str, dict[str, str]] = {}

        #: The /v1 API's function (only in the full hub), behind the local authorizer (``api_auth``).
        self.api_functions = tuple(topology.API_FUNCTIONS if default_cloud else ())
        self.oauth: LocalOAuth | None = None
        #: The warehouse feed (``localcloud.warehouse``), in the full hub only; the stage's privacy setting.
        self.warehouse_enabled = default_cloud
        self.warehouse_personal_data = warehouse_personal_data
        self.warehouse: Any = None
        self._warehouse_writer: Any = None

        self.functions: dict[str, FunctionSpec] = {}
        for fn in (
            *self.webhook_functions,
            *(c.function for c in self.consumer_specs),
            *self.task_specs,
            *self.api_functions,
        ):
            self.functions.setdefault(fn.id, fn)

        self.pools: dict[str, WorkerPool] = {}
        self.pollers: list[SqsPoller] = []
        self.res: Resources | None = None
        self.local_json: dict[str, Any] = {}
        self.sandboxes: dict[str, Any] = {}
        self.zendesk_payment_field_id: int | None = None
        self._moto: Any = None
        self._api: ApiGateway | None = None
        #: the /v1 API for IAM callers (SigV4), as the stack's second REST API (``infra/constructs/iam_api.py``)
        self._iam_api: ApiGateway | None = None
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    # -- public properties ---------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        assert self._api is not None, "not started"
        return self._api.url

    @property
    def iam_api_url(self) -> str:
        """The /v1 API for IAM callers (every route SigV4-signed, ``execute-api:Invoke`` per method)."""
        assert self._iam_api is not None, "not started, or no /v1 API"
        return self._iam_api.url

    @property
    def aws_endpoint_url(self) -> str:
        assert self._moto is not None, "not started"
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def resources(self) -> dict[str, Any]:
        assert self.res is not None, "not started"
        out = self.res.as_json()
        if self.warehouse is not None:
            out["warehouse"] = self.warehouse.as_json()
        return out

    @property
    def local_json_path(self) -> Path:
        return self.state_dir / "local.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    def client(self, service: str) -> Any:
        """A boto3 client on the embedded endpoint."""
        return client(service, self.aws_endpoint_url)

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        started = time.perf_counter()
        with contextlib.suppress(FileNotFoundError):
            self.local_json_path.unlink()  # a stale file from a killed run must not look ready
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("local cloud ready in %.1fs", time.perf_counter() - started)
        return self

    def _start(self) -> None:
        _check_port_free(self.api_port, "API")
        _check_port_free(self.aws_port, "AWS endpoint")
        self._started = True
        self._moto = _moto_server(self.aws_port)
        endpoint = self.aws_endpoint_url
        from localcloud import moto_patches

        moto_patches.install()
        from localcloud import iam as local_iam

        if self.enforce_iam:
            local_iam.enable()
        else:
            local_iam.disable()
        # moto's Step Functions interpreter calls Lambda and EventBridge on localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self._moto.get_host_and_port()[1])
        # One moto per process: start from empty state (then the kept one, if any), and let Step Functions
        # really execute.
        self._moto_api("reset", None)
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})
        from localcloud import state

        if self.fresh:
            state.reset(self.state_dir)
        elif self.persist:
            try:
                self.restored = state.load_aws(self.state_dir)
            except state.StateError as exc:
                raise state.StateError(f"{exc}. {_STATE_WAY_OUT}") from exc

        self.res = provision(
            endpoint,
            self.stage,
            tables=self.table_specs,
            secret_specs=self.secret_specs,
            consumers=self.consumer_specs,
        )
        if self.warehouse_enabled:
            from localcloud.provision import client as aws_client
            from localcloud.provision import physical_name
            from localcloud.warehouse import provision_warehouse

            self.warehouse = provision_warehouse(
                s3=aws_client("s3", endpoint),
                sqs=aws_client("sqs", endpoint),
                events=aws_client("events", endpoint),
                stage=self.stage,
                event_bus_name=self.res.event_bus_name,
                physical_name=physical_name,
            )
        # Bind the API front first: its URL is what providers call (PUBLIC_BASE_URL, sandbox webhooks).
        if self.api_functions:
            self.oauth = LocalOAuth(self.client("cognito-idp"), self.stage)
        self._api = ApiGateway(
            (*self.webhook_functions, *self.api_functions),
            self.invoke_result,
            port=self.api_port,
            stage=self.stage,
            oauth=self.oauth,
        )
        if self.api_functions:
            self._iam_api = ApiGateway(
                self.api_functions,
                self.invoke_result,
                stage=self.stage,
                sigv4=LocalSigV4(account_id=ACCOUNT_ID, region=REGION, api_id=IAM_API_ID, stage=self.stage),
                api_id=IAM_API_ID,
            )
        self._start_sandboxes(self._api.url)
        # the stage settings every function gets (local.json "settings", read by o2c doctor)
        self.settings = self._stage_settings(self._api.url)
        if self.task_specs:
            from localcloud.provision import provision_orchestration

            self.state_machine_arn, self._task_names = provision_orchestration(
                endpoint, self.stage, tasks=self.task_specs, event_bus_name=self.res.event_bus_name
            )
        resolved = Resolved(
            stage=self.stage,
            table_names=dict(self.res.tables),
            secret_refs=dict(self.res.secrets),
            event_bus_name=self.res.event_bus_name,
            log_level=self.log_level,
            settings=self.settings,
            state_machine_arn=self.state_machine_arn,
            claim_check_bucket=self.res.claim_check_bucket,
            dead_letter_queue_urls={cid: c.dlq.url for cid, c in self.res.consumers.items()},
        )
        self._provision_identities(endpoint)
        webhook_ids = {fn.id for fn in self.webhook_functions}
        for fn in self.functions.values():
            env = {
                **function_environment(fn, resolved),
                **plumbing_environment(fn, stage=self.stage, aws_endpoint_url=endpoint, region=REGION),
                **self.function_credentials[fn.id],
            }
            self.pools[fn.id] = WorkerPool(
                fn,
                env,
                self.logs_dir / f"{fn.id}.log",
                warm=self.warm_workers if fn.id in webhook_ids else 1,
                max_workers=self.function_max_workers.get(fn.id, self.max_workers),
            )
        # Boot every warm worker in parallel: each pays its imports (~1 s) at the same time.
        errors: list[BaseException] = []

        def warm(pool: WorkerPool) -> None:
            try:
                pool.start_warm()
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
                errors.append(exc)

        threads = [threading.Thread(target=warm, args=(p,), daemon=True) for p in self.pools.values()]
        for t in threads:
            t.start()

        self._route_task_invocations()
        self._api.start()
        if self._iam_api is not None:
            self._iam_api.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(f"a function failed to initialise: {errors[0]}") from errors[0]

        for spec in self.consumer_specs:
            # The event source mapping polls with the function's role (its queue grants are on that role).
            poller = SqsPoller(
                spec,
                self.res.consumers[spec.id],
                self.pools[spec.function.id],
                self._client_as(self.function_credentials[spec.function.id], "sqs"),
                REGION,
                retry_backoff_s=self.retry_backoff_s,
            )
            poller.start()
            self.pollers.append(poller)

        if self.warehouse is not None:
            from localcloud.provision import client as aws_client
            from localcloud.warehouse import WarehouseWriter

            # Firehose's part: it writes with the delivery stream's role, not a function's
            self._warehouse_writer = WarehouseWriter(
                self.warehouse,
                sqs=aws_client("sqs", endpoint),
                s3=aws_client("s3", endpoint),
                stage=self.stage,
                personal_data=self.warehouse_personal_data,
            )
            self._warehouse_writer.start()

        if self.persist:
            from localcloud.state import Snapshotter

            self._snapshots = Snapshotter(self.state_dir, self.sandboxes)
            self._snapshots.save()  # what this boot provisioned is kept even if it never stops cleanly
            self._snapshots.start()

        self.local_json = self._local_json()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.local_json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.local_json, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.local_json_path)

    def _provision_identities(self, endpoint: str) -> None:
        """A role per function holding exactly its policy (``infra.iam``, as the template's), and the two
        operator users of ``o2c --as``; provisioned as the account's root."""
        assert self.res is not None
        from infra.iam import (
            OPERATOR_COMMANDS,
            READ_ONLY_COMMANDS,
            LocalArns,
            function_statements,
            operator_statements,
            policy_document,
            state_machine_statements,
        )
        from localcloud import iam as local_iam

        arns = LocalArns(
            region=REGION,
            account=ACCOUNT_ID,
            stage=self.stage,
            tables=dict(self.res.tables),
            secrets=dict(self.res.secrets),
            bus_arn=self.res.event_bus_arn,
            archive_name=self.res.archive_name,
            claim_check_bucket=self.res.claim_check_bucket,
            queues={cid: c.queue.arn for cid, c in self.res.consumers.items()},
            dlqs={cid: c.dlq.arn for cid, c in self.res.consumers.items()},
            state_machine_arn=self.state_machine_arn
            or f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{state_machine_name(self.stage)}",
            lambda_functions=dict(getattr(self, "_task_names", {})),
        )
        self.local_arns = arns
        iam, sts = self.client("iam"), self.client("sts")
        for fn in self.functions.values():
            document = policy_document(function_statements(fn, arns, consumers=self.consumer_specs))
            self.function_credentials[fn.id] = local_iam.provision_function_role(
                iam, sts, self.stage, fn.id, document
            )
        if self.task_specs and self.state_machine_arn:
            # The state machine's role (created with the state machine) gets its policy, and moto's interpreter
            # invokes the tasks and publishes with a session of it.
            tasks = [t for t in self.task_specs if t.state_machine_task]
            machine_role = physical_name(self.stage, "QuoteToCashRole")
            iam.put_role_policy(
                RoleName=machine_role,
                PolicyName="QuoteToCashPolicy",
                PolicyDocument=json.dumps(policy_document(state_machine_statements(arns, tasks=tasks))),
            )
            role_arn = iam.get_role(RoleName=machine_role)["Role"]["Arn"]
            local_iam.act_as_state_machine(local_iam.assume(sts, role_arn, state_machine_name(self.stage)))
        else:
            local_iam.act_as_state_machine(None)
        resources = arns.operator_resources()
        for identity, commands in (("operator", OPERATOR_COMMANDS), ("readonly", READ_ONLY_COMMANDS)):
            document = policy_document(operator_statements(commands, resources))
            self.operators[identity] = local_iam.provision_operator(iam, self.stage, identity, document)

    def _client_as(self, credentials: dict[str, str], service: str) -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint_url,
            region_name=REGION,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
        )

    def function_client(self, function_id: str, service: str) -> Any:
        """A boto3 client acting as the function's role (what its workers do)."""
        return self._client_as(self.function_credentials[function_id], service)

    def _route_task_invocations(self) -> None:
        from localcloud import moto_patches

        for fn_id, name in getattr(self, "_task_names", {}).items():

            def dispatch(event: Any, fn_id: str = fn_id) -> tuple[str, bool]:
                result = self.invoke_result(fn_id, event)
                if result.ok:
                    return json.dumps(result.result), False
                error = result.error or {}
                return json.dumps(
                    {"errorType": error.get("type", "Error"), "errorMessage": error.get("message", "")}
                ), True

            moto_patches.route_lambda(name, dispatch)

    # -- sandboxes (stand-ins for the vendors' APIs) -------------------------------------------------
    def _start_sandboxes(self, api_url: str) -> None:
        """Start the vendor sandboxes whose credentials this cloud holds; they call back into the API."""
        assert self.res is not None
        values = self.res.secret_values
        routes = {fn.id: fn.route.path for fn in self.webhook_functions if fn.route is not None}
        if "HubSpotCredentials" in values and "HubSpotWebhook" in routes:
            from localcloud.sandboxes.hubspot import HubSpotSandbox

            creds = values["HubSpotCredentials"]
            self.sandboxes["hubspot"] = HubSpotSandbox(
                webhook_url=api_url + routes["HubSpotWebhook"],
                client_secret=creds["secrets"][0],
                access_token=creds["access_token"],
            )
        if "SalesforceCredentials" in values and "SalesforceWebhook" in routes:
            from localcloud.sandboxes.salesforce import SalesforceSandbox

            creds = values["SalesforceCredentials"]
            self.sandboxes["salesforce"] = SalesforceSandbox(
                webhook_url=api_url + routes["SalesforceWebhook"],
                org_id=LOCAL_SALESFORCE_ORG_ID,
                client_id=creds["client_id"],
                client_secret=creds["client_secret"],
            )
        if (
            "StripeApiKey" in values
            and "StripeWebhookSecret" in values
            and "StripeWebhook" in routes
            and self.task_specs
        ):
            from localcloud.sandboxes.stripe import StripeSandbox

            self.sandboxes["stripe"] = StripeSandbox(
                webhook_url=api_url + routes["StripeWebhook"],
                webhook_secret=values["StripeWebhookSecret"]["secrets"][0],
                api_key=values["StripeApiKey"]["api_key"],
            )
        if "NetSuiteCredentials" in values and self.task_specs:
            from localcloud.sandboxes.netsuite import NetSuiteSandbox

            creds = values["NetSuiteCredentials"]
            self.sandboxes["netsuite"] = NetSuiteSandbox(
                account_id=creds["account_id"],
                consumer_key=creds["consumer_key"],
                consumer_secret=creds["consumer_secret"],
                token_id=creds["token_id"],
                token_secret=creds["token_secret"],
                concurrency_limit=self.erp_concurrency_limit,
            )
        if "AvaTaxCredentials" in values and self.task_specs:
            from localcloud.sandboxes.avatax import AvaTaxSandbox

            creds = values["AvaTaxCredentials"]
            self.sandboxes["avatax"] = AvaTaxSandbox(
                account_id=creds["account_id"], license_key=creds["license_key"]
            )
        if "ZendeskCredentials" in values and "ZendeskWebhook" in routes:
            from localcloud.sandboxes.zendesk import ZendeskSandbox

            creds = values["ZendeskCredentials"]
            self.sandboxes["zendesk"] = ZendeskSandbox(
                webhook_url=api_url + routes["ZendeskWebhook"],
                email=creds["email"],
                api_token=creds["api_token"],
                signing_secret=creds["signing_secrets"][0],
            )
        if self.persist and not self.fresh:
            from localcloud import state

            for sandbox in self.sandboxes.values():
                try:
                    state.load_sandbox(self.state_dir, sandbox)
                except state.StateError as exc:
                    raise state.StateError(f"{exc}. {_STATE_WAY_OUT}") from exc
        for name, value in self.sandbox_latency.items():
            if name in self.sandboxes:
                latency.apply(self.sandboxes[name], value)
        for sandbox in self.sandboxes.values():
            sandbox.start()
        if "stripe" in self.sandboxes:
            self._register_stripe_endpoint(api_url + routes["StripeWebhook"])
        if "zendesk" in self.sandboxes:
            self._set_up_zendesk_account()

    def _set_up_zendesk_account(self) -> None:
        """What the README asks a Zendesk admin to create: the ticket field agents put the payment in (its id
        is the stage's ZENDESK_PAYMENT_INTENT_FIELD_ID) and the hub's organization fields. Once: a restored
        sandbox keeps them."""
        from shared.order_to_cash.support import ORGANIZATION_FIELDS

        zendesk = self.sandboxes["zendesk"]
        self.zendesk_payment_field_id = zendesk.ensure_ticket_field(ZENDESK_PAYMENT_FIELD_TITLE)
        for key, kind in ORGANIZATION_FIELDS.items():
            zendesk.ensure_organization_field(key, key.replace("_", " ").title(), kind)

    def _register_stripe_endpoint(self, url: str) -> None:
        """Register the hub's webhook endpoint in the Stripe sandbox through Stripe's API, as an operator does
        for a stage: ``url`` the API's ``/webhooks/stripe``, the event types the hub maps, pinned to the API
        version the hub's Stripe SDK speaks (what ``o2c doctor`` checks). Once: a restored sandbox that has an
        endpoint for this URL keeps it as it is."""
        assert self.res is not None
        from shared.inbound.stripe import MAPPINGS
        from shared.outbound.stripe_payments import StripePayments

        api_key = str(self.res.secret_values["StripeApiKey"]["api_key"])
        stripe = StripePayments(lambda: api_key, base_url=self.sandboxes["stripe"].url)
        if any(e.get("url") == url for e in stripe.list_webhook_endpoints()):
            return
        stripe.create_webhook_endpoint(url=url, enabled_events=sorted(MAPPINGS))

    def _stage_settings(self, api_url: str) -> dict[str, str]:
        settings = {"PUBLIC_BASE_URL": api_url, "SALESFORCE_ORG_IDS": LOCAL_SALESFORCE_ORG_ID}
        if "hubspot" in self.sandboxes:
            settings["HUBSPOT_API_BASE_URL"] = self.sandboxes["hubspot"].url
        if "salesforce" in self.sandboxes:
            settings["SALESFORCE_MY_DOMAIN_URL"] = self.sandboxes["salesforce"].url
        if "stripe" in self.sandboxes:
            settings["STRIPE_API_BASE_URL"] = self.sandboxes["stripe"].url
        if "netsuite" in self.sandboxes:
            settings["NETSUITE_BASE_URL"] = self.sandboxes["netsuite"].url
        if "avatax" in self.sandboxes:
            settings["AVATAX_BASE_URL"] = self.sandboxes["avatax"].url
        if "zendesk" in self.sandboxes:
            settings["ZENDESK_API_BASE_URL"] = self.sandboxes["zendesk"].url
            settings["ZENDESK_PAYMENT_INTENT_FIELD_ID"] = str(self.zendesk_payment_field_id)
        settings.update(LOCAL_SETTINGS)
        settings["ERP_CONCURRENCY_LIMIT"] = str(self.erp_concurrency_limit)
        return settings

    def inject_partner_event(
        self, partner_bus_id: str, detail_type: str, detail: dict[str, Any], source: str | None = None
    ) -> None:
        """Put an event on a partner bus, as a Stripe event destination or Salesforce Event Relay would."""
        assert self.res is not None
        from infra.topology import PARTNER_BUSES_BY_ID

        partner = PARTNER_BUSES_BY_ID[partner_bus_id]
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": source or partner.local_event_source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.res.partner_buses[partner_bus_id],
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"partner event not accepted: {response['Entries']}")

    def _local_json(self) -> dict[str, Any]:
        assert self.res is not None
        secrets: dict[str, Any] = {}
        values = self.res.secret_values
        if "StripeWebhookSecret" in values:
            secrets["stripe_webhook"] = list(values["StripeWebhookSecret"]["secrets"])
        if "HubSpotCredentials" in values:
            secrets["hubspot_client_secret"] = values["HubSpotCredentials"]["secrets"][0]
        if "ErpWebhookSecret" in values:
            secrets["erp_webhook"] = values["ErpWebhookSecret"]["secrets"][0]
        if "SalesforceCredentials" in values:
            secrets["salesforce_org_id"] = LOCAL_SALESFORCE_ORG_ID
        if "ZendeskCredentials" in values:
            secrets["zendesk_signing_secret"] = values["ZendeskCredentials"]["signing_secrets"][0]
        return {
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": REGION,
            "stage": self.stage,
            "sandboxes": {name: sandbox.url for name, sandbox in self.sandboxes.items()},
            "state_machine_arn": self.state_machine_arn,
            "functions": dict(getattr(self, "_task_names", {})),
            "secrets": secrets,
            "settings": dict(self.settings),
            "sandbox_latency": {name: latency.as_json(v) for name, v in self.sandbox_latency.items()},
            "resources": self.resources,
            # what `o2c --as operator|readonly` acts as (IAM users holding the operators' policies)
            "iam": {"enforced": self.enforce_iam, "operators": dict(self.operators)},
            # the /v1 API: its token endpoint and the local OAuth clients (client credentials)
            # and the same routes for IAM callers (SigV4; ``iam_api_id`` names the execute-api ARNs)
            **(
                {
                    "api": {
                        **self.oauth.local_json(self.api_url),
                        "iam_url": self.iam_api_url,
                        "iam_api_id": IAM_API_ID,
                    }
                }
                if self.oauth is not None
                else {}
            ),
        }

    def _moto_api(self, action: str, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            f"{self.aws_endpoint_url}/moto-api/{action}", data=data, method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def stop(self) -> None:
        with self._lock:
            if self._stopped or not self._started:
                return
            self._stopped = True
        with contextlib.suppress(FileNotFoundError):
            self.local_json_path.unlink()
        for poller in self.pollers:
            poller.stop()
        if self._warehouse_writer is not None:
            self._warehouse_writer.stop()
        if self._api is not None:
            self._api.stop()
        if self._iam_api is not None:
            self._iam_api.stop()
        # Closing the pools ends any invocation still running; then the pollers finish their loop.
        threads = [threading.Thread(target=p.close, daemon=True) for p in self.pools.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for poller in self.pollers:
            poller.join(timeout=5)
        if self._warehouse_writer is not None:
            self._warehouse_writer.join(timeout=5)
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        if self._snapshots is not None:
            # Everything that writes has stopped: this last snapshot is the state as the run left it.
            try:
                self._snapshots.stop(final=True)
            except Exception:
                log.exception("could not write the local state to %s", self.state_dir / "state")
        if self.enforce_iam:
            from localcloud import iam as local_iam

            local_iam.disable()  # moto's backends are the process's: leave them as moto has them
            local_iam.act_as_state_machine(None)
        if self._moto is not None:
            self._moto.stop()
            server = getattr(self._moto, "_server", None)
            if server is not None:
                server.server_close()

    # -- invocation ----------------------------------------------------------------------------------
    def invoke_result(self, function_id: str, event: Any) -> InvokeResult:
        return self.pools[function_id].invoke(event)

    def invoke(self, function_id: str, event: Any) -> dict[str, Any]:
        """Invoke a function directly (same pool as HTTP/SQS). Returns ``{"ok", "result"|"error", ...}``."""
        r = self.invoke_result(function_id, event)
        out: dict[str, Any] = {"ok": r.ok, "pid": r.pid, "duration_ms": round(r.duration_ms, 1)}
        if r.ok:
            out["result"] = r.result
        else:
            out["error"] = r.error
        return out

    def worker_pids(self) -> dict[str, list[int]]:
        return {fid: pool.pids() for fid, pool in self.pools.items()}

    def wait_until_idle(self, timeout: float = 30.0, poll_interval: float = 0.05) -> None:
        """Return once every consumer queue is empty and nothing runs (seen twice in a row)."""
        assert self.res is not None
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            if self._idle_now(sqs):
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"local cloud not idle after {timeout}s")
            time.sleep(poll_interval)

    def _idle_now(self, sqs: Any) -> bool:
        assert self.res is not None
        if any(pool.in_flight for pool in self.pools.values()):
            return False
        if any(p.busy for p in self.pollers):
            return False
        if self._warehouse_writer is not None and self._warehouse_writer.busy:
            return False
        urls = [c.queue.url for c in self.res.consumers.values()]
        if self.warehouse is not None:
            urls.append(self.warehouse.queue_url)
        for url in urls:
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(v) for v in attrs.values()):
                return False
        return True
