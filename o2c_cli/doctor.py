"""``o2c doctor``: is a stage ready to take traffic?

Checks a stage end to end, the way an operator would before pointing the vendors at it, and says for each
finding what is wrong and how to fix it:

- every secret is set, shaped as the hub reads it, and not the deploy-time placeholder;
- every vendor accepts the credentials (Stripe, HubSpot, Salesforce, NetSuite, AvaTax);
- Stripe's webhook endpoint points at this stage's ``/webhooks/stripe``, is enabled, sends every event type
  the hub uses and is pinned to the API version the hub's Stripe SDK speaks;
- HubSpot's webhook subscriptions send ``deal.propertyChange`` (``dealstage``) to this stage, when the stage
  holds the app's developer API key and app id (a private-app token cannot read them: then a note, not a
  failure);
- the CRM fields the hub writes exist (``o2c setup crm`` creates them);
- AvaTax: ``GET /api/v2/utilities/ping`` says the credentials are ``authenticated``;
- Zendesk (when the stage has a ``zendeskApiBaseUrl``): the credentials are accepted (``GET /api/v2/users/me.json``),
  the hub's organization fields exist and the refund ticket field is set;
- NetSuite: every subsidiary and currency the stage maps exists in the account, with the currency the
  mapping says, and the hub's custom fields exist.

The stage is the local cloud (``.o2c/local.json``) or a deployed stack (``--stack``): its settings are the
functions' environment and its secrets are read from Secrets Manager, as the functions read them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from o2c_cli.targets import Target, TargetError

#: The AWS actions each command of this module calls on a deployed stack (after resolving it: targets.py),
#: from these entry functions. The operator policies grant them; tests/infra/test_operator_policy.py reads
#: the boto3 calls to keep this table true.
AWS_ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "doctor": (
        ("run",),
        frozenset(
            {
                "cloudformation:DescribeStacks",
                "cloudformation:ListStackResources",
                "lambda:GetFunctionConfiguration",
                "secretsmanager:GetSecretValue",
            }
        ),
    ),
}

#: What a secret must hold: key → "list" (a non-empty list of strings) or "str" (a non-empty string).
SECRET_SHAPES: dict[str, dict[str, str]] = {
    "StripeWebhookSecret": {"secrets": "list"},
    "HubSpotCredentials": {"secrets": "list", "access_token": "str"},
    "SalesforceCredentials": {"client_id": "str", "client_secret": "str"},
    "ErpWebhookSecret": {"secrets": "list"},
    "NetSuiteCredentials": {
        "account_id": "str",
        "consumer_key": "str",
        "consumer_secret": "str",
        "token_id": "str",
        "token_secret": "str",
    },
    "AvaTaxCredentials": {"account_id": "str", "license_key": "str", "company_code": "str"},
    "StripeApiKey": {"api_key": "str"},
    # plus {"email", "api_token"} or {"oauth_token"}: checked by check_zendesk
    "ZendeskCredentials": {"signing_secrets": "list"},
}
#: Prefixes the vendors give these values; anything else is a paste error or a placeholder.
SECRET_PREFIXES: dict[tuple[str, str], tuple[str, ...]] = {
    ("StripeWebhookSecret", "secrets"): ("whsec_",),
    ("ErpWebhookSecret", "secrets"): ("whsec_",),
    ("StripeApiKey", "api_key"): ("sk_", "rk_"),
    ("HubSpotCredentials", "access_token"): ("pat-",),
}
_PLACEHOLDERS = {"", "changeme", "change-me", "replace-me", "replace_me", "todo", "xxx", "placeholder", "..."}


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    #: a fact worth knowing that does not stop the stage (``ok`` stays true)
    note: bool = False


@dataclass
class Stage:
    """What the doctor knows of a stage: the settings the functions get, its secrets, its public URL."""

    name: str
    settings: dict[str, str]
    secrets: dict[str, Any]  # secret id -> parsed JSON value, or an Exception saying why it is unreadable
    public_url: str
    target: Target | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- the stage ----------------------------------------------------------------------------------------


def local_stage(target: Target, info: Mapping[str, Any]) -> Stage:
    """The local cloud as ``.o2c/local.json`` describes it (``settings``: the stage settings its functions
    get; ``resources.secrets``: its secrets' names)."""
    settings = {str(k): str(v) for k, v in (info.get("settings") or {}).items()}
    refs = dict((info.get("resources") or {}).get("secrets") or {})
    return Stage(
        name="local",
        settings=settings,
        secrets=_read_secrets(target, refs),
        public_url=(settings.get("PUBLIC_BASE_URL") or info.get("api_url") or "").rstrip("/"),
        target=target,
    )


def stack_stage(target: Target, stack: str) -> Stage:
    """A deployed stack: the union of its functions' environments, and the secrets they point at."""
    from infra.topology import SECRETS

    cfn = target.client("cloudformation")
    lam = target.client("lambda")
    settings: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            config = lam.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
            settings.update((config.get("Environment") or {}).get("Variables") or {})
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    }
    refs = {spec.id: settings[spec.env_var] for spec in SECRETS if spec.env_var in settings}
    public = settings.get("PUBLIC_BASE_URL") or outputs.get("ApiUrl", "")
    return Stage(
        name=stack,
        settings=settings,
        secrets=_read_secrets(target, refs),
        public_url=public.rstrip("/"),
        target=target,
    )


