"""IAM enforced in the embedded cloud: every request signed with an IAM principal's key is authorized against that
principal's policies, on the resource the request names, as AWS authorizes it.

Who acts with what:

- each function's worker (and the SQS poller standing in for its event source mapping) with temporary
  credentials of its own role, whose inline policy is ``infra.iam.function_statements`` with the stage's local
  ARNs (``tests/infra/test_local_iam.py`` proves those equal to the synthesized template's role policies);
- the CLI under ``--as operator`` / ``--as readonly`` with an IAM user holding the operator / read-only
  operator policy (``infra.iam.operator_statements``);
- moto's Step Functions interpreter (task invocations, ``events:putEvents`` tasks) with a session of the state
  machine's role (``infra.iam.state_machine_statements``);
- everything else (provisioning, the test harness, ``o2c`` without ``--as``) with a key that belongs to no IAM
  principal: the account's root, which IAM does not restrict.

moto ships a request authorizer, but it checks every action against ``Resource: "*"`` (only SQS and IAM name
their resource), so a policy scoped to a table ARN would deny everything. This module replaces it: the resource
of each request is read from its parameters (``resources_of``), the IAM action names are AWS's (``Invoke`` is
``lambda:InvokeFunction``, a transaction's items are ``PutItem``/``UpdateItem``..., a batch SQS call is its
single action), explicit denies win, and a refusal is returned in the service's own error shape
(``AccessDeniedException`` for the JSON APIs, ``AccessDenied`` for S3 and the query APIs) with AWS's message.
Signatures are not verified here: the access key identifies the principal (the /v1 API for IAM callers does
verify them: ``localcloud.api_sigv4``).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from werkzeug.exceptions import HTTPException

_state = {"enforcing": False}
_install_lock = threading.Lock()
_installed = {"done": False}

#: API operations authorized as another IAM action (AWS's Service Authorization Reference).
_ACTION_ALIASES = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
}
_JSON_SERVICES = {"dynamodb", "secretsmanager", "events", "states", "sqs", "logs", "xray", "scheduler"}
_REST_JSON_SERVICES = {"lambda"}
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def enable() -> None:
    install()
    _state["enforcing"] = True


def disable() -> None:
    _state["enforcing"] = False


def enforcing() -> bool:
    return _state["enforcing"]


# --- policy evaluation ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    return any(_wildcard(p, ignore_case=ignore_case).match(value) for p in _listed(patterns))


def _statement_applies(statement: Mapping[str, Any], action: str, resource: str | None) -> bool:
    if "Action" in statement:
        if not _matches(statement["Action"], action, ignore_case=True):
            return False
    elif _matches(statement.get("NotAction", []), action, ignore_case=True):
        return False
    if resource is None:  # the resource cannot be named (an unknown task token): any resource will do
        return True
    if "Resource" in statement:
        return _matches(statement["Resource"], resource, ignore_case=False)
    return not _matches(statement.get("NotResource", []), resource, ignore_case=False)


def evaluate(documents: Iterable[Mapping[str, Any]], action: str, resource: str | None) -> str:
    """``"allow"``, ``"explicit_deny"`` or ``"implicit_deny"`` (conditions are not used by the hub's policies:
    a statement with a condition never applies here)."""
    allowed = False
    for document in documents:
        for statement in _listed(document.get("Statement", [])):
            if "Condition" in statement or not _statement_applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return "explicit_deny"
            allowed = True
    return "allow" if allowed else "implicit_deny"


# --- principals -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    arn: str
    documents: tuple[dict[str, Any], ...]


def _document(policy: Any) -> dict[str, Any]:
    from moto.iam.access_control import IAMPolicy

    return dict(IAMPolicy(policy)._policy_json)


def _access_key(access_key_id: str, headers: Mapping[str, str], account_id: str) -> Any:
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure, IAMUserAccessKey

    try:
        if "X-Amz-Security-Token" in headers or "x-amz-security-token" in headers:
            return AssumedRoleAccessKey(account_id, "aws", access_key_id, dict(headers))
        return IAMUserAccessKey(account_id, "aws", access_key_id, dict(headers))
    except (CreateAccessKeyFailure, KeyError):
        return None


def principal_for(access_key_id: str, headers: Mapping[str, str], account_id: str) -> Principal | None:
    """The IAM user or assumed role the key belongs to, with its policies; None for any other key (root)."""
    key = _access_key(access_key_id, headers, account_id)
    if key is None:
        return None
    return Principal(key.arn, tuple(_document(p) for p in key.collect_policies()))


def signer_for(
    access_key_id: str, headers: Mapping[str, str], account_id: str
) -> tuple[Principal, Any] | None:
    """The principal of the key and its credentials (botocore ``Credentials``, with the secret a SigV4
    signature is verified with: ``localcloud.api_sigv4``); None for a key of no IAM user or role session."""
    key = _access_key(access_key_id, headers, account_id)
    if key is None:
        return None
    return Principal(key.arn, tuple(_document(p) for p in key.collect_policies())), key.create_credentials()


def _access_key_of(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    match = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/", authorization)
    return match.group(1) if match else None


def _signing_scope(headers: Mapping[str, str]) -> tuple[str, str]:
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", authorization)
    return (match.group(1), match.group(2)) if match else ("us-east-1", "")


# --- resources --------------------------------------------------------------------------------------------------


def _body(response: Any) -> dict[str, Any]:
    raw = getattr(response, "body", None) or getattr(response, "raw_body", None) or b""
    if isinstance(raw, dict):  # moto's DynamoDB responses hold the parsed body
        return raw
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        value = {}
    if isinstance(value, dict) and value:
        return value
    querystring = getattr(response, "querystring", None) or {}
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in querystring.items()}


def _dynamodb(region: str, account: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        if name.startswith("arn:"):
            return name
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [(operation, table(name)) for name in params.get("RequestItems", {})]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        pairs = []
        for item in params.get("TransactItems", []):
            for kind, request in item.items():
                pairs.append(
                    (_TRANSACT_ITEM_ACTIONS.get(kind, operation), table(request.get("TableName", "")))
                )
        return pairs
    if "TableName" in params:
        return [(operation, table(params["TableName"], params.get("IndexName")))]
    return [(operation, "*")]


def _secretsmanager(
    region: str, account: str, operation: str, params: Mapping[str, Any]
) -> list[tuple[str, str]]:
    secret_id = params.get("SecretId")
    if not secret_id:
        return [(operation, "*")]
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    arn = (
        secret.arn if secret is not None else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"
    )
    return [(operation, arn)]


def _events(region: str, account: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    def bus(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{name}"

    def replay(name: str) -> str:
        return f"arn:aws:events:{region}:{account}:replay/{name}"

    if operation == "StartReplay":  # authorized on the archive it reads and on the replay it creates
        return [
            (operation, params.get("EventSourceArn") or "*"),
            (operation, replay(params.get("ReplayName", ""))),
        ]
    if operation in {"DescribeReplay", "CancelReplay"}:
        return [(operation, replay(params.get("ReplayName", "")))]
    if operation == "PutEvents":
        return [(operation, bus(e.get("EventBusName"))) for e in params.get("Entries", [])] or [
            (operation, bus(None))
        ]
    if "EventBusName" in params or "Name" in params:
        return [(operation, bus(params.get("EventBusName") or params.get("Name")))]
    return [(operation, "*")]


def _state_machine_of_token(region: str, account: str, token: str) -> str | None:
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(account, region)
    for machine in backend.state_machines:
        for execution in machine.executions:
            worker = getattr(execution, "exec_worker", None)
            env = getattr(worker, "env", None)
            pool = getattr(env, "callback_pool_manager", None)
            if pool is not None and pool.get(token) is not None:
                return str(machine.arn)
    return None


def _states(
    region: str, account: str, operation: str, params: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    if "taskToken" in params:
        return [(operation, _state_machine_of_token(region, account, params["taskToken"]))]
    for key in ("executionArn", "stateMachineArn", "mapRunArn"):
        if key in params:
            return [(operation, params[key])]
    return [(operation, "*")]


def _sqs(region: str, account: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    def queue(name: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{name}"

    if "QueueUrl" in params:
        return [(operation, queue(str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]))]
    if "QueueName" in params:
        return [(operation, queue(params["QueueName"]))]
    if "SourceArn" in params:
        return [(operation, params["SourceArn"])]
    return [(operation, "*")]


def _lambda(region: str, account: str, operation: str, response: Any) -> list[tuple[str, str]]:
    parsed = urlparse(getattr(response, "uri", "") or getattr(response, "path", ""))
    match = re.search(r"/functions/([^/]+)", parsed.path)
    if not match:
        return [(operation, "*")]
    name = unquote(match.group(1))
    qualifier = parse_qs(parsed.query).get("Qualifier", [None])[0]
    if name.startswith("arn:"):
        arn = name
    else:
        name, _, inline_qualifier = name.partition(":")
        qualifier = qualifier or inline_qualifier or None
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return [(operation, f"{arn}:{qualifier}" if qualifier else arn)]


def resources_of(
    service: str, operation: str, response: Any, region: str, account: str
) -> list[tuple[str, str | None]]:
    """(IAM action, resource ARN) pairs one request needs; None when the resource cannot be named."""
    if service == "lambda":
        pairs: Sequence[tuple[str, str | None]] = _lambda(region, account, operation, response)
    else:
        params = _body(response)
        resolvers: dict[
            str, Callable[[str, str, str, Mapping[str, Any]], Sequence[tuple[str, str | None]]]
        ] = {
            "dynamodb": _dynamodb,
            "secretsmanager": _secretsmanager,
            "events": _events,
            "states": _states,
            "sqs": _sqs,
        }
        resolver = resolvers.get(service)
        pairs = resolver(region, account, operation, params) if resolver else [(operation, "*")]
    return [(_ACTION_ALIASES.get(f"{service}:{op}", f"{service}:{op}"), resource) for op, resource in pairs]


# --- refusals ---------------------------------------------------------------------------------------------------


def denial_message(principal: str, action: str, resource: str | None, verdict: str) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if verdict == "explicit_deny"
        else f"because no identity-based policy allows the {action} action"
    )
    on = f" on resource: {resource}" if resource else ""
    return f"User: {principal} is not authorized to perform: {action}{on} {why}"


class _JsonAccessDenied(HTTPException):
    def __init__(self, message: str, status: int) -> None:
        super().__init__()
        self.code = status
        self.description = json.dumps(
            {"__type": "AccessDeniedException", "message": message, "Message": message}
        )


class _XmlAccessDenied(HTTPException):
    code = 403

    def __init__(self, message: str) -> None:
        super().__init__()
        from xmltodict import unparse

        self.description = unparse(
            {"ErrorResponse": {"Error": {"Type": "Sender", "Code": "AccessDenied", "Message": message}}},
            full_document=True,
        )


def _refuse(service: str, message: str) -> None:
    if service in _REST_JSON_SERVICES:
        raise _JsonAccessDenied(message, 403)
    if service in _JSON_SERVICES:
        raise _JsonAccessDenied(message, 400)
    raise _XmlAccessDenied(message)


#: (principal ARN, action, resource) of the calls allowed since the process started (the first
#: ``ALLOWED_CALLS_KEPT`` distinct ones): what the policies are used for, e.g. to find a grant no flow uses.
allowed_calls: set[tuple[str, str, str | None]] = set()
ALLOWED_CALLS_KEPT = 20_000


def _authorize(principal: Principal, pairs: Iterable[tuple[str, str | None]], refuse: Any) -> None:
    for action, resource in pairs:
        verdict = evaluate(principal.documents, action, resource)
        if verdict != "allow":
            refuse(denial_message(principal.arn, action, resource, verdict))
        if len(allowed_calls) < ALLOWED_CALLS_KEPT:
            allowed_calls.add((principal.arn, action, resource))


# --- the hooks in moto ------------------------------------------------------------------------------------------


def install() -> None:
    with _install_lock:
        if _installed["done"]:
            return
        _installed["done"] = True
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.s3.exceptions import S3ClientError

        original_normal = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
        original_s3 = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

        def normal(self: Any, resource: str = "*") -> None:
            if not _state["enforcing"]:
                return original_normal(self, resource)
            access_key = _access_key_of(self.headers)
            if access_key is None:
                return None
            region, service = _signing_scope(self.headers)
            principal = principal_for(access_key, self.headers, self.current_account)
            if principal is None:
                return None  # the account's root
            operation = self._get_action()
            if f"{service}:{operation}" == "sts:GetCallerIdentity":
                return None
            pairs = resources_of(service, operation, self, region, self.current_account)
            _authorize(principal, pairs, lambda message: _refuse(service, message))
            return None

        class _S3AccessDenied(S3ClientError):
            def __init__(self, message: str) -> None:
                super().__init__("AccessDenied", message)
                self.code = "AccessDenied"

        def s3(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
            if not _state["enforcing"]:
                return original_s3(self, bucket_name, key_name)
            access_key = _access_key_of(self.headers)
            principal = principal_for(access_key, self.headers, self.current_account) if access_key else None
            if principal is None:
                return None
            target = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
            action = f"s3:{self.data.get('Action', '')}"

            def refuse(message: str) -> None:
                raise _S3AccessDenied(message)

            _authorize(principal, [(action, f"arn:aws:s3:::{target}")], refuse)
            return None

        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = normal  # type: ignore[method-assign]
        ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = s3  # type: ignore[method-assign]


# --- identities ---------------------------------------------------------------------------------------------------

#: Lambda's execution role credentials last up to 12 hours; the local ones live as long as the cloud.
SESSION_SECONDS = 43200
_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
#: ``o2c --as NAME`` → the operator policy's commands (infra.iam)
OPERATOR_IDENTITIES = ("operator", "readonly")


def role_name(stage: str, function_id: str) -> str:
    return f"o2c-{stage}-{function_id}Role"[:64]


def function_policy_name(function_id: str) -> str:
    return f"{function_id}Policy"


def provision_function_role(
    iam: Any, sts: Any, stage: str, function_id: str, document: Mapping[str, Any]
) -> dict[str, str]:
    """The function's role with its policy (inline, as the stack attaches it), and credentials of a session of
    it, as Lambda hands its execution environment: ``AWS_ACCESS_KEY_ID``, ``..._SECRET_...``, ``..._SESSION_TOKEN``."""
    name = role_name(stage, function_id)
    role_arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST),
        Description=f"{function_id}: its log group, its tables, its secrets",
        MaxSessionDuration=SESSION_SECONDS,
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name, PolicyName=function_policy_name(function_id), PolicyDocument=json.dumps(document)
    )
    return assume(sts, role_arn, f"o2c-{stage}-{function_id}")


def provision_operator(iam: Any, stage: str, identity: str, document: Mapping[str, Any]) -> dict[str, str]:
    """An IAM user holding one of the operators' managed policies, with an access key (``o2c --as``)."""
    policy_name = {"operator": "OperatorPolicy", "readonly": "ReadOnlyOperatorPolicy"}[identity]
    policy_arn = iam.create_policy(
        PolicyName=f"o2c-{stage}-{policy_name}", PolicyDocument=json.dumps(document)
    )["Policy"]["Arn"]
    user = f"o2c-{stage}-{identity}"
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "user_arn": user_arn,
        "policy_arn": policy_arn,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
    }


