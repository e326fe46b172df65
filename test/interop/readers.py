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


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("pyiceberg-scan", "duckdb-scan"):
        p = sub.add_parser(name)
        p.add_argument("metadata")
        p.add_argument("--snapshot-id", type=int)
    w = sub.add_parser("pyiceberg-write-fixture")
    w.add_argument("warehouse")
    args = parser.parse_args()
    commands = {"pyiceberg-scan": pyiceberg_scan, "duckdb-scan": duckdb_scan, "pyiceberg-write-fixture": pyiceberg_write_fixture}
    json.dump(commands[args.command](args), sys.stdout)


if __name__ == "__main__":
    main()