def _read_secrets(target: Target, refs: Mapping[str, str]) -> dict[str, Any]:
    from infra.topology import SECRETS

    sm = target.client("secretsmanager")
    values: dict[str, Any] = {}
    for spec in SECRETS:
        ref = refs.get(spec.id)
        if not ref:
            values[spec.id] = LookupError("the stage has no such secret")
            continue
        try:
            values[spec.id] = json.loads(sm.get_secret_value(SecretId=ref)["SecretString"])
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding itself
            values[spec.id] = exc
    return values


# --- checks -------------------------------------------------------------------------------------------


def check_secrets(stage: Stage) -> list[Finding]:
    """Every secret readable, shaped as the hub reads it, and not a placeholder."""
    findings = []
    for secret_id, shape in SECRET_SHAPES.items():
        value = stage.secrets.get(secret_id, LookupError("not read"))
        problems = _secret_problems(secret_id, shape, value)
        findings.append(
            Finding(
                f"secret {secret_id}",
                not problems,
                "; ".join(problems) or "set",
                ""
                if not problems
                else f"aws secretsmanager put-secret-value --secret-id <{secret_id} ARN> --secret-string "
                f"'{json.dumps({k: ['...'] if t == 'list' else '...' for k, t in shape.items()})}'",
            )
        )
    return findings


def _secret_problems(secret_id: str, shape: Mapping[str, str], value: Any) -> list[str]:
    if isinstance(value, Exception):
        return [f"cannot be read: {type(value).__name__}: {str(value)[:120]}"]
    if not isinstance(value, dict):
        return ["is not a JSON object"]
    problems = []
    for key, kind in shape.items():
        item = value.get(key)
        if kind == "list" and (not isinstance(item, list) or not item):
            problems.append(f"'{key}' must be a non-empty list (the deploy-time placeholder is empty)")
            continue
        items: list[Any] = item if isinstance(item, list) else [item]
        for entry in items:
            if not isinstance(entry, str) or entry.strip().lower() in _PLACEHOLDERS:
                problems.append(f"'{key}' is missing or a placeholder")
                break
            prefixes = SECRET_PREFIXES.get((secret_id, key))
            if prefixes and not entry.startswith(prefixes):
                problems.append(f"'{key}' must start with {' or '.join(prefixes)}")
                break
    return problems


def _usable(stage: Stage, *secret_ids: str) -> bool:
    return all(
        not _secret_problems(s, SECRET_SHAPES[s], stage.secrets.get(s, LookupError())) for s in secret_ids
    )


Check = Callable[[Stage], list[Finding]]


def _guarded(name: str, check: Check, stage: Stage) -> list[Finding]:
    """A check that blows up is a finding, not a traceback: the operator still gets the other answers."""
    try:
        return check(stage)
    except Exception as exc:  # noqa: BLE001 - reported as the check's failure
        return [Finding(name, False, f"{type(exc).__name__}: {str(exc)[:300]}", "see the detail")]


