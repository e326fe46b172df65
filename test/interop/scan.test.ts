// Floe's scan planning and reader against tables written by pyiceberg (appends, schema and partition spec
// evolution, copy-on-write deletes, position and equality deletes committed through pyiceberg's snapshot
// producer), compared with pyiceberg's own scan of the same snapshots, normalised the same way.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { daysToIsoDate, timestampToIso } from "../../src/iceberg/conversions.ts";
import { withDuckDb } from "../../src/iceberg/duckdb.ts";
import {
  type Expression,
  equal,
  greaterThan,
  greaterThanOrEqual,
  isIn,
  not,
  startsWith,
} from "../../src/iceberg/expressions.ts";
import { createScanView, type Row, readTable } from "../../src/iceberg/reader.ts";
import { planScan, resolveScanSnapshot, type ScanOptions, type ScanTable } from "../../src/iceberg/scan.ts";
import { parseTableMetadata } from "../../src/iceberg/table-metadata.ts";
import type { IcebergType } from "../../src/iceberg/types.ts";
import { LocalFileIO, localPathOf } from "../../src/io/index.ts";
import { runReader } from "../helpers/python.ts";

type JsonRow = Record<string, unknown>;

function loadTable(metadataLocation: string): ScanTable {
  const text = readFileSync(localPathOf(metadataLocation), "utf8");
  return { metadata: parseTableMetadata(text, metadataLocation), io: new LocalFileIO() };
}

/** Python's isoformat: no fraction when it is zero. */
function pythonTimestamp(micros: bigint, withZone: boolean): string {
  const iso = timestampToIso(micros, "us", false).replace(/\.000000$/, "");
  return withZone ? `${iso}+00:00` : iso;
}

/** The same normalisation readers.py applies, from Floe's value representation. */
function normalise(type: IcebergType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "long":
    case "int": {
      const n = BigInt(value as bigint | number);
      return n > 2n ** 53n || n < -(2n ** 53n) ? n.toString() : Number(n);
    }
    case "date":
      return daysToIsoDate(value as number);
    case "timestamp":
      return pythonTimestamp(value as bigint, false);
    case "timestamptz":
      return pythonTimestamp(value as bigint, true);
    case "binary":
    case "fixed":
      return Buffer.from(value as Uint8Array).toString("hex");
    case "float":
    case "double":
      return Number.isNaN(value) ? "NaN" : value;
    default:
      return value;
  }
}

const canonical = (row: JsonRow) =>
  JSON.stringify(
    Object.keys(row)
      .sort()
      .map((k) => [k, row[k]]),
  );

const sortRows = (rows: JsonRow[]) => [...rows].sort((a, b) => canonical(a).localeCompare(canonical(b)));

async function floeRows(table: ScanTable, options: ScanOptions = {}): Promise<JsonRow[]> {
  const { schema } = resolveScanSnapshot(table.metadata, options);
  const rows = await readTable(table, options);
  return sortRows(
    rows.map((row: Row) =>
      Object.fromEntries(schema.fields.map((f) => [f.name, normalise(f.type, row[f.name])])),
    ),
  );
}

function withWarehouse<T>(scenario: string): { result: T; cleanup: () => void } {
  const warehouse = mkdtempSync(join(tmpdir(), `floe-scan-${scenario}-`));
  const result = runReader<T>("pyiceberg-write-scenario", warehouse, scenario);
  return { result, cleanup: () => rmSync(warehouse, { recursive: true, force: true }) };
}

interface SnapshotInfo {
  snapshotId: string;
  sequenceNumber: number;
  timestampMs: number;
  schemaId: number | null;
  rows?: JsonRow[];
}

describe("reading a pyiceberg table with appends, a tag and schema evolution", () => {
  const { result, cleanup } = withWarehouse<{
    metadata: string;
    snapshots: SnapshotInfo[];
    rows: JsonRow[];
  }>("evolution");
  after(cleanup);
  const table = loadTable(result.metadata);

  test("the current snapshot reads with the evolved schema (renamed, dropped, added, promoted, moved)", async () => {
    assert.deepEqual(await floeRows(table), sortRows(result.rows));
  });

  test("every snapshot reads as pyiceberg reads it, with that snapshot's schema", async () => {
    assert.equal(result.snapshots.length, 3);
    for (const snapshot of result.snapshots) {
      const rows = await floeRows(table, { snapshotId: BigInt(snapshot.snapshotId) });
      assert.deepEqual(rows, sortRows(snapshot.rows!), `snapshot ${snapshot.snapshotId}`);
    }
  });

  test("a tag and a timestamp select the snapshot they name", async () => {
    const [first, second] = result.snapshots;
    assert.deepEqual(await floeRows(table, { ref: "first" }), sortRows(first!.rows!));
    assert.deepEqual(
      await floeRows(table, { asOfTimestampMs: second!.timestampMs }),
      sortRows(second!.rows!),
    );
  });

  test("values come back in Floe's representation", async () => {
    const rows = await readTable(table, { filter: equal("full_name", "six") });
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.id, 6n);
    assert.equal(row.tiny, 2n ** 40n);
    assert.equal(row.extra, 2n ** 62n);
    assert.equal(row.price, "-6.50");
    assert.equal(row.day, -1);
    assert.equal(row.ts, -1n);
    assert.deepEqual(row.raw, new Uint8Array());
    assert.equal(row.score, 9.5);
    const old = await readTable(table, { filter: equal("id", 2n), columns: ["full_name", "extra", "tiny"] });
    assert.deepEqual(old, [{ full_name: "n2", extra: null, tiny: -2n }]);
  });

  test("a filter on a renamed column prunes by the old files' metrics", async () => {
    const plan = await planScan(table, { filter: equal("full_name", "six") });
    assert.equal(plan.tasks.length, 1);
    assert.equal(plan.metrics.dataFilesSkippedByMetrics, 2);
  });
});

