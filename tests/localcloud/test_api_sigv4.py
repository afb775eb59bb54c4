"""The local /v1 API for IAM callers (``localcloud.api_sigv4``) verifies SigV4 as API Gateway does: requests
signed by botocore with an IAM user's or a role session's key pass; unsigned, a wrong secret, a changed body,
an unknown key or a stale date are 403; a valid signature is then authorized against the caller's policies
(``execute-api:Invoke`` on the method's ARN)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from localcloud.api_auth import AuthFailure
from localcloud.api_sigv4 import LocalSigV4

ACCOUNT, REGION, API, STAGE = "123456789012", "us-east-1", "o2ciam0000", "local"
HOST = "127.0.0.1:4010"


def invoke_policy(*methods: str) -> str:
    arns = [f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API}/{STAGE}/{m}" for m in methods]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arns}],
        }
    )


@pytest.fixture(scope="module")
def keys() -> Iterator[dict[str, Credentials]]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        out = {}
        for user, policy in (
            ("reader", invoke_policy("GET/v1/*")),
            ("refunder", invoke_policy("GET/v1/*", "POST/v1/refunds")),
        ):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="api", PolicyDocument=policy)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            out[user] = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        role = iam.create_role(
            RoleName="billing-service",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        iam.put_role_policy(
            RoleName="billing-service", PolicyName="api", PolicyDocument=invoke_policy("POST/v1/refunds")
        )
        session = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=role["Arn"], RoleSessionName="billing"
        )["Credentials"]
        out["role"] = Credentials(session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
        yield out


def signed(
    credentials: Credentials, method: str, target: str, body: bytes = b"", *, at: float | None = None
) -> list[tuple[str, str]]:
    """The headers botocore's signer gives the request (as ``awscurl`` or a service's SDK would send it)."""
    request = AWSRequest(method=method, url=f"http://{HOST}{target}", data=body, headers={"Host": HOST})
    if body:
        request.headers["Content-Type"] = "application/json"
    signer = SigV4Auth(credentials, "execute-api", REGION)
    if at is None:
        signer.add_auth(request)
    else:  # signed at another time: botocore reads its clock through get_current_datetime
        with mock.patch("botocore.auth.get_current_datetime", return_value=datetime.fromtimestamp(at, UTC)):
            signer.add_auth(request)
    return list(request.headers.items())


def refused(
    gateway: LocalSigV4, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> str:
    with pytest.raises(AuthFailure) as caught:
        gateway.authorize(method, target, headers, body)
    assert caught.value.status == 403
    return caught.value.message


@pytest.fixture
def gateway(keys: dict[str, Credentials]) -> LocalSigV4:
    """Reads the IAM users and sessions of the module's moto (moto's backends are the process's)."""
    return LocalSigV4(account_id=ACCOUNT, region=REGION, api_id=API, stage=STAGE)


def test_a_signed_request_is_authorized_against_the_callers_policy(
    gateway: LocalSigV4, keys: dict[str, Credentials]
) -> None:
    body = b'{"paymentIntentId":"pi_1","amount":"5.00"}'
    identity = gateway.authorize(
        "GET", "/v1/orders/ord_1?x=1", signed(keys["reader"], "GET", "/v1/orders/ord_1?x=1"), b""
    )
    assert identity["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/reader"
    # the reader may only GET: its POST of a refund is refused by IAM, with IAM's message
    message = refused(
        gateway, "POST", "/v1/refunds", signed(keys["reader"], "POST", "/v1/refunds", body), body
    )
    assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: ")
    assert (
        f"execute-api:Invoke on resource: arn:aws:execute-api:{REGION}:{ACCOUNT}:{API}/{STAGE}/POST/v1/refunds"
        in message
    )
    assert gateway.authorize(
        "POST", "/v1/refunds", signed(keys["refunder"], "POST", "/v1/refunds", body), body
    )["userArn"].endswith(":user/refunder")
    # a role's session (a Lambda's, a job's) signs with its session token
    role = gateway.authorize("POST", "/v1/refunds", signed(keys["role"], "POST", "/v1/refunds", body), body)
    assert role["userArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/billing-service/billing"


def test_unsigned_forged_or_stale_requests_are_403(gateway: LocalSigV4, keys: dict[str, Credentials]) -> None:
    body = b'{"paymentIntentId":"pi_1"}'
    good = signed(keys["refunder"], "POST", "/v1/refunds", body)
    assert gateway.authorize("POST", "/v1/refunds", good, body)
    assert refused(gateway, "POST", "/v1/refunds", [("Host", HOST)], body) == "Missing Authentication Token"
    # the body is not the one signed; the path is not the one signed
    assert "signature we calculated does not match" in refused(gateway, "POST", "/v1/refunds", good, b"{}")
    assert "does not match" in refused(gateway, "POST", "/v1/customers", good, body)
    # the right key id with the wrong secret
    forged = Credentials(keys["refunder"].access_key, "not-the-secret")
    assert "does not match" in refused(
        gateway, "POST", "/v1/refunds", signed(forged, "POST", "/v1/refunds", body), body
    )
    # a key IAM does not know
    unknown = Credentials("AKIAUNKNOWN000000000", "whatever")
    assert refused(gateway, "POST", "/v1/refunds", signed(unknown, "POST", "/v1/refunds", body), body) == (
        "The security token included in the request is invalid."
    )
    # signed 20 minutes ago: API Gateway accepts 15 minutes of skew
    stale = signed(keys["refunder"], "POST", "/v1/refunds", body, at=time.time() - 20 * 60)
    assert refused(gateway, "POST", "/v1/refunds", stale, body).startswith("Signature expired: ")
    recent = signed(keys["refunder"], "POST", "/v1/refunds", body, at=time.time() - 5 * 60)
    assert gateway.authorize("POST", "/v1/refunds", recent, body)
    # a signature for another service
    other = AWSRequest(method="POST", url=f"http://{HOST}/v1/refunds", data=body, headers={"Host": HOST})
    SigV4Auth(keys["refunder"], "lambda", REGION).add_auth(other)
    assert "execute-api" in refused(gateway, "POST", "/v1/refunds", list(other.headers.items()), body)