def check_stripe(stage: Stage) -> list[Finding]:
    """The API key is accepted, and a webhook endpoint for this stage sends what the hub needs."""
    if not _usable(stage, "StripeApiKey"):
        return [Finding("stripe api key", False, "not checked: the secret is not usable", "set StripeApiKey")]
    from shared.errors import AuthError
    from shared.inbound.stripe import MAPPINGS
    from shared.outbound.stripe_payments import DEFAULT_BASE_URL, StripePayments

    api_key = str(stage.secrets["StripeApiKey"]["api_key"])
    stripe = StripePayments(
        lambda: api_key, base_url=stage.settings.get("STRIPE_API_BASE_URL") or DEFAULT_BASE_URL
    )
    try:
        endpoints = stripe.list_webhook_endpoints()
    except AuthError as exc:
        return [
            Finding(
                "stripe api key",
                False,
                f"Stripe refused the key: {exc}",
                "put a valid secret or restricted key (with Webhook Endpoints read) in StripeApiKey",
            )
        ]
    return [
        Finding("stripe api key", True, "accepted by Stripe"),
        *stripe_endpoint_findings(
            endpoints, f"{stage.public_url}/webhooks/stripe", sorted(MAPPINGS), stripe.api_version
        ),
    ]


def stripe_endpoint_findings(
    endpoints: list[dict[str, Any]], url: str, needed: list[str], pinned: str
) -> list[Finding]:
    """What is wrong with the account's webhook endpoints for ``url``: none there, disabled, event types
    missing, another API version than the hub's SDK speaks. Each finding says how to fix it."""
    ours = [e for e in endpoints if str(e.get("url") or "").rstrip("/") == url.rstrip("/")]
    events_flags = " ".join(f"-d 'enabled_events[]={t}'" for t in needed)
    if not ours:
        found = ", ".join(str(e.get("url")) for e in endpoints) or "none"
        return [
            Finding(
                "stripe webhook endpoint",
                False,
                f"no webhook endpoint points at {url} (the account's: {found})",
                f"create it: curl https://api.stripe.com/v1/webhook_endpoints -u $STRIPE_KEY: -d url={url} "
                f"-d api_version={pinned} {events_flags}; then put its signing secret (whsec_...) in "
                "StripeWebhookSecret",
            )
        ]
    findings: list[Finding] = []
    for endpoint in ours:
        eid = str(endpoint.get("id"))
        enabled = endpoint.get("status") == "enabled"
        findings.append(
            Finding(
                f"stripe webhook endpoint {eid}",
                enabled,
                f"points at {url}, status {endpoint.get('status')}",
                ""
                if enabled
                else f"enable it: curl https://api.stripe.com/v1/webhook_endpoints/{eid} "
                "-u $STRIPE_KEY: -d disabled=false",
            )
        )
        events = set(endpoint.get("enabled_events") or [])
        missing = [] if "*" in events else [t for t in needed if t not in events]
        findings.append(
            Finding(
                f"stripe webhook events {eid}",
                not missing,
                f"missing event types: {', '.join(missing)}" if missing else f"all {len(needed)} event types",
                ""
                if not missing
                else f"add them (enabled_events replaces the list): curl https://api.stripe.com/v1/"
                f"webhook_endpoints/{eid} -u $STRIPE_KEY: "
                + " ".join(f"-d 'enabled_events[]={t}'" for t in sorted(events | set(needed))),
            )
        )
        version = endpoint.get("api_version")
        findings.append(
            Finding(
                f"stripe webhook api version {eid}",
                version == pinned,
                f"API version {version}"
                if version == pinned
                else f"API version {version or 'none (the account default)'}; the hub's Stripe SDK speaks {pinned}",
                ""
                if version == pinned
                else f"Stripe sets an endpoint's API version only when it is created: create one pinned to "
                f"{pinned} for {url} with the same events, put its signing secret in StripeWebhookSecret "
                f"(beside the old one while both run), then delete {eid}",
            )
        )
    return findings


