"""The warehouse feed (topology.WAREHOUSE): every canonical event on the bus → Firehose → Parquet in S3, with a
Glue table and an Athena workgroup holding the saved queries (``shared.warehouse.SAVED_QUERIES``).

- A rule on the hub's bus targets a Kinesis Data Firehose delivery stream (DirectPut) with a DLQ and retries,
  like every other rule of the hub.
- The stream's transformation Lambda (``functions/warehouse_projection``) projects each event into a flat row
  (``shared.warehouse.project``: no card data; personal data only with ``warehousePersonalData``); a JQ
  metadata extraction reads the row's ``type`` for dynamic partitioning; record format conversion writes
  Parquet (Snappy) through the Glue table; the prefix is ``events/type=.../dt=<delivery day>/``, records
  that fail go under ``errors/``.
- The Glue table uses partition projection (``type`` an enum of the catalog's event types, ``dt`` a date),
  so Athena finds new partitions without crawlers or ``MSCK REPAIR``.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.layer import REPO_ROOT, acknowledge_runtime, architecture, runtime
from infra.constructs.routing import DLQ_RETENTION, event_pattern
from infra.iam import (
    FIREHOSE_GLUE_ACTIONS,
    FIREHOSE_LAMBDA_ACTIONS,
    FIREHOSE_PUT_ACTIONS,
    FIREHOSE_S3_ACTIONS,
    LOG_WRITE,
)
from infra.nag import acknowledge
from infra.topology import WAREHOUSE, warehouse_database_name, warehouse_workgroup_name
from shared.events.catalog import EVENT_TYPES
from shared.warehouse import (
    COLUMNS,
    ERROR_PREFIX,
    PARTITION_KEYS,
    PREFIX,
    SAVED_QUERIES,
    TABLE_NAME,
    TYPE_FIELD,
)

PROJECTION_DESCRIPTION = (
    "Warehouse feed: projects each canonical event to a row without card or personal data"
)


@jsii.implements(events.IRuleTarget)
class _DeliveryStreamTarget:
    """A rule target that puts events into a delivery stream, with the hub's retry policy and a DLQ."""

    def __init__(self, arn: str, role: iam.IRole, dlq: sqs.IQueue, config: StageConfig) -> None:
        self._arn, self._role, self._dlq, self._config = arn, role, dlq, config

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._arn,
            role=self._role,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dlq.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self._config.event_retry_attempts,
                maximum_event_age_in_seconds=self._config.event_max_age_hours * 3600,
            ),
        )


