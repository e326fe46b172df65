// Tables written entirely by Floe — Parquet through Floe's writer, deletes through its delete writers,
// commits through its operations and catalog — read by independent engines: pyiceberg and DuckDB's
// iceberg extension must return exactly the rows Floe's own reader returns, for appends, position
// deletes, equality deletes, an evolved schema, an evolved partition spec and time travel.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { writeEqualityDeletes, writePositionDeletes } from "../../src/iceberg/delete-writer.ts";
import { equal } from "../../src/iceberg/expressions.ts";
import { OverwriteFiles } from "../../src/iceberg/operations/overwrite.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { updatePartitionSpec, updateSchema } from "../../src/iceberg/operations/table-changes.ts";
import { type Row, writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { bucket, day } from "../../src/iceberg/transforms.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { runReader } from "../helpers/python.ts";
import { appendRows, localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";

/** Rows as the Python readers print them: sorted, longs as numbers, dates as ISO strings. */
function normalise(rows: Row[]): Row[] {
  const out = rows.map((row) => {
    const o: Row = {};
    for (const [k, v] of Object.entries(row)) {
      if (typeof v === "bigint") o[k] = Number(v);
      else if (k === "day" && typeof v === "number")
        o[k] = new Date(v * 86_400_000).toISOString().slice(0, 10);
      else o[k] = v;
    }
    return o;
  });
  const key = (r: Row) => JSON.stringify(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  return out.sort((a, b) => key(a).localeCompare(key(b)));
}

const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

function assertEveryoneReads(
  table: LoadedTable,
  expected: Row[],
  options: { snapshotId?: bigint; pyiceberg?: boolean } = {},
) {
  const args = options.snapshotId === undefined ? [] : ["--snapshot-id", String(options.snapshotId)];
  if (options.pyiceberg !== false) {
    assert.deepEqual(runReader("pyiceberg-scan", table.metadataLocation, ...args), expected, "pyiceberg");
  }
  assert.deepEqual(runReader("duckdb-scan", table.metadataLocation, ...args), expected, "duckdb");
}

test("appends, position deletes, schema and partition evolution, time travel: every engine reads Floe's rows", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });

  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "paid", day: days("2024-01-02") },
    { id: 3n, status: null, day: days("2024-01-03") },
  ]);
  const firstSnapshot = table.metadata.refs.main?.snapshotId;
  const afterFirst = normalise(await readTable(table));
  assert.equal(afterFirst.length, 3);
  assertEveryoneReads(table, afterFirst);

  // Position deletes: drop row 1 (id 2) of the first file.
  const [dataFile] = (await planScan(table)).tasks.map((task) => task.dataFile);
  assert.ok(dataFile);
  const deletes = await writePositionDeletes({
    schema: currentSchema(table.metadata),
    spec: defaultSpec(table.metadata),
    io: table.io,
    location: `${table.metadata.location}/data`,
    deletes: [{ filePath: dataFile.filePath, pos: 1 }],
  });
  const delta = new RowDelta(catalog, table);
  for (const d of deletes) delta.addDeletes(d);
  table = (await delta.commit()).table;
  const afterDelete = normalise(await readTable(table));
  assert.deepEqual(
    afterDelete.map((r) => r.id),
    [1, 3],
  );
  assertEveryoneReads(table, afterDelete);

  // Schema evolution: a new column, then rows that carry it.
  table = (
    await updateSchema(catalog, table, (u) => {
      u.addColumn("total", primitive("double"));
    })
  ).table;
  table = await appendRows(catalog, table, [{ id: 4n, status: "new", day: days("2024-02-01"), total: 9.5 }]);
  const afterEvolve = normalise(await readTable(table));
  assert.deepEqual(afterEvolve.find((r) => r.id === 1)?.total, null);
  assert.deepEqual(afterEvolve.find((r) => r.id === 4)?.total, 9.5);
  assertEveryoneReads(table, afterEvolve);

  // Partition evolution: day(day) + bucket[4](id); old files keep the unpartitioned spec.
  table = (
    await updatePartitionSpec(catalog, table, [
      { sourceId: 3, transform: day },
      { sourceId: 1, transform: bucket(4) },
    ])
  ).table;
  assert.equal(defaultSpec(table.metadata).specId, 1);
  table = await appendRows(catalog, table, [
    { id: 5n, status: "paid", day: days("2024-03-01"), total: 1.25 },
    { id: 6n, status: "new", day: days("2024-03-02"), total: 2 },
  ]);
  const afterSpec = normalise(await readTable(table));
  assert.equal(afterSpec.length, 5);
  assertEveryoneReads(table, afterSpec);

  // Time travel to the first snapshot, with the schema it had.
  assertEveryoneReads(table, afterFirst, { snapshotId: firstSnapshot });
});

test("equality deletes apply only to older rows (DuckDB and Floe agree; pyiceberg cannot read them)", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "new", day: days("2024-01-02") },
  ]);
  // An upsert of id 1: equality delete on id, plus the new version of the row, in one row delta.
  const m = table.metadata;
  const eq = await writeEqualityDeletes({
    schema: currentSchema(m),
    spec: defaultSpec(m),
    io: table.io,
    location: `${m.location}/data`,
    equalityIds: [1],
    rows: [{ id: 1n }],
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

  const rows = normalise(await readTable(table));
  assert.deepEqual(rows, [
    { id: 2, status: "new", day: "2024-01-02" },
    { id: 1, status: "shipped", day: "2024-01-05" },
  ]);
  assertEveryoneReads(table, rows, { pyiceberg: false });
});

test("overwrite by filter removes exactly the matching rows, copy-on-write, across files", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "paid", day: days("2024-01-02") },
  ]);
  table = await appendRows(catalog, table, [{ id: 3n, status: "new", day: days("2024-01-03") }]);
  table = await appendRows(catalog, table, [{ id: 4n, status: "paid", day: days("2024-01-04") }]);

  const outcome = await new OverwriteFiles(catalog, table).overwriteWhere(equal("status", "new")).commit();
  table = outcome.table;
  // File 1 is rewritten without id 1, file 2 dropped, file 3 untouched.
  assert.equal(outcome.result.summary["deleted-data-files"], "2");
  assert.equal(outcome.result.summary["added-data-files"], "1");
  assert.equal(outcome.result.summary["total-records"], "2");
  const rows = normalise(await readTable(table));
  assert.deepEqual(
    rows.map((r) => r.id),
    [2, 4],
  );
  assertEveryoneReads(table, rows);
});