def check_crm(stage: Stage) -> list[Finding]:
    """The CRM fields the hub writes exist (``o2c setup crm`` creates them); each CRM accepts its credentials."""
    if stage.target is None:
        return [Finding("crm fields", False, "not checked: no target", "")]
    try:
        from o2c_cli import crm_setup
    except ImportError:  # pragma: no cover - the CRM setup is part of the hub
        return [Finding("crm fields", False, "not checked: this build has no `o2c setup crm`", "")]

    from shared.errors import AuthError

    try:
        statuses = crm_setup.crm_status(stage.target, create=False)
    except AuthError as exc:
        return [
            Finding(
                "crm credentials",
                False,
                f"the CRM refused the credentials: {exc}",
                "put a valid HubSpot private-app token (access_token) in HubSpotCredentials / a Salesforce "
                "connected app's client_id and client_secret in SalesforceCredentials",
            )
        ]
    bad = [s for s in statuses if s.state in (crm_setup.MISSING, crm_setup.MISMATCH)]
    findings = [
        Finding(f"crm {s.crm}", True, f"not checked: {s.detail}", note=True)
        for s in statuses
        if s.state == crm_setup.SKIPPED
    ]
    checked = [s for s in statuses if s.state != crm_setup.SKIPPED]
    if bad:
        findings.append(
            Finding(
                "crm fields",
                False,
                "missing: "
                + ", ".join(
                    f"{s.qualified}" + (f" ({s.detail})" if s.state == crm_setup.MISMATCH else "")
                    for s in bad
                ),
                "run `o2c setup crm`"
                + (f" --stack {stage.name}" if stage.name != "local" else "")
                + " (it creates the HubSpot properties and deploys the Salesforce fields)",
            )
        )
    elif checked:
        findings.append(Finding("crm fields", True, f"all {len(checked)} present"))
    return findings


def check_hubspot_subscriptions(stage: Stage) -> list[Finding]:
    """HubSpot sends ``deal.propertyChange`` of ``dealstage`` to this stage's ``/webhooks/hubspot``. HubSpot's
    webhooks API (``/webhooks/v3/{appId}/...``) takes the app's developer API key, not a private-app token:
    checked only when the stage has ``HUBSPOT_APP_ID`` and ``developer_api_key`` in HubSpotCredentials."""
    creds = stage.secrets.get("HubSpotCredentials")
    app_id = stage.settings.get("HUBSPOT_APP_ID")
    key = creds.get("developer_api_key") if isinstance(creds, dict) else None
    url = f"{stage.public_url}/webhooks/hubspot"
    if not app_id or not key:
        return [
            Finding(
                "hubspot subscriptions",
                True,
                "not checked: HubSpot's webhooks API needs the app's developer API key and app id, which a "
                f"private-app token cannot stand for; check in the app's Webhooks settings that the target "
                f"URL is {url} and deal.propertyChange (dealstage) is subscribed and active",
                note=True,
            )
        ]
    from shared.outbound.http import JsonHttp

    http = JsonHttp(stage.settings.get("HUBSPOT_API_BASE_URL") or "https://api.hubapi.com", auth_headers=dict)
    query = {"hapikey": str(key)}
    settings = http.request("GET", f"/webhooks/v3/{app_id}/settings", query=query)
    target_url = str((settings or {}).get("targetUrl") or "")
    subs = http.request("GET", f"/webhooks/v3/{app_id}/subscriptions", query=query)
    active = [
        s
        for s in (subs or {}).get("results") or []
        if s.get("active")
        and s.get("eventType") == "deal.propertyChange"
        and s.get("propertyName") == "dealstage"
    ]
    return [
        Finding(
            "hubspot webhook target",
            target_url.rstrip("/") == url,
            f"target URL {target_url or 'not set'}",
            "" if target_url.rstrip("/") == url else f"set the app's webhook target URL to {url}",
        ),
        Finding(
            "hubspot subscriptions",
            bool(active),
            "deal.propertyChange (dealstage) active"
            if active
            else "no active deal.propertyChange (dealstage)",
            "" if active else "subscribe the app to deal.propertyChange of dealstage and activate it",
        ),
    ]


