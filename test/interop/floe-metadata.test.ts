// Floe's metadata, manifests and manifest lists are read by the independent readers: a table written
// through Floe's catalog and operations (appends, an overwrite, a tag) reads back in pyiceberg and in
// DuckDB's iceberg extension with exactly the expected rows, including time travel to the first snapshot.
// The Parquet files here are produced by DuckDB directly, so the test isolates Floe's metadata layer.
import assert from "node:assert/strict";
import { mkdirSync, statSync } from "node:fs";
import { test } from "node:test";
import type { DataFile } from "../../src/iceberg/data-file.ts";
import { DataFileContent } from "../../src/iceberg/data-file.ts";
import { sqlString, withDuckDb } from "../../src/iceberg/duckdb.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { OverwriteFiles } from "../../src/iceberg/operations/overwrite.ts";
import { localPathOf } from "../../src/io/index.ts";
import { runReader } from "../helpers/python.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";

async function parquet(location: string, rows: Array<[number, string, string]>): Promise<DataFile> {
  const path = localPathOf(location);
  const values = rows
    .map(([id, status, day]) => `(${id}::BIGINT, ${sqlString(status)}, DATE ${sqlString(day)})`)
    .join(", ");
  await withDuckDb(async (db) => {
    await db.run(
      `COPY (SELECT * FROM (VALUES ${values}) v(id, status, day)) TO ${sqlString(path)} (FORMAT parquet, FIELD_IDS {id: 1, status: 2, day: 3})`,
    );
  });
  return {
    content: DataFileContent.DATA,
    filePath: location,
    fileFormat: "parquet",
    partition: {},
    recordCount: rows.length,
    fileSizeInBytes: statSync(path).size,
  };
}

test("pyiceberg and DuckDB read a table Floe committed, at the current and an older snapshot", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const loc = table.metadata.location;
  mkdirSync(localPathOf(`${loc}/data`), { recursive: true });

  const a = await parquet(`${loc}/data/a.parquet`, [
    [1, "new", "2024-01-01"],
    [2, "paid", "2024-01-02"],
  ]);
  const first = await new FastAppend(catalog, table).appendFile(a).commit();
  const b = await parquet(`${loc}/data/b.parquet`, [[3, "new", "2024-01-03"]]);
  const second = await new FastAppend(catalog, first.table).appendFile(b).commit();
  const a2 = await parquet(`${loc}/data/a2.parquet`, [[2, "shipped", "2024-01-02"]]);
  const third = await new OverwriteFiles(catalog, second.table).deleteFile(a).addFile(a2).commit();

  const expected = [
    { id: 2, status: "shipped", day: "2024-01-02" },
    { id: 3, status: "new", day: "2024-01-03" },
  ];
  const metadata = third.table.metadataLocation;
  assert.deepEqual(runReader("pyiceberg-scan", metadata), expected);
  assert.deepEqual(runReader("duckdb-scan", metadata), expected);

  const atFirst = [
    { id: 1, status: "new", day: "2024-01-01" },
    { id: 2, status: "paid", day: "2024-01-02" },
  ];
  const snapshotId = String(first.result.snapshotId);
  assert.deepEqual(runReader("pyiceberg-scan", metadata, "--snapshot-id", snapshotId), atFirst);
  assert.deepEqual(runReader("duckdb-scan", metadata, "--snapshot-id", snapshotId), atFirst);
});
