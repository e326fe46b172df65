"""Independent Iceberg readers for Floe's interop tests: pyiceberg and DuckDB's iceberg extension.

Each command prints one JSON document on stdout. Rows are normalised to JSON-safe values (decimals and
64-bit integers as strings, dates and timestamps as ISO strings, bytes as hex) so that results from
different engines compare equal when the data is equal.
"""
import argparse
import datetime
import decimal
import json
import os
import sys
import uuid


def normalise(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return str(value)


def sort_key(row):
    return json.dumps(row, sort_keys=True)


def pyiceberg_scan(args):
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(args.metadata)
    scan = table.scan(snapshot_id=args.snapshot_id) if args.snapshot_id else table.scan()
    rows = [normalise(r) for r in scan.to_arrow().to_pylist()]
    return sorted(rows, key=sort_key)


def duckdb_connection():
    import duckdb
    import duckdb_extension_avro
    import duckdb_extension_iceberg

    con = duckdb.connect(
        config={
            "allow_unsigned_extensions": "true",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
    )
    for module, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
        folder = os.path.join(os.path.dirname(module.__file__), "extensions")
        version = sorted(os.listdir(folder))[-1]
        con.execute(f"LOAD '{os.path.join(folder, version, name + '.duckdb_extension')}'")
    return con


def duckdb_scan(args):
    con = duckdb_connection()
    options = f", snapshot_from_id => {int(args.snapshot_id)}" if args.snapshot_id else ""
    cursor = con.execute(f"select * from iceberg_scan(?{options})", [args.metadata])
    names = [d[0] for d in cursor.description]
    rows = [normalise(dict(zip(names, r))) for r in cursor.fetchall()]
    return sorted(rows, key=sort_key)


def pyiceberg_write_fixture(args):
    """Writes a small table with pyiceberg (two appends and a delete) for Floe's reader to read."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    os.makedirs(args.warehouse, exist_ok=True)
    catalog = SqlCatalog(
        "fixture", uri=f"sqlite:///{os.path.join(args.warehouse, 'catalog.db')}", warehouse=f"file://{args.warehouse}"
    )
    catalog.create_namespace("fixture")
    data = pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "name": pa.array(["ada", "bob", None, "dan"]),
            "price": pa.array([decimal.Decimal("1.50"), decimal.Decimal("2.25"), None, decimal.Decimal("9.99")], pa.decimal128(9, 2)),
            "day": pa.array([datetime.date(2024, 1, d) for d in (1, 2, 3, 4)], pa.date32()),
        }
    )
    table = catalog.create_table("fixture.items", schema=data.schema)
    table.append(data.slice(0, 2))
    table.append(data.slice(2, 2))
    table.delete("id = 2")
    table = catalog.load_table("fixture.items")
    return {"metadata": table.metadata_location, "rows": pyiceberg_scan(argparse.Namespace(metadata=table.metadata_location, snapshot_id=None))}


# ---------------------------------------------------------------------------------------------------------
# Scenarios for Floe's scan/reader tests: tables written by pyiceberg (plus delete files written with
# pyarrow and committed through pyiceberg's own snapshot producer), with pyiceberg's scan of each snapshot.


def _sql_catalog(warehouse, name):
    from pyiceberg.catalog.sql import SqlCatalog

    os.makedirs(warehouse, exist_ok=True)
    return SqlCatalog(
        name, uri=f"sqlite:///{os.path.join(warehouse, 'catalog.db')}", warehouse=f"file://{warehouse}"
    )


def _scan_rows(table, snapshot_id=None, row_filter=None):
    kwargs = {}
    if snapshot_id is not None:
        kwargs["snapshot_id"] = snapshot_id
    if row_filter is not None:
        kwargs["row_filter"] = row_filter
    rows = [normalise(r) for r in table.scan(**kwargs).to_arrow().to_pylist()]
    return sorted(rows, key=sort_key)


def _snapshots(table, with_rows=True):
    out = []
    for snapshot in table.metadata.snapshots:
        entry = {
            "snapshotId": str(snapshot.snapshot_id),
            "sequenceNumber": snapshot.sequence_number,
            "timestampMs": snapshot.timestamp_ms,
            "schemaId": snapshot.schema_id,
            "operation": str(snapshot.summary.operation.value) if snapshot.summary else None,
        }
        if with_rows:
            entry["rows"] = _scan_rows(table, snapshot.snapshot_id)
        out.append(entry)
    return out


def _pause():
    # Snapshots need distinct timestamp-ms for time travel by timestamp to be unambiguous.
    import time

    time.sleep(0.02)


def _field(name, arrow_type, field_id, nullable=True):
    import pyarrow as pa

    return pa.field(name, arrow_type, nullable=nullable, metadata={b"PARQUET:field_id": str(field_id).encode()})


def _write_parquet(table, path, arrow_table):
    import pyarrow.parquet as pq

    local = path[len("file://"):]
    os.makedirs(os.path.dirname(local), exist_ok=True)
    pq.write_table(arrow_table, local)
    return os.path.getsize(local)


def _row_delta(table, data_files=(), delete_files=()):
    """Commits data files and delete files in one snapshot with pyiceberg's snapshot producer; delete files
    go into a manifest with content=deletes (pyiceberg 0.12 writes only data manifests itself)."""
    from pyiceberg.manifest import ManifestContent, ManifestEntry, ManifestEntryStatus, ManifestWriterV2
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _FastAppendFiles

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self):
            return ManifestContent.DELETES

        @property
        def _meta(self):
            return {**super()._meta, "content": "deletes"}

    class RowDelta(_FastAppendFiles):
        def _manifests(self):
            manifests = super()._manifests()
            if delete_files:
                metadata = self._transaction.table_metadata
                writer = DeleteManifestWriter(
                    metadata.spec(), self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression
                )
                with writer:
                    for delete_file in delete_files:
                        writer.add(
                            ManifestEntry.from_args(
                                status=ManifestEntryStatus.ADDED,
                                snapshot_id=self._snapshot_id,
                                sequence_number=None,
                                file_sequence_number=None,
                                data_file=delete_file,
                            )
                        )
                manifests = manifests + [writer.to_manifest_file()]
            return manifests

    with table.transaction() as tx:
        producer = RowDelta(operation=Operation.OVERWRITE, transaction=tx, io=table.io)
        for data_file in data_files:
            producer.append_data_file(data_file)
        producer.commit()


def _data_files(table, arrow_table):
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    return list(_dataframe_to_data_files(table_metadata=table.metadata, df=arrow_table, io=table.io))


def _live_data_files(table):
    return [task.file for task in table.scan().plan_files()]


def _position_delete_file(table, partition, deletes, referenced=None):
    """A position delete file (file_path, pos) in `partition` (a pyiceberg Record) deleting `deletes`."""
    import pyarrow as pa
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    deletes = sorted(deletes)
    arrow = pa.table(
        {"file_path": [d[0] for d in deletes], "pos": [d[1] for d in deletes]},
        schema=pa.schema([_field("file_path", pa.string(), 2147483546, False), _field("pos", pa.int64(), 2147483545, False)]),
    )
    path = f"{table.metadata.location}/data/pos-deletes-{uuid.uuid4()}.parquet"
    size = _write_parquet(table, path, arrow)
    paths = [d[0] for d in deletes]
    args = dict(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=len(deletes),
        file_size_in_bytes=size,
        lower_bounds={2147483546: min(paths).encode(), 2147483545: min(d[1] for d in deletes).to_bytes(8, "little")},
        upper_bounds={2147483546: max(paths).encode(), 2147483545: max(d[1] for d in deletes).to_bytes(8, "little")},
    )
    if referenced is not None:
        args["referenced_data_file"] = referenced
    data_file = DataFile.from_args(**args)
    data_file.spec_id = table.metadata.default_spec_id
    return data_file


def _equality_delete_file(table, partition, column, field_id, arrow_type, values):
    import pyarrow as pa
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    arrow = pa.table({column: values}, schema=pa.schema([_field(column, arrow_type, field_id)]))
    path = f"{table.metadata.location}/data/eq-deletes-{uuid.uuid4()}.parquet"
    size = _write_parquet(table, path, arrow)
    data_file = DataFile.from_args(
        content=DataFileContent.EQUALITY_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=len(values),
        file_size_in_bytes=size,
        equality_ids=[field_id],
    )
    data_file.spec_id = table.metadata.default_spec_id
    return data_file


def _rows_of_file(path):
    import pyarrow.parquet as pq

    return pq.read_table(path[len("file://"):]).to_pylist()


def scenario_evolution(warehouse):
    """Appends, a tag, then add/rename/drop/promote/reorder columns and another append."""
    import pyarrow as pa
    from pyiceberg.types import LongType

    catalog = _sql_catalog(warehouse, "evolution")
    catalog.create_namespace("ns")
    utc = datetime.timezone.utc
    arrow_schema = pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("name", pa.string()),
            pa.field("price", pa.decimal128(9, 2)),
            pa.field("day", pa.date32()),
            pa.field("ts", pa.timestamp("us")),
            pa.field("tstz", pa.timestamp("us", tz="UTC")),
            pa.field("flag", pa.bool_()),
            pa.field("score", pa.float64()),
            pa.field("tiny", pa.int32()),
            pa.field("raw", pa.binary()),
        ]
    )

    def rows(ids):
        return pa.Table.from_pylist(
            [
                {
                    "id": i,
                    "name": None if i == 3 else f"n{i}",
                    "price": None if i == 2 else decimal.Decimal(f"{i}.{i:02d}"),
                    "day": datetime.date(2024, 1, i),
                    "ts": datetime.datetime(2024, 1, i, 10, 30, 0, 123456),
                    "tstz": datetime.datetime(2024, 1, i, 23, 0, tzinfo=utc),
                    "flag": i % 2 == 0,
                    "score": i * 1.5,
                    "tiny": -i,
                    "raw": bytes([i, 255]),
                }
                for i in ids
            ],
            schema=arrow_schema,
        )

    table = catalog.create_table("ns.t", schema=arrow_schema)
    table.append(rows([1, 2, 3]))
    _pause()
    table.append(rows([4, 5]))
    first = table.metadata.snapshots[0].snapshot_id
    table.manage_snapshots().create_tag(first, "first").commit()
    _pause()
    with table.update_schema() as update:
        update.add_column("extra", LongType())
        update.rename_column("name", "full_name")
        update.delete_column("flag")
        update.update_column("tiny", LongType())
        update.move_first("score")
    table = catalog.load_table("ns.t")
    new_rows = pa.Table.from_pylist(
        [
            {
                "score": 9.5,
                "id": 6,
                "full_name": "six",
                "price": decimal.Decimal("-6.50"),
                "day": datetime.date(1969, 12, 31),
                "ts": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
                "tstz": datetime.datetime(2024, 2, 1, tzinfo=utc),
                "tiny": 2**40,
                "raw": b"",
                "extra": 2**62,
            }
        ],
        schema=table.schema().as_arrow(),
    )
    table.append(new_rows)
    table = catalog.load_table("ns.t")
    return {"metadata": table.metadata_location, "snapshots": _snapshots(table), "rows": _scan_rows(table)}


PARTITION_FILTERS = {
    "category_a": "category = 'a'",
    "ts_from_jan_3": "ts >= '2024-01-03T00:00:00'",
    "id_7": "id = 7",
    "id_in_1_8": "id in (1, 8)",
    "category_starts_b": "category like 'b%'",
    "amount_gt_40": "amount > 40.0",
    "not_category_a": "not category = 'a'",
}


def scenario_partition_evolution(warehouse):
    """identity(category), then a spec with day(ts) and bucket[4](id) instead; filters per spec."""
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
    from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestampType

    catalog = _sql_catalog(warehouse, "partitions")
    catalog.create_namespace("ns")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "category", StringType(), required=False),
        NestedField(3, "ts", TimestampType(), required=False),
        NestedField(4, "amount", DoubleType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="category"))
    table = catalog.create_table("ns.t", schema=schema, partition_spec=spec)
    arrow_schema = table.schema().as_arrow()

    def rows(specs):
        return pa.Table.from_pylist(
            [
                {"id": i, "category": c, "ts": datetime.datetime(2024, 1, d, 12), "amount": i * 10.0}
                for (i, c, d) in specs
            ],
            schema=arrow_schema,
        )

    table.append(rows([(1, "a", 1), (2, "a", 2), (3, "b", 1), (4, "bb", 2), (5, "c", 3), (6, None, 3)]))
    _pause()
    with table.update_spec() as update:
        update.remove_field("category")
        update.add_field("ts", DayTransform(), "ts_day")
        update.add_field("id", BucketTransform(4), "id_bucket")
    table = catalog.load_table("ns.t")
    table.append(rows([(7, "a", 3), (8, "b", 4), (9, "c", 4), (10, "a", 5), (11, None, 5)]))
    table = catalog.load_table("ns.t")
    filters = {name: _scan_rows(table, row_filter=text) for name, text in PARTITION_FILTERS.items()}
    files = [
        {"path": f.file_path, "specId": f.spec_id, "records": f.record_count} for f in _live_data_files(table)
    ]
    return {
        "metadata": table.metadata_location,
        "snapshots": _snapshots(table),
        "rows": _scan_rows(table),
        "filters": filters,
        "files": files,
    }


def scenario_deletes(warehouse):
    """Copy-on-write delete, merge-on-read position deletes (also one in the same commit as its data file)
    and partitioned equality deletes, checking the sequence number rules."""
    import warnings

    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.typedef import Record
    from pyiceberg.types import LongType, NestedField, StringType

    catalog = _sql_catalog(warehouse, "deletes")
    catalog.create_namespace("ns")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "category", StringType(), required=False),
        NestedField(3, "value", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="category"))
    table = catalog.create_table(
        "ns.t", schema=schema, partition_spec=spec, properties={"write.delete.mode": "merge-on-read"}
    )
    arrow_schema = table.schema().as_arrow()

    def rows(specs):
        return pa.Table.from_pylist([{"id": i, "category": c, "value": f"v{i}"} for (i, c) in specs], schema=arrow_schema)

    expected = {}
    table.append(rows([(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b"), (6, "b")]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table.delete("id = 1")
    mor_warnings = [str(w.message) for w in caught if "erge" in str(w.message)]
    table = catalog.load_table("ns.t")

    # Position delete in partition a: the row at position 0 of the (rewritten) file of partition a.
    file_a = next(f for f in _live_data_files(table) if f.partition[0] == "a")
    _row_delta(table, delete_files=[_position_delete_file(table, Record("a"), [(file_a.file_path, 0)])])
    table = catalog.load_table("ns.t")
    pos_snapshot = table.metadata.current_snapshot_id
    expected["position"] = _scan_rows(table)

    # A data file and a position delete against it in the same commit: equal sequence numbers, applies.
    new_file = _data_files(table, rows([(10, "b"), (11, "b")]))[0]
    pos_in_same_commit = _position_delete_file(table, Record("b"), [(new_file.file_path, 0)], referenced=new_file.file_path)
    _row_delta(table, data_files=[new_file], delete_files=[pos_in_same_commit])
    table = catalog.load_table("ns.t")
    same_commit_snapshot = table.metadata.current_snapshot_id
    expected["sameCommit"] = _scan_rows(table)

    # Equality delete in partition b on id in (4, 3): 3 lives in partition a, so only 4 goes.
    eq = _equality_delete_file(table, Record("b"), "id", 1, pa.int64(), [4, 3])
    _row_delta(table, delete_files=[eq])
    table = catalog.load_table("ns.t")
    eq_snapshot = table.metadata.current_snapshot_id
    expected["equality"] = [r for r in expected["sameCommit"] if not (r["category"] == "b" and r["id"] in (4, 3))]

    # A later row with the deleted key: its data sequence number is not below the delete's, so it stays.
    table.append(rows([(4, "b")]))
    table = catalog.load_table("ns.t")
    expected["afterEquality"] = sorted(expected["equality"] + [{"id": 4, "category": "b", "value": "v4"}], key=sort_key)

    return {
        "metadata": table.metadata_location,
        "snapshots": _snapshots(table, with_rows=False),
        "snapshotIds": {
            "position": str(pos_snapshot),
            "sameCommit": str(same_commit_snapshot),
            "equality": str(eq_snapshot),
            "afterEquality": str(table.metadata.current_snapshot_id),
        },
        "expected": expected,
        "mergeOnReadWarnings": mor_warnings,
    }


SCENARIOS = {
    "evolution": scenario_evolution,
    "partition-evolution": scenario_partition_evolution,
    "deletes": scenario_deletes,
}


def pyiceberg_write_scenario(args):
    return SCENARIOS[args.scenario](args.warehouse)


# ---------------------------------------------------------------------------------------------------------
# Floe's REST catalog (`floe serve`) driven by independent clients: pyiceberg's RestCatalog and DuckDB's
# iceberg extension attached to the catalog.


def _rest_catalog_properties(args):
    """pyiceberg RestCatalog properties: OAuth2 client credentials (`--credential ID:SECRET`, fetched from
    the spec's token endpoint) or SigV4 signing (`--sigv4 ID:SECRET`, service s3tables), or neither."""
    properties = {"type": "rest", "uri": args.uri, "warehouse": args.warehouse}
    if args.credential:
        properties.update({"credential": args.credential, "oauth2-server-uri": args.uri + "/v1/oauth/tokens"})
    if args.sigv4:
        key, secret = args.sigv4.split(":", 1)
        properties.update(
            {
                "rest.sigv4-enabled": "true",
                "rest.signing-name": "s3tables",
                "rest.signing-region": "us-east-1",
                "client.region": "us-east-1",
                "client.access-key-id": key,
                "client.secret-access-key": secret,
            }
        )
    return properties


def pyiceberg_rest(args):
    """Namespaces, create, append, schema evolution, a staged create (transaction), rename and drop
    through pyiceberg's RestCatalog against `args.uri`; returns what pyiceberg sees at each step."""
    import pyarrow as pa
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
    from pyiceberg.types import DoubleType

    catalog = load_catalog("floe", **_rest_catalog_properties(args))
    catalog.create_namespace("interop", {"owner": "pyiceberg"})
    catalog.create_namespace(("interop", "nested"))
    arrow_schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
    table = catalog.create_table("interop.events", schema=arrow_schema)
    try:
        catalog.create_table("interop.events", schema=arrow_schema)
        duplicate = "created"
    except TableAlreadyExistsError:
        duplicate = "TableAlreadyExistsError"
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]}, schema=arrow_schema))
    # A writer holding this metadata loses after the schema change below: assert-current-schema-id fails.
    stale = catalog.load_table("interop.events")
    with table.update_schema() as update:
        update.add_column("score", DoubleType())
    table = catalog.load_table("interop.events")
    table.append(
        pa.Table.from_pylist(
            [{"id": 4, "name": "d", "score": 4.5}, {"id": 5, "name": None, "score": None}],
            schema=table.schema().as_arrow(),
        )
    )
    with table.transaction() as tx:
        tx.set_properties(touched="by-pyiceberg")
    try:
        with stale.update_schema() as update:
            update.add_column("late", DoubleType())
        stale_result = "committed"
    except CommitFailedException:
        stale_result = "CommitFailedException"
    table = catalog.load_table("interop.events")

    tx = catalog.create_table_transaction("interop.staged", schema=arrow_schema, properties={"staged": "true"})
    tx.append(pa.table({"id": pa.array([10], pa.int64()), "name": ["x"]}, schema=arrow_schema))
    staged = tx.commit_transaction()
    staged_rows = _scan_rows(catalog.load_table("interop.staged"))
    catalog.rename_table("interop.staged", "interop.renamed")
    tables_before_drop = sorted(".".join(t) for t in catalog.list_tables("interop"))
    catalog.drop_table("interop.renamed")
    try:
        catalog.load_table("interop.renamed")
        dropped = "still there"
    except NoSuchTableError:
        dropped = "NoSuchTableError"

    return {
        "namespaces": sorted(".".join(n) for n in catalog.list_namespaces()),
        "children": sorted(".".join(n) for n in catalog.list_namespaces("interop")),
        "namespaceProperties": catalog.load_namespace_properties("interop"),
        "duplicateCreate": duplicate,
        "staleCommit": stale_result,
        "metadataLocation": table.metadata_location,
        "schema": [f.name for f in table.schema().fields],
        "properties": dict(table.properties),
        "snapshots": len(table.metadata.snapshots),
        "rows": _scan_rows(table),
        "stagedLocation": staged.metadata_location,
        "stagedRows": staged_rows,
        "tablesBeforeDrop": tables_before_drop,
        "dropped": dropped,
        "tableExists": catalog.table_exists("interop.events"),
    }