# --- moto's Step Functions interpreter, acting as the state machine's role ---------------------------------------

_state_machine_credentials: dict[str, str] = {}
_INTERPRETER_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
)
_interpreter_patched = {"done": False}


def act_as_state_machine(credentials: Mapping[str, str] | None) -> None:
    """The interpreter's calls (task Lambda invocations, ``events:putEvents`` tasks) are made with these
    credentials (a session of the state machine's role), as Step Functions makes them with its role; None:
    moto's own fake key (the account's root here)."""
    _state_machine_credentials.clear()
    if credentials:
        _state_machine_credentials.update(credentials)
    with _install_lock:
        if _interpreter_patched["done"]:
            return
        _interpreter_patched["done"] = True
        import importlib

        import boto3
        from botocore.config import Config
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
        from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client

        original = moto_boto_client.boto_client_for

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            keys = dict(_state_machine_credentials)
            if not keys or state_credentials is not None:
                return original(region, service, state_credentials)
            kwargs = (
                {} if botocore_stubber.enabled else {"endpoint_url": f"http://localhost:{moto_server_port()}"}
            )
            return boto3.client(  # type: ignore[call-overload]
                service,
                region_name=region,
                aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=keys["AWS_SESSION_TOKEN"],
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                ),
                **kwargs,
            )

        for name in _INTERPRETER_MODULES:
            module = importlib.import_module(name)
            if getattr(module, "boto_client_for", None) is original:
                module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def assume(sts: Any, role_arn: str, session: str) -> dict[str, str]:
    credentials = sts.assume_role(
        RoleArn=role_arn, RoleSessionName=session[:64], DurationSeconds=SESSION_SECONDS
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
