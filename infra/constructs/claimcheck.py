"""The claim-check bucket (topology.CLAIM_CHECK_BUCKET): the data of events too large for PutEvents."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge
from infra.topology import CLAIM_CHECK_BUCKET


class ClaimCheckBucket(Construct):
    """Private, encrypted, TLS-only; objects expire after ``CLAIM_CHECK_BUCKET.expiry_days``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireClaimChecks",
                    expiration=Duration.days(CLAIM_CHECK_BUCKET.expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Events still in flight may point at its objects: keep it when the stack goes.
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "S1",
            "Claim checks are written and read only by the hub's own functions under their roles; each object "
            "is keyed by the event id in the event that references it, and the bus archive records every event.",
        )
