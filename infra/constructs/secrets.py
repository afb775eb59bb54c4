"""Secrets Manager secrets (topology.SECRETS). The operator provisions their values after deploy."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge
from infra.topology import SECRETS

#: Deployed value until the operator puts the provider's signing secrets in: the hub accepts none.
PLACEHOLDER_VALUE = '{"secrets": []}'


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for spec in SECRETS:
            secret = secretsmanager.Secret(
                self,
                spec.id,
                description=spec.description,
                # Not a secret: an empty list the operator replaces (CloudFormation leaves it alone after).
                secret_string_value=SecretValue.unsafe_plain_text(PLACEHOLDER_VALUE),
                removal_policy=RemovalPolicy.RETAIN,
            )
            acknowledge(
                secret,
                "SMG4",
                "Webhook signing secrets are issued and rolled in the provider's dashboard, not by a "
                "rotation Lambda; the hub accepts several secrets at once while a roll is in progress.",
            )
            self.secrets[spec.id] = secret