describe("reading a pyiceberg table across a partition spec evolution", () => {
  const { result, cleanup } = withWarehouse<{
    metadata: string;
    rows: JsonRow[];
    filters: Record<string, JsonRow[]>;
  }>("partition-evolution");
  after(cleanup);
  const table = loadTable(result.metadata);
  const filters: Record<string, Expression> = {
    category_a: equal("category", "a"),
    ts_from_jan_3: greaterThanOrEqual("ts", "2024-01-03T00:00:00"),
    id_7: equal("id", 7),
    id_in_1_8: isIn("id", [1, 8]),
    category_starts_b: startsWith("category", "b"),
    amount_gt_40: greaterThan("amount", 40),
    not_category_a: not(equal("category", "a")),
  };

  test("all rows, and each filter's rows, match pyiceberg", async () => {
    assert.deepEqual(await floeRows(table), sortRows(result.rows));
    assert.deepEqual(Object.keys(filters).sort(), Object.keys(result.filters).sort());
    for (const [name, filter] of Object.entries(filters)) {
      assert.deepEqual(await floeRows(table, { filter }), sortRows(result.filters[name]!), name);
    }
  });

  test("each manifest is pruned with its own spec", async () => {
    // identity(category) prunes the old files; the new spec has no category field, so metrics decide.
    const byCategory = await planScan(table, { filter: equal("category", "a") });
    assert.equal(byCategory.metrics.dataFiles, 9);
    assert.equal(byCategory.metrics.dataFilesSkippedByPartition, 4);
    assert.equal(byCategory.tasks.filter((t) => t.spec.specId === 0).length, 1);
    // bucket[4](id) prunes new files by hash; id bounds prune the old ones.
    const byId = await planScan(table, { filter: equal("id", 7) });
    assert.equal(byId.tasks.length, 1);
    assert.match(byId.tasks[0]!.dataFile.filePath, /ts_day=2024-01-03\/id_bucket=3\//);
    // day(ts) prunes new files by range; ts bounds prune old files of days 1 and 2.
    const byTs = await planScan(table, { filter: greaterThanOrEqual("ts", "2024-01-04T00:00:00") });
    assert.deepEqual(byTs.tasks.map((t) => t.partition[0]).sort(), [19726, 19727, 19727]);
  });

  test("a registered scan view answers SQL", async () => {
    await withDuckDb(async (connection) => {
      const view = await createScanView(connection, table, "items", { filter: equal("category", "a") });
      try {
        const reader = await connection.runAndReadAll(
          'SELECT count(*)::INTEGER AS n, sum(id)::INTEGER AS ids FROM "items"',
        );
        assert.deepEqual(reader.getRowObjectsJS(), [{ n: 4, ids: 20 }]);
      } finally {
        await view.release();
      }
    });
  });
});

describe("reading a pyiceberg table with deletes", () => {
  const { result, cleanup } = withWarehouse<{
    metadata: string;
    snapshotIds: Record<string, string>;
    expected: Record<string, JsonRow[]>;
    mergeOnReadWarnings: string[];
  }>("deletes");
  after(cleanup);
  const table = loadTable(result.metadata);

  test("pyiceberg 0.12 falls back to copy-on-write for write.delete.mode=merge-on-read", () => {
    assert.equal(result.mergeOnReadWarnings.length, 1);
  });

  test("position deletes, same-commit position deletes and partitioned equality deletes apply", async () => {
    for (const key of ["position", "sameCommit", "equality", "afterEquality"]) {
      const rows = await floeRows(table, { snapshotId: BigInt(result.snapshotIds[key]!) });
      assert.deepEqual(rows, sortRows(result.expected[key]!), key);
    }
  });

  test("deletes are matched to data files by partition and sequence number", async () => {
    const plan = await planScan(table);
    const deletesOf = (category: string, id: number) => {
      const tasks = plan.tasks.filter(
        (t) =>
          t.partition[0] === category &&
          (t.dataFile.lowerBounds?.get(1) === undefined ||
            Buffer.from(t.dataFile.lowerBounds.get(1)!).readBigInt64LE() <= BigInt(id)) &&
          Buffer.from(t.dataFile.upperBounds!.get(1)!).readBigInt64LE() >= BigInt(id),
      );
      assert.equal(tasks.length, 1, `one file holds ${category}/${id}`);
      return tasks[0]!.deletes.map((d) => d.content).sort();
    };
    assert.deepEqual(deletesOf("a", 3), [1]); // the position delete of partition a only
    assert.deepEqual(deletesOf("b", 5), [2]); // the equality delete of partition b
    assert.deepEqual(deletesOf("b", 11), [1, 2]); // same-commit position delete + equality delete
    // Appended after the equality delete: a higher data sequence number, so no delete applies.
    const later = plan.tasks.filter((t) => t.dataFile.recordCount === 1 && t.partition[0] === "b");
    assert.equal(later.length, 1);
    assert.deepEqual(later[0]!.deletes, []);
  });
});
