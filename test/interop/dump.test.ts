// `floe dump` against independent readers: tables written by Floe — appends, position deletes (also inside
// a partition of an evolved spec), an evolved schema (added, renamed and moved columns), an evolved
// partition spec, equality deletes — dumped to Parquet, CSV and JSON Lines at several snapshots must hold
// exactly the rows pyiceberg reads at the same snapshot (DuckDB's iceberg extension for equality deletes,
// which pyiceberg 0.12 refuses to read).
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { dumpTable } from "../../src/dump/dump.ts";
import type { DumpFormat } from "../../src/dump/output.ts";
import { writeEqualityDeletes, writePositionDeletes } from "../../src/iceberg/delete-writer.ts";
import { withDuckDb } from "../../src/iceberg/duckdb.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { updatePartitionSpec, updateSchema } from "../../src/iceberg/operations/table-changes.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { bucket, day } from "../../src/iceberg/transforms.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { runReader } from "../helpers/python.ts";
import { appendRows, localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";

type Json = Record<string, unknown>;
const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const sortKey = (r: Json) => JSON.stringify(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
const sorted = (rows: Json[]) => [...rows].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));

/**
 * A dump read back in the Python readers' JSON form (readers.py `normalise`): every format goes through
 * DuckDB's JSON writer, with CSV read back under the column types of the Parquet dump of the same snapshot.
 */
async function dumpAsJson(
  table: LoadedTable,
  dir: string,
  format: DumpFormat,
  snapshotId: bigint,
): Promise<Json[]> {
  const out = join(dir, `${snapshotId}.${format}`);
  const result = await dumpTable(table, { out, format, snapshotId, overwrite: true });
  if (format === "jsonl") {
    const lines = readFileSync(out, "utf8")
      .split("\n")
      .filter((l) => l !== "");
    assert.equal(lines.length, result.rows);
    return sorted(lines.map((l) => JSON.parse(l) as Json));
  }
  const parquetTypes = join(dir, `${snapshotId}.types.parquet`);
  await dumpTable(table, { out: parquetTypes, snapshotId, overwrite: true });
  const jsonOut = join(dir, `${snapshotId}.${format}.back.jsonl`);
  await withDuckDb(async (c) => {
    // CSV carries no types: read it back with the Parquet dump's column types.
    const described = (
      await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${parquetTypes}')`)
    ).getRowsJson();
    const columns = described.map((r) => `'${String(r[0])}': '${String(r[1])}'`).join(", ");
    const relation =
      format === "parquet"
        ? `read_parquet('${out}')`
        : `read_csv('${out}', header = true, columns = {${columns}})`;
    await c.run(`COPY (SELECT * FROM ${relation}) TO '${jsonOut}' (FORMAT json)`);
  });
  return sorted(
    readFileSync(jsonOut, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Json),
  );
}

function assertDumpsMatch(label: string, actual: Json[], expected: Json[]) {
  assert.deepEqual(actual, sorted(expected), label);
}

