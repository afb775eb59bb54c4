"""``o2c sql``: query the local cloud's warehouse feed with DuckDB, on the files Firehose's layout puts in S3.

The warehouse bucket's ``events/type=<detail-type>/dt=<yyyy-MM-dd>/*.parquet`` objects are copied to a
temporary directory and read with ``read_parquet(..., hive_partitioning = true)`` as the table ``events``:
the Glue table's columns plus its two partition columns, ``type`` and ``dt`` (both strings, as in Glue). No
DuckDB extension is needed (nothing is downloaded). ``--saved NAME`` runs one of the saved queries
(``shared.warehouse.SAVED_QUERIES``), the very text the stack saves as Athena named queries.

On a deployed stack, the same queries are named queries of the ``o2c-<stage>-warehouse`` Athena workgroup.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o2c_cli.targets import Target, TargetError
from shared.warehouse import COLUMNS, PARTITION_KEYS, SAVED_QUERIES_BY_NAME

_DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "bigint": "BIGINT"}


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def warehouse_bucket(target: Target) -> str:
    bucket = str(target.local_info.get("resources", {}).get("warehouse", {}).get("bucket", ""))
    if not target.is_local or not bucket:
        raise TargetError(
            "o2c sql reads the local cloud's warehouse; on a deployed stack, run the saved queries in "
            "Athena (workgroup o2c-<stage>-warehouse)"
        )
    return bucket


def download(target: Target, into: Path) -> list[str]:
    """Copy every event file of the warehouse bucket under ``into``, keeping the keys; returns the keys."""
    s3 = target.client("s3")
    bucket = warehouse_bucket(target)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(".parquet"):
                continue
            path = into / key
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))
            keys.append(key)
    return keys


def query_files(root: Path, sql: str) -> Result:
    """Run ``sql`` with ``events`` = the Parquet files under ``root/events/`` (Hive partitions)."""
    import duckdb

    con = duckdb.connect()
    try:
        if any((root / "events").glob("*/*/*.parquet")):
            pattern = (root / "events" / "*" / "*" / "*.parquet").as_posix().replace("'", "''")
            con.execute(  # a path of our own temporary directory, quoted
                "CREATE VIEW events AS SELECT * FROM read_parquet("  # noqa: S608
                f"'{pattern}', hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
            )
        else:  # no event yet: the same columns, no rows
            columns = [*COLUMNS, *PARTITION_KEYS]
            con.execute(
                "CREATE TABLE events (" + ", ".join(f"{n} {_DUCKDB_TYPES[t]}" for n, t in columns) + ")"
            )
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or []]
        return Result(names, [tuple(r) for r in cursor.fetchall()])
    finally:
        con.close()


def query(target: Target, sql: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="o2c-sql-") as tmp:
        download(target, Path(tmp))
        return query_files(Path(tmp), sql)


def saved_sql(name: str) -> str:
    if name not in SAVED_QUERIES_BY_NAME:
        raise TargetError(f"no saved query {name!r}; saved: {', '.join(SAVED_QUERIES_BY_NAME)}")
    return SAVED_QUERIES_BY_NAME[name].render("events")


def render(result: Result, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(result.records(), indent=2, default=str)
    cells = [[("" if v is None else str(v)) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)


def list_saved() -> Sequence[str]:
    return [f"{q.name}: {q.description}" for q in SAVED_QUERIES_BY_NAME.values()]
