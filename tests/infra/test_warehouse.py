"""The warehouse feed in the template: rule → Firehose (projection, JQ partitioning, Parquet through the Glue
table) → the warehouse bucket; the Glue database and table; the Athena workgroup and its saved queries."""

from __future__ import annotations

from typing import Any

import pytest

from infra.topology import WAREHOUSE, warehouse_database_name
from shared.events.catalog import EVENT_TYPES
from shared.warehouse import COLUMNS, SAVED_QUERIES
from tests.infra.conftest import STAGE
from tests.infra.helpers import hub_bus_id, resources_of, role_statements

pytestmark = pytest.mark.infra


def _one(template_json: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    [(logical, resource)] = resources_of(template_json, kind).items()
    return logical, resource["Properties"]


def _destination(template_json: dict[str, Any]) -> dict[str, Any]:
    _, stream = _one(template_json, "AWS::KinesisFirehose::DeliveryStream")
    return dict(stream["ExtendedS3DestinationConfiguration"])


def _warehouse_bucket(template_json: dict[str, Any]) -> str:
    [logical] = [k for k in resources_of(template_json, "AWS::S3::Bucket") if k.startswith("Warehouse")]
    return logical


def test_delivery_stream_partitions_by_type_and_day_into_the_warehouse_bucket(
    template_json: dict[str, Any],
) -> None:
    _, stream = _one(template_json, "AWS::KinesisFirehose::DeliveryStream")
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    dest = _destination(template_json)
    assert dest["BucketARN"] == {"Fn::GetAtt": [_warehouse_bucket(template_json), "Arn"]}
    assert dest["Prefix"] == "events/type=!{partitionKeyFromQuery:type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert dest["FileExtension"] == ".parquet"
    assert dest["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    # dynamic partitioning refuses buffers under 64 MB
    assert dest["BufferingHints"]["SizeInMBs"] >= 64
    processors = {
        p["Type"]: {q["ParameterName"]: q["ParameterValue"] for q in p["Parameters"]}
        for p in dest["ProcessingConfiguration"]["Processors"]
    }
    assert processors["MetadataExtraction"] == {
        "MetadataExtractionQuery": "{type: .type}",
        "JsonParsingEngine": "JQ-1.6",
    }
    [(projection, function)] = [
        (k, v["Properties"])
        for k, v in resources_of(template_json, "AWS::Lambda::Function").items()
        if k.startswith("WarehouseProjection")
    ]
    assert processors["Lambda"]["LambdaArn"] == {"Fn::GetAtt": [projection, "Arn"]}
    # the stage's privacy setting reaches the projection: personal data off unless cdk.json says so
    assert function["Environment"]["Variables"] == {WAREHOUSE.personal_data_env_var: "false"}


def test_records_become_snappy_parquet_through_the_glue_table(template_json: dict[str, Any]) -> None:
    conversion = _destination(template_json)["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["OutputFormatConfiguration"]["Serializer"] == {
        "ParquetSerDe": {"Compression": "SNAPPY"}
    }
    assert "HiveJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    schema = conversion["SchemaConfiguration"]
    assert schema["DatabaseName"] == warehouse_database_name(STAGE)
    assert schema["TableName"] == "events"
    # Firehose refuses a compression of its own on top of a format conversion
    assert _destination(template_json)["CompressionFormat"] == "UNCOMPRESSED"


def test_glue_table_has_the_envelope_columns_and_projected_partitions(template_json: dict[str, Any]) -> None:
    _, database = _one(template_json, "AWS::Glue::Database")
    assert database["DatabaseInput"]["Name"] == "o2c_test"
    _, table = _one(template_json, "AWS::Glue::Table")
    assert table["DatabaseName"] == "o2c_test"
    table_input = table["TableInput"]
    assert table_input["Name"] == "events"
    columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
    assert columns == list(COLUMNS)
    assert {"event_id", "occurred_at", "opportunity_id", "amount", "currency", "reason"} <= {
        n for n, _ in columns
    }
    assert not {"email", "name", "card"} & {n for n, _ in columns}
    assert [(c["Name"], c["Type"]) for c in table_input["PartitionKeys"]] == [
        ("type", "string"),
        ("dt", "string"),
    ]
    assert table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    assert set(params["projection.type.values"].split(",")) == set(EVENT_TYPES)
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert "type=${type}/dt=${dt}/" in str(params["storage.location.template"])


def test_every_canonical_event_of_the_bus_goes_to_the_stream_with_a_dlq(
    template_json: dict[str, Any],
) -> None:
    stream_id, _ = _one(template_json, "AWS::KinesisFirehose::DeliveryStream")
    [rule] = [
        r["Properties"]
        for r in resources_of(template_json, "AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    ]
    assert rule["EventBusName"] == {"Ref": hub_bus_id(template_json)}
    assert rule["EventPattern"] == WAREHOUSE.pattern
    [target] = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"] and target["RetryPolicy"]
    role = target["RoleArn"]["Fn::GetAtt"][0]
    actions = {a for s in role_statements(template_json, role) for a in s["Action"]}
    assert actions == {"firehose:PutRecord", "firehose:PutRecordBatch"}


def test_warehouse_bucket_is_private_encrypted_and_expires_its_files(template_json: dict[str, Any]) -> None:
    bucket = template_json["Resources"][_warehouse_bucket(template_json)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [sse] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["EventFiles"]["ExpirationInDays"] == WAREHOUSE.expiry_days
    assert rules["EventFiles"]["Prefix"] == "events/"


def test_saved_queries_are_named_queries_of_the_workgroup(template_json: dict[str, Any]) -> None:
    workgroup_id, workgroup = _one(template_json, "AWS::Athena::WorkGroup")
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in resources_of(template_json, "AWS::Athena::NamedQuery").values()
    }
    assert set(queries) == {
        "time-to-cash-by-month",
        "refunds-by-reason",
        "failures-by-provider",
        "reconciliation-exceptions",
    }
    for saved in SAVED_QUERIES:
        named = queries[saved.name]
        assert named["Database"] == "o2c_test"
        assert named["WorkGroup"] == {"Ref": workgroup_id}
        assert named["QueryString"] == saved.render('"o2c_test"."events"')
        assert "{events}" not in named["QueryString"]