def duckdb_rest_scan(args):
    """ATTACHes the REST catalog in DuckDB's iceberg extension and selects every row of one table. The
    extension talks to the catalog through httpfs: without the duckdb-extension-httpfs wheel this answers
    {"skipped": reason}."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        return {"skipped": "duckdb-extension-httpfs is not installed (test/interop/requirements.txt)"}
    con = duckdb_connection()
    folder = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions")
    version = sorted(os.listdir(folder))[-1]
    con.execute(f"LOAD '{os.path.join(folder, version, 'httpfs.duckdb_extension')}'")
    if args.credential:
        # OAuth2 client credentials at the spec's token endpoint; DuckDB sends the bearer token.
        client_id, client_secret = args.credential.split(":", 1)
        con.execute(
            f"ATTACH '{args.warehouse}' AS floe (TYPE iceberg, ENDPOINT '{args.uri}', AUTHORIZATION_TYPE 'oauth2', "
            f"CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}', OAUTH2_SERVER_URI '{args.uri}/v1/oauth/tokens')"
        )
    elif args.sigv4:
        # SigV4 with an S3 secret: the extension reads the service and region from the endpoint's host name
        # (s3tables.<region>.…), so the caller passes an endpoint like http://s3tables.us-east-1.localhost:PORT.
        key, secret = args.sigv4.split(":", 1)
        con.execute(f"CREATE SECRET floe_sigv4 (TYPE s3, KEY_ID '{key}', SECRET '{secret}', REGION 'us-east-1')")
        con.execute(
            f"ATTACH '{args.warehouse}' AS floe (TYPE iceberg, ENDPOINT '{args.uri}', AUTHORIZATION_TYPE 'sigv4', "
            "SECRET floe_sigv4)"
        )
    else:
        con.execute(
            f"ATTACH '{args.warehouse}' AS floe (TYPE iceberg, ENDPOINT '{args.uri}', AUTHORIZATION_TYPE 'none')"
        )
    cursor = con.execute(f"select * from floe.{args.table}")
    names = [d[0] for d in cursor.description]
    rows = [normalise(dict(zip(names, r))) for r in cursor.fetchall()]
    return sorted(rows, key=sort_key)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("pyiceberg-scan", "duckdb-scan"):
        p = sub.add_parser(name)
        p.add_argument("metadata")
        p.add_argument("--snapshot-id", type=int)
    w = sub.add_parser("pyiceberg-write-fixture")
    w.add_argument("warehouse")
    sc = sub.add_parser("pyiceberg-write-scenario")
    sc.add_argument("warehouse")
    sc.add_argument("scenario", choices=sorted(SCENARIOS))
    for name in ("pyiceberg-rest", "duckdb-rest-scan"):
        r = sub.add_parser(name)
        r.add_argument("uri")
        r.add_argument("warehouse")
        r.add_argument("--table", default="interop.events")
        r.add_argument("--credential", help="OAuth2 client credentials ID:SECRET")
        r.add_argument("--sigv4", help="sign requests with SigV4 using the access key ID:SECRET")
    args = parser.parse_args()
    commands = {"pyiceberg-rest": pyiceberg_rest, "duckdb-rest-scan": duckdb_rest_scan, "pyiceberg-scan": pyiceberg_scan, "duckdb-scan": duckdb_scan, "pyiceberg-write-fixture": pyiceberg_write_fixture,
        "pyiceberg-write-scenario": pyiceberg_write_scenario,
    }
    json.dump(commands[args.command](args), sys.stdout)


if __name__ == "__main__":
    main()
