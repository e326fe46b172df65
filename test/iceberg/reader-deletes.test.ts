// The reader's scan SQL applies each delete file only where the plan applies it. It reads every data
// file in one read_parquet and every position delete file in one more, so a position delete row must
// still count only for the data file it names AND only when that file is not newer than the delete (the
// plan leaves the delete off newer files), and an equality delete only for the older data files of its
// partition the plan lists it for — also when the plan is not one planScan would make. Plans here are made
// by hand over real Parquet files so each case isolates one rule.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import type { DataFile } from "../../src/iceberg/data-file.ts";
import { writeEqualityDeletes, writePositionDeletes } from "../../src/iceberg/delete-writer.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import type { PartitionSpec } from "../../src/iceberg/partitioning.ts";
import { readPlan } from "../../src/iceberg/reader.ts";
import type { FileScanTask, ScanPlan } from "../../src/iceberg/scan.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { LocalFileIO, localLocationOf } from "../../src/io/index.ts";

const schema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: "v", required: false, type: { kind: "string" } },
  ],
  [1],
);
const unpartitioned: PartitionSpec = { specId: 0, fields: [] };
// A second (empty) spec id: another "partition" as far as delete scoping goes.
const otherSpec: PartitionSpec = { specId: 1, fields: [] };

interface Files {
  table: LoadedTable;
  a: DataFile;
  b: DataFile;
  /** Position deletes naming A's row 0 (id 1) and B's row 1 (id 12); no referenced data file. */
  positions: DataFile;
  /** Equality deletes of ids 2 and 12. */
  equality: DataFile;
}

async function setUp(t: { after(fn: () => void): void }): Promise<Files> {
  const dir = mkdtempSync(join(tmpdir(), "floe-reader-deletes-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const io = new LocalFileIO();
  const catalog = new StoreCatalog({
    name: "t",
    store: new InMemoryCatalogStore(),
    io,
    warehouse: localLocationOf(dir),
  });
  await catalog.createNamespace(["n"]);
  const table = await catalog.createTable({ namespace: ["n"], name: "t" }, { schema });
  const location = `${table.metadata.location}/data`;
  const write = async (ids: number[]) => {
    const rows = ids.map((id) => ({ id: BigInt(id), v: `v${id}` }));
    const [file] = await writeDataFiles({ schema, spec: unpartitioned, rows, io, location });
    return file!;
  };
  const a = await write([1, 2, 3]);
  const b = await write([11, 12, 13]);
  const [positions] = await writePositionDeletes({
    schema,
    spec: unpartitioned,
    io,
    location,
    deletes: [
      { filePath: a.filePath, pos: 0 },
      { filePath: b.filePath, pos: 1 },
    ],
  });
  assert.equal(positions!.referencedDataFile, undefined, "the delete file names two data files");
  const [equality] = await writeEqualityDeletes({
    schema,
    spec: unpartitioned,
    io,
    location,
    equalityIds: [1],
    rows: [{ id: 2n }, { id: 12n }],
  });
  return { table, a, b, positions: positions!, equality: equality! };
}

function task(dataFile: DataFile, seq: number, deletes: DataFile[], spec = unpartitioned): FileScanTask {
  return { dataFile, dataSequenceNumber: BigInt(seq), deletes, spec, partition: [] };
}

async function ids(table: LoadedTable, tasks: FileScanTask[]): Promise<number[]> {
  const plan: ScanPlan = {
    snapshot: undefined,
    schema,
    filter: undefined,
    tasks,
    metrics: {
      manifests: 0,
      manifestsSkipped: 0,
      dataFiles: tasks.length,
      dataFilesSkippedByPartition: 0,
      dataFilesSkippedByMetrics: 0,
      deleteFiles: 0,
      deleteFilesSkippedByPartition: 0,
    },
  };
  const rows = await readPlan(table, plan);
  for (const row of rows) assert.equal(row.v, `v${row.id}`, "columns stay together");
  return rows.map((row) => Number(row.id)).sort((x, y) => x - y);
}

test("a position delete row removes the row of the file it names, in every file the plan applies it to", async (t) => {
  const { table, a, b, positions } = await setUp(t);
  assert.deepEqual(await ids(table, [task(a, 1, [positions]), task(b, 1, [positions])]), [2, 3, 11, 13]);
});

test("a position delete does not touch a data file the plan does not apply it to (a newer file), even where it names it", async (t) => {
  const { table, a, b, positions } = await setUp(t);
  // B has a higher data sequence number than the delete: planning leaves the delete off B's task.
  assert.deepEqual(await ids(table, [task(a, 1, [positions]), task(b, 3, [])]), [2, 3, 11, 12, 13]);
});

test("a position delete does not touch a data file of another partition, even where it names it", async (t) => {
  const { table, a, b, positions } = await setUp(t);
  assert.deepEqual(
    await ids(table, [task(a, 1, [positions]), task(b, 1, [], otherSpec)]),
    [2, 3, 11, 12, 13],
  );
});

test("a position delete the plan applies in two partitions removes the named rows in both", async (t) => {
  // Planning never does this (a position delete stays in its partition); the reader must still follow
  // the plan's own list rather than one partition's sequence-number rule.
  const { table, a, b, positions } = await setUp(t);
  assert.deepEqual(
    await ids(table, [task(a, 1, [positions]), task(b, 1, [positions], otherSpec)]),
    [2, 3, 11, 13],
  );
});

test("an equality delete applies to the older data files the plan lists it for, not to a newer one", async (t) => {
  const { table, a, b, equality } = await setUp(t);
  assert.deepEqual(await ids(table, [task(a, 1, [equality]), task(b, 2, [])]), [1, 3, 11, 12, 13]);
  assert.deepEqual(await ids(table, [task(a, 1, [equality]), task(b, 1, [equality])]), [1, 3, 11, 13]);
});

test("an equality delete stays in its partition: a data file of another partition with the same sequence number keeps its row", async (t) => {
  const { table, a, b, equality } = await setUp(t);
  assert.deepEqual(await ids(table, [task(a, 1, [equality]), task(b, 1, [], otherSpec)]), [1, 3, 11, 12, 13]);
});

test("an equality delete the plan gives to a file but not to an older one of the same partition applies exactly so", async (t) => {
  // No sequence-number rule describes this plan (B is older than A yet keeps its row): the reader must
  // fall back to the plan's own list.
  const { table, a, b, equality } = await setUp(t);
  assert.deepEqual(await ids(table, [task(a, 2, [equality]), task(b, 1, [])]), [1, 3, 11, 12, 13]);
});

test("position and equality deletes together, with a file without deletes", async (t) => {
  const { table, a, b, positions, equality } = await setUp(t);
  assert.deepEqual(await ids(table, [task(a, 1, [positions, equality]), task(b, 5, [])]), [3, 11, 12, 13]);
});
