"""cdk-nag (v3) acknowledgements, always scoped to the construct that causes the finding."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

MIN_REASON_LENGTH = 20


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (``"IAM5[Resource::*]"``) on ``scope`` and its children."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"reason for AwsSolutions-{rule} is too short to be a reason: {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))