def check_netsuite(stage: Stage) -> list[Finding]:
    """Credentials accepted; every mapped subsidiary and currency exists as mapped; custom fields exist."""
    if not _usable(stage, "NetSuiteCredentials"):
        return [
            Finding("netsuite", False, "not checked: the secret is not usable", "set NetSuiteCredentials")
        ]
    from shared.errors import AuthError, NotFound
    from shared.outbound.netsuite import NetSuiteErp, TokenBasedAuth

    creds = stage.secrets["NetSuiteCredentials"]
    account = str(creds["account_id"])
    erp = NetSuiteErp(
        stage.settings.get("NETSUITE_BASE_URL") or None,
        account_id=account,
        auth=TokenBasedAuth(
            account,
            consumer_key=lambda: str(creds["consumer_key"]),
            consumer_secret=lambda: str(creds["consumer_secret"]),
            token_id=lambda: str(creds["token_id"]),
            token_secret=lambda: str(creds["token_secret"]),
        ),
        gate=None,
    )
    findings: list[Finding] = []
    subsidiaries = json.loads(stage.settings.get("ERP_SUBSIDIARIES") or "{}")
    account_settings = json.loads(stage.settings.get("NETSUITE_ACCOUNT_SETTINGS") or "{}")
    currency_ids: dict[str, str] = account_settings.get("currencyIds") or {}
    try:
        seen: set[str] = set()
        for region, mapping in sorted(subsidiaries.items()):
            sid = str(mapping.get("subsidiaryId"))
            if sid in seen:
                continue
            seen.add(sid)
            try:
                record = erp.get("subsidiary", sid)
            except NotFound:
                findings.append(
                    Finding(
                        f"netsuite subsidiary {sid}",
                        False,
                        f"region {region} maps to subsidiary {sid}, which the account does not have",
                        "fix ERP_SUBSIDIARIES in cdk.json (stages.<stage>) to the subsidiary's internal id",
                    )
                )
                continue
            base = _currency_symbol(erp, record.get("currency"))
            wanted = str(mapping.get("currency", "")).upper()
            findings.append(
                Finding(
                    f"netsuite subsidiary {sid}",
                    base == wanted,
                    f"{record.get('name') or record.get('refName') or sid}, base currency {base}"
                    + ("" if base == wanted else f", but ERP_SUBSIDIARIES says {wanted} for {region}"),
                    "" if base == wanted else "make ERP_SUBSIDIARIES name the subsidiary's base currency",
                )
            )
        for code, cid in sorted(currency_ids.items()):
            try:
                symbol = _currency_symbol(erp, {"id": cid})
            except NotFound:
                symbol = None
            findings.append(
                Finding(
                    f"netsuite currency {code}",
                    symbol == code.upper(),
                    f"internal id {cid} is {symbol or 'not in the account'}",
                    ""
                    if symbol == code.upper()
                    else "fix NETSUITE_ACCOUNT_SETTINGS currencyIds (Lists > Accounting > Currencies)",
                )
            )
        for record_type, field_id in NETSUITE_CUSTOM_FIELDS:
            present = field_id in erp.record_fields(record_type)
            findings.append(
                Finding(
                    f"netsuite field {record_type}.{field_id}",
                    present,
                    "present" if present else "missing",
                    ""
                    if present
                    else f"create the custom field {field_id} on {record_type} (Customization > Lists, "
                    "Records & Fields), as README 'NetSuite' lists",
                )
            )
    except AuthError as exc:
        return [
            Finding("netsuite credentials", False, f"NetSuite refused them: {exc}", "fix NetSuiteCredentials")
        ]
    return [Finding("netsuite credentials", True, f"accepted by account {account}"), *findings]


#: The custom fields the hub writes in NetSuite (record type, field id).
NETSUITE_CUSTOM_FIELDS: tuple[tuple[str, str], ...] = (
    ("salesOrder", "custbody_o2c_released"),
    ("customer", "custentity_o2c_dunning"),
)


def _currency_symbol(erp: Any, ref: Any) -> str | None:
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    record = erp.get("currency", str(ref["id"]))
    return str(record.get("symbol") or "").upper() or None


def check_avatax(stage: Stage) -> list[Finding]:
    if not _usable(stage, "AvaTaxCredentials"):
        return [Finding("avatax", False, "not checked: the secret is not usable", "set AvaTaxCredentials")]
    from shared.outbound.avatax import AvaTax

    creds = stage.secrets["AvaTaxCredentials"]
    tax = AvaTax(
        stage.settings.get("AVATAX_BASE_URL") or "https://rest.avatax.com",
        account_id=str(creds["account_id"]),
        license_key=lambda: str(creds["license_key"]),
        company_code=str(creds["company_code"]),
    )
    ok = tax.ping()
    return [
        Finding(
            "avatax credentials",
            ok,
            "authenticated" if ok else "AvaTax answered ping unauthenticated",
            "" if ok else "fix AvaTaxCredentials (account id and licence key)",
        )
    ]