class Warehouse(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        bus: events.IEventBus,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="EventFiles",
                    prefix="events/",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(WAREHOUSE.infrequent_access_after_days),
                        )
                    ],
                    expiration=Duration.days(WAREHOUSE.expiry_days),
                ),
                s3.LifecycleRule(
                    id="DeliveryErrors",
                    prefix="errors/",
                    expiration=Duration.days(WAREHOUSE.error_expiry_days),
                ),
                s3.LifecycleRule(
                    id="QueryResults",
                    prefix=WAREHOUSE.results_prefix,
                    expiration=Duration.days(WAREHOUSE.results_expiry_days),
                ),
                s3.LifecycleRule(id="Uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            # the event history is the books' evidence: kept when the stack goes
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "S1",
            "Only the delivery stream writes the warehouse bucket and Athena reads it; CloudTrail data events "
            "are the place for object-level audit, not server access logs into another bucket.",
        )

        # --- Glue catalog -------------------------------------------------------------------------------
        self.database_name = warehouse_database_name(config.stage)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"O2C Hub {config.stage}: canonical events"
            ),
        )
        location = f"s3://{self.bucket.bucket_name}/events/"
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                description="Every canonical event of the hub's bus, one row each (shared/warehouse.py)",
                table_type="EXTERNAL_TABLE",
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS],
                parameters={
                    "classification": "parquet",
                    "parquet.compression": "SNAPPY",
                    "projection.enabled": "true",
                    "projection.type.type": "enum",
                    "projection.type.values": ",".join(sorted(EVENT_TYPES)),
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy-MM-dd",
                    "projection.dt.range": f"{WAREHOUSE.first_day},NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "DAYS",
                    "storage.location.template": location + "type=${type}/dt=${dt}/",
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in COLUMNS],
                    location=location,
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        parameters={"serialization.format": "1"},
                    ),
                    compressed=True,
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        # --- the projection (Firehose transformation Lambda) ------------------------------------------------
        acknowledge_runtime(self)
        projection_logs = logs.LogGroup(self, "ProjectionLogs", retention=config.log_retention)
        projection_role = iam.Role(
            self,
            "ProjectionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Warehouse projection: its log group only",
        )
        projection_role.add_to_policy(
            iam.PolicyStatement(actions=list(LOG_WRITE), resources=[projection_logs.log_group_arn])
        )
        self.projection = lambda_.Function(
            self,
            "Projection",
            description=PROJECTION_DESCRIPTION,
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "functions" / "warehouse_projection"), exclude=["__pycache__", "*.pyc"]
            ),
            handler="handler.lambda_handler",
            runtime=runtime(),
            architecture=architecture(),
            # Firehose invokes it with up to 3 MB of records and waits at most 5 minutes
            memory_size=512,
            timeout=Duration.seconds(60),
            layers=[layer],
            environment={
                WAREHOUSE.personal_data_env_var: "true" if config.warehouse_personal_data else "false"
            },
            log_group=projection_logs,
            role=projection_role,
        )

        # --- the delivery stream ---------------------------------------------------------------------------
        delivery_logs = logs.LogGroup(self, "DeliveryLogs", retention=config.log_retention)
        delivery_log_stream = logs.LogStream(self, "DeliveryLogStream", log_group=delivery_logs)
        delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description="Warehouse delivery stream: the warehouse bucket, its Glue table, the projection",
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(FIREHOSE_S3_ACTIONS),
                resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects("*")],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(FIREHOSE_GLUE_ACTIONS),
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
                    stack.format_arn(
                        service="glue", resource="table", resource_name=f"{self.database_name}/{TABLE_NAME}"
                    ),
                ],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(FIREHOSE_LAMBDA_ACTIONS),
                resources=[self.projection.function_arn, f"{self.projection.function_arn}:*"],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(actions=list(LOG_WRITE), resources=[delivery_logs.log_group_arn])
        )
        bucket_id = stack.resolve(stack.get_logical_id(self.bucket.node.default_child))  # type: ignore[arg-type]
        projection_id = stack.resolve(stack.get_logical_id(self.projection.node.default_child))  # type: ignore[arg-type]
        for resource in (f"<{bucket_id}.Arn>/*", f"<{projection_id}.Arn>:*"):
            acknowledge(
                delivery_role,
                f"IAM5[Resource::{resource}]",
                "Firehose names its objects at delivery time (type/day partitions) and invokes the "
                "projection's current version: object- and version-level wildcards on one bucket and one function.",
            )

        def param(name: str, value: str) -> firehose.CfnDeliveryStream.ProcessorParameterProperty:
            return firehose.CfnDeliveryStream.ProcessorParameterProperty(
                parameter_name=name, parameter_value=value
            )

        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                    key_type="AWS_OWNED_CMK"
                )
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=delivery_role.role_arn,
                prefix=PREFIX,
                error_output_prefix=ERROR_PREFIX,
                file_extension=".parquet",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=WAREHOUSE.buffer_interval_s, size_in_m_bs=WAREHOUSE.buffer_size_mb
                ),
                # Parquet compresses its own pages (Snappy); Firehose's file compression must stay off with it
                compression_format="UNCOMPRESSED",
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(
                        duration_in_seconds=WAREHOUSE.retry_duration_s
                    ),
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                param("LambdaArn", self.projection.function_arn),
                                param("NumberOfRetries", "3"),
                                param("BufferSizeInMBs", "1"),
                                param("BufferIntervalInSeconds", "60"),
                            ],
                        ),
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="MetadataExtraction",
                            parameters=[
                                param("MetadataExtractionQuery", f"{{{TYPE_FIELD}: .{TYPE_FIELD}}}"),
                                param("JsonParsingEngine", "JQ-1.6"),
                            ],
                        ),
                    ],
                ),
                data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                        deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                            # Hive's JSON SerDe reads occurred_at as written: yyyy-MM-dd HH:mm:ss.ffffff
                            hive_json_ser_de=firehose.CfnDeliveryStream.HiveJsonSerDeProperty()
                        )
                    ),
                    output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                        serializer=firehose.CfnDeliveryStream.SerializerProperty(
                            parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(
                                compression="SNAPPY"
                            )
                        )
                    ),
                    schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                        catalog_id=Aws.ACCOUNT_ID,
                        database_name=self.database_name,
                        table_name=TABLE_NAME,
                        region=Aws.REGION,
                        role_arn=delivery_role.role_arn,
                        version_id="LATEST",
                    ),
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=delivery_logs.log_group_name,
                    log_stream_name=delivery_log_stream.log_stream_name,
                ),
                s3_backup_mode="Disabled",
            ),
        )
        self.delivery_stream.node.add_dependency(self.table)
        # The role's policy must exist before Firehose validates its destination.
        self.delivery_stream.node.add_dependency(delivery_role)

        # --- the rule: every canonical event → the stream ---------------------------------------------------
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(
            self.dlq,
            "SQS3",
            "This queue is the warehouse rule target's dead-letter queue (EventBridge DeadLetterConfig), not a "
            "work queue: events the rule could not put into the delivery stream wait here for a redrive.",
        )
        put_role = iam.Role(
            self,
            "PutRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Warehouse rule: puts the bus's events into the delivery stream",
        )
        put_role.add_to_policy(
            iam.PolicyStatement(actions=list(FIREHOSE_PUT_ACTIONS), resources=[self.delivery_stream.attr_arn])
        )
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="Canonical events for the warehouse",
            event_pattern=event_pattern(WAREHOUSE.pattern),
        )
        self.rule.add_target(_DeliveryStreamTarget(self.delivery_stream.attr_arn, put_role, self.dlq, config))
        self.dlq.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                resources=[self.dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.rule.rule_arn}},
            )
        )

        # --- Athena: a workgroup and the saved queries ------------------------------------------------------
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=warehouse_workgroup_name(config.stage),
            description=f"O2C Hub {config.stage}: queries on the warehouse feed",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{WAREHOUSE.results_prefix}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        events_table = f'"{self.database_name}"."{TABLE_NAME}"'
        for query in SAVED_QUERIES:
            named = athena.CfnNamedQuery(
                self,
                "Query" + "".join(part.title() for part in query.name.split("-")),
                database=self.database_name,
                name=query.name,
                description=query.description,
                query_string=query.render(events_table),
                work_group=self.workgroup.ref,
            )
            named.node.add_dependency(self.workgroup)
            self.named_queries[query.name] = named

    @property
    def outputs(self) -> dict[str, Any]:
        return {
            "WarehouseBucketName": self.bucket.bucket_name,
            "WarehouseDatabaseName": self.database_name,
            "WarehouseWorkGroupName": self.workgroup.ref,
            "WarehouseDeliveryStreamName": self.delivery_stream.ref,
        }