test("dumps equal pyiceberg at every snapshot: deletes, schema and partition evolution", async (t) => {
  const { catalog, dir } = localWarehouse(t);
  const outDir = join(dir, "dumps");
  mkdirSync(outDir);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const snapshots: bigint[] = [];
  const mark = () => snapshots.push(table.metadata.refs.main!.snapshotId);

  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "paid", day: days("2024-01-02") },
    { id: 3n, status: null, day: days("2024-01-03") },
  ]);
  mark();
  const [firstFile] = (await planScan(table)).tasks.map((task) => task.dataFile);
  const deletes = await writePositionDeletes({
    schema: currentSchema(table.metadata),
    spec: defaultSpec(table.metadata),
    io: table.io,
    location: `${table.metadata.location}/data`,
    deletes: [{ filePath: firstFile!.filePath, pos: 1 }],
  });
  const delta = new RowDelta(catalog, table);
  for (const d of deletes) delta.addDeletes(d);
  table = (await delta.commit()).table;
  mark();
  table = (await updateSchema(catalog, table, (u) => u.addColumn("total", primitive("double")))).table;
  table = await appendRows(catalog, table, [
    { id: 4n, status: 'new, "odd"', day: days("2024-02-01"), total: 9.5 },
  ]);
  mark();
  table = (
    await updatePartitionSpec(catalog, table, [
      { sourceId: 3, transform: day },
      { sourceId: 1, transform: bucket(4) },
    ])
  ).table;
  table = await appendRows(catalog, table, [
    { id: 5n, status: "paid", day: days("2024-03-01"), total: 1.25 },
    { id: 6n, status: "new", day: null, total: 2 },
  ]);
  mark();
  // A renamed and moved column (older files are read by field id), a position delete inside a
  // partition of the evolved spec, and a row written under the new names.
  table = (await updateSchema(catalog, table, (u) => u.renameColumn("status", "state").moveFirst("total")))
    .table;
  const march = (await planScan(table)).tasks.find(
    (task) =>
      task.spec.specId === defaultSpec(table.metadata).specId && task.partition[0] === days("2024-03-01"),
  );
  assert.ok(march, "the file of 2024-03-01 under the evolved spec");
  const partitionedDeletes = await writePositionDeletes({
    schema: currentSchema(table.metadata),
    spec: march.spec,
    partition: march.partition,
    io: table.io,
    location: `${table.metadata.location}/data`,
    deletes: [{ filePath: march.dataFile.filePath, pos: 0 }],
  });
  const partitionedDelta = new RowDelta(catalog, table);
  for (const d of partitionedDeletes) partitionedDelta.addDeletes(d);
  table = (await partitionedDelta.commit()).table;
  table = await appendRows(catalog, table, [{ id: 7n, state: "it's", day: days("2024-03-02"), total: 3.5 }]);
  mark();

  for (const snapshotId of snapshots) {
    const expected = runReader<Json[]>(
      "pyiceberg-scan",
      table.metadataLocation,
      "--snapshot-id",
      String(snapshotId),
    );
    assert.ok(expected.length > 0);
    for (const format of ["parquet", "csv", "jsonl"] as const) {
      assertDumpsMatch(
        `${format} @ ${snapshotId}`,
        await dumpAsJson(table, outDir, format, snapshotId),
        expected,
      );
    }
  }
});

test("dumps with equality deletes equal DuckDB's iceberg extension", async (t) => {
  const { catalog, dir } = localWarehouse(t);
  const outDir = join(dir, "dumps");
  mkdirSync(outDir);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "new", day: days("2024-01-02") },
    { id: 3n, status: "new", day: days("2024-01-03") },
  ]);
  const before = table.metadata.refs.main!.snapshotId;
  const m = table.metadata;
  const eq = await writeEqualityDeletes({
    schema: currentSchema(m),
    spec: defaultSpec(m),
    io: table.io,
    location: `${m.location}/data`,
    equalityIds: [1],
    rows: [{ id: 1n }, { id: 3n }],
  });
  const newRows = await writeDataFiles({
    schema: currentSchema(m),
    spec: defaultSpec(m),
    rows: [{ id: 1n, status: "shipped", day: days("2024-01-05") }],
    io: table.io,
    location: `${m.location}/data`,
  });
  const delta = new RowDelta(catalog, table);
  for (const f of eq) delta.addDeletes(f);
  for (const f of newRows) delta.addRows(f);
  table = (await delta.commit()).table;
  const after = table.metadata.refs.main!.snapshotId;

  for (const snapshotId of [before, after]) {
    const expected = runReader<Json[]>(
      "duckdb-scan",
      table.metadataLocation,
      "--snapshot-id",
      String(snapshotId),
    );
    for (const format of ["parquet", "csv", "jsonl"] as const) {
      assertDumpsMatch(
        `${format} @ ${snapshotId}`,
        await dumpAsJson(table, outDir, format, snapshotId),
        expected,
      );
    }
  }
  assert.deepEqual((await dumpAsJson(table, outDir, "jsonl", after)).map((r) => r.id).sort(), [1, 2]);
});