def check_zendesk(stage: Stage) -> list[Finding]:
    base_url = stage.settings.get("ZENDESK_API_BASE_URL", "")
    if not base_url:
        return [Finding("zendesk", True, "not used by this stage (no zendeskApiBaseUrl)", note=True)]
    if not _usable(stage, "ZendeskCredentials"):
        return [Finding("zendesk", False, "not checked: the secret is not usable", "set ZendeskCredentials")]
    from shared.errors import AuthError
    from shared.order_to_cash.support import ORGANIZATION_FIELDS
    from shared.outbound.zendesk import ZendeskSupport, auth_from_credentials

    creds = stage.secrets["ZendeskCredentials"]
    if not creds.get("oauth_token") and not (creds.get("email") and creds.get("api_token")):
        return [
            Finding(
                "zendesk credentials",
                False,
                "ZendeskCredentials holds neither email + api_token nor oauth_token",
                'add {"email": "...", "api_token": "..."} (Admin Center > Apps and integrations > Zendesk API)',
            )
        ]
    desk = ZendeskSupport(base_url, auth_headers=auth_from_credentials(lambda: creds))
    try:
        desk.current_user()
    except AuthError as exc:
        return [Finding("zendesk credentials", False, f"refused: {exc}", "fix ZendeskCredentials")]
    findings = [Finding("zendesk credentials", True, "authenticated")]
    missing = sorted(set(ORGANIZATION_FIELDS) - desk.organization_field_keys())
    findings.append(
        Finding(
            "zendesk organization fields",
            not missing,
            f"missing {', '.join(missing)}" if missing else "all present",
            "create them in Admin Center > People > Organization fields (README, Zendesk)" if missing else "",
        )
    )
    field_id = stage.settings.get("ZENDESK_PAYMENT_INTENT_FIELD_ID", "")
    findings.append(
        Finding(
            "zendesk refund field",
            bool(field_id),
            f"ticket field {field_id}" if field_id else "not set: tickets cannot ask for refunds",
            ""
            if field_id
            else "set zendeskPaymentIntentFieldId to the ticket field agents put the payment id in",
        )
    )
    return findings


CHECKS: tuple[tuple[str, Check], ...] = (
    ("secrets", check_secrets),
    ("stripe", check_stripe),
    ("hubspot", check_hubspot_subscriptions),
    ("crm", check_crm),
    ("netsuite", check_netsuite),
    ("avatax", check_avatax),
    ("zendesk", check_zendesk),
)


def diagnose(stage: Stage, checks: Iterable[tuple[str, Check]] | None = None) -> list[Finding]:
    """Every check's findings (``checks``: default ``CHECKS``), a check that raises being one failing finding."""
    checks = CHECKS if checks is None else checks
    findings: list[Finding] = []
    for name, check in checks:
        findings.extend(_guarded(name, check, stage))
    return findings


# --- the command --------------------------------------------------------------------------------------


def stage_for(stack: str | None, region: str | None) -> Stage:
    from o2c_cli.targets import local_target, stack_target

    if stack:
        return stack_stage(stack_target(stack, region), stack)
    target = local_target()
    return local_stage(target, target.local_info)


def as_text(stage: Stage, findings: list[Finding]) -> str:
    failed = [f for f in findings if not f.ok]
    lines = [f"o2c doctor: stage {stage.name} ({stage.public_url or 'no public URL'})"]
    for f in findings:
        mark = "FAIL" if not f.ok else "note" if f.note else "ok  "
        lines.append(f"  {mark}  {f.check}: {f.detail}")
        if not f.ok and f.fix:
            lines.append(f"        fix: {f.fix}")
    lines.append(
        f"{len(findings) - len(failed)} ok, {len(failed)} failing"
        + ("" if failed else ": ready to take traffic")
    )
    return "\n".join(lines)


def as_json(stage: Stage, findings: list[Finding]) -> str:
    return json.dumps(
        {
            "stage": stage.name,
            "publicUrl": stage.public_url,
            "ok": all(f.ok for f in findings),
            "findings": [asdict(f) for f in findings],
        },
        indent=2,
    )


def run(stack: str | None, region: str | None, *, as_json_output: bool) -> int:
    try:
        stage = stage_for(stack, region)
    except TargetError as exc:
        print(f"o2c doctor: {exc}")
        return 1
    findings = diagnose(stage)
    print(as_json(stage, findings) if as_json_output else as_text(stage, findings))
    return 0 if all(f.ok for f in findings) else 1
