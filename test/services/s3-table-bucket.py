"""Independent clients of a `floe serve` table bucket stored in S3 (test/services/s3-table-bucket.test.ts).

pyiceberg's RestCatalog and DuckDB's iceberg extension get no S3 settings from this script: every S3
endpoint, region and key they use is what the server vends in loadTable's `config` /
`storage-credentials`. Each command prints one JSON document on stdout.
"""
import argparse
import json
import os
import sys

# The shared normalisation and DuckDB loading of the interop readers.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "interop"))
from readers import duckdb_connection, normalise, sort_key  # noqa: E402


def _catalog(args):
    from pyiceberg.catalog import load_catalog

    return load_catalog(
        "floe",
        type="rest",
        uri=args.uri,
        warehouse=args.warehouse,
        credential=args.credential,
        **{"oauth2-server-uri": args.uri + "/v1/oauth/tokens"},
    )


def _rows(table):
    return sorted((normalise(r) for r in table.scan().to_arrow().to_pylist()), key=sort_key)


def write(args):
    """Appends two batches to the table (created through the S3 Tables API) around a schema change."""
    import pyarrow as pa
    from pyiceberg.types import StringType

    catalog = _catalog(args)
    table = catalog.load_table(args.table)
    # What pyiceberg's FileIO was configured with, by name only: the values came from the server.
    vended = sorted(k for k in table.io.properties if k.startswith("s3."))
    table.append(
        pa.table(
            {"id": pa.array([1, 2, 3], pa.int64()), "status": ["new", "paid", None]},
            schema=table.schema().as_arrow(),
        )
    )
    with table.update_schema() as update:
        update.add_column("note", StringType())
    table = catalog.load_table(args.table)
    table.append(
        pa.Table.from_pylist(
            [{"id": 4, "status": "paid", "note": "gift"}, {"id": 5, "status": None, "note": None}],
            schema=table.schema().as_arrow(),
        )
    )
    table = catalog.load_table(args.table)
    return {
        "vendedKeys": vended,
        "metadataLocation": table.metadata_location,
        "location": table.location(),
        "snapshots": len(table.metadata.snapshots),
        "schema": [f.name for f in table.schema().fields],
    }


def read(args):
    """Every row of the table through pyiceberg and through DuckDB's iceberg extension (ATTACH)."""
    import duckdb_extension_httpfs

    table = _catalog(args).load_table(args.table)
    con = duckdb_connection()
    folder = os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__), "extensions")
    version = sorted(os.listdir(folder))[-1]
    con.execute(f"LOAD '{os.path.join(folder, version, 'httpfs.duckdb_extension')}'")
    client_id, client_secret = args.credential.split(":", 1)
    con.execute(
        f"ATTACH '{args.warehouse}' AS floe (TYPE iceberg, ENDPOINT '{args.uri}', AUTHORIZATION_TYPE 'oauth2', "
        f"CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}', OAUTH2_SERVER_URI '{args.uri}/v1/oauth/tokens')"
    )
    cursor = con.execute(f"select * from floe.{args.table}")
    names = [d[0] for d in cursor.description]
    duck = sorted((normalise(dict(zip(names, r))) for r in cursor.fetchall()), key=sort_key)
    return {"pyiceberg": _rows(table), "duckdb": duck}


def purge(args):
    """Drops the table with purgeRequested=true."""
    _catalog(args).purge_table(args.table)
    return {"purged": args.table}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["write", "read", "purge"])
    parser.add_argument("uri")
    parser.add_argument("warehouse")
    parser.add_argument("--table", required=True)
    parser.add_argument("--credential", required=True, help="OAuth2 client credentials ID:SECRET")
    args = parser.parse_args()
    json.dump({"write": write, "read": read, "purge": purge}[args.command](args), sys.stdout)


if __name__ == "__main__":
    main()
