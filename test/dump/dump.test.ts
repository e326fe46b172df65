// dumpTable on Floe-written local tables: every format reads back as Floe's reader reads the table, at the
// current snapshot, a snapshot id, a timestamp and a tag; filters prune; outputs never overwrite or escape.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { dumpTable, parseTimestamp } from "../../src/dump/dump.ts";
import { DumpError } from "../../src/dump/errors.ts";
import type { DumpProgress } from "../../src/dump/progress.ts";
import { withDuckDb } from "../../src/iceberg/duckdb.ts";
import { setRef, updatePartitionSpec } from "../../src/iceberg/operations/table-changes.ts";
import type { Row } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import { appendRows, localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";

const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

/** Rows as plain JSON values, sorted: longs as numbers, dates as ISO strings. */
function normalise(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const out = rows.map((row) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (typeof v === "bigint") o[k] = Number(v);
      else if (k === "day" && typeof v === "number")
        o[k] = new Date(v * 86_400_000).toISOString().slice(0, 10);
      else if (k === "id" && typeof v === "string") o[k] = Number(v);
      else o[k] = v;
    }
    return o;
  });
  return out.sort((a, b) => Number(a.id) - Number(b.id));
}

async function readBack(path: string, format: "parquet" | "csv" | "jsonl") {
  if (format === "jsonl") {
    return normalise(
      readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  }
  const reader = format === "parquet" ? "read_parquet" : "read_csv";
  return withDuckDb(async (c) => {
    const result = await c.runAndReadAll(`SELECT * FROM ${reader}('${path}')`);
    return normalise(result.getRowObjectsJson() as Record<string, unknown>[]);
  });
}

async function fixture(t: TestContext) {
  const warehouse = localWarehouse(t);
  const { catalog } = warehouse;
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  table = (await updatePartitionSpec(catalog, table, [{ sourceId: 2, transform: identity }])).table;
  table = await appendRows(catalog, table, [
    { id: 1n, status: "new", day: days("2024-01-01") },
    { id: 2n, status: "paid", day: days("2024-01-02") },
  ]);
  const first = table.metadata.refs.main!.snapshotId;
  const firstAt = Number(table.metadata.snapshots.find((s) => s.snapshotId === first)!.timestampMs);
  await new Promise((resolve) => setTimeout(resolve, 5));
  table = await appendRows(catalog, table, [
    { id: 3n, status: "paid", day: days("2024-01-03") },
    { id: 4n, status: null, day: null },
    { id: 5n, status: 'it\'s, "quoted"\nnew', day: days("2024-01-05") },
  ]);
  const outDir = join(warehouse.dir, "out");
  mkdirSync(outDir);
  return { ...warehouse, table, first, firstAt, outDir };
}

test("parquet, csv and jsonl dumps read back as Floe reads the table", async (t) => {
  const { catalog, table, outDir } = await fixture(t);
  const expected = normalise(await readTable(table));
  assert.equal(expected.length, 5);
  for (const format of ["parquet", "csv", "jsonl"] as const) {
    const out = join(outDir, `orders.${format}`);
    const result = await dumpTable({ catalog, identifier: "shop.orders" }, { out });
    assert.equal(result.rows, 5);
    assert.deepEqual(result.files, [out]);
    assert.ok(result.bytes > 0);
    assert.deepEqual(await readBack(out, format), expected, format);
  }
  // Parquet keeps names and types.
  const types = await withDuckDb(async (c) =>
    (
      await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${join(outDir, "orders.parquet")}')`)
    ).getRowsJson(),
  );
  assert.deepEqual(
    types.map((r) => [r[0], r[1]]),
    [
      ["id", "BIGINT"],
      ["status", "VARCHAR"],
      ["day", "DATE"],
    ],
  );
});

test("snapshot id, as-of timestamp and tag select the snapshot; columns and where narrow the output", async (t) => {
  const { catalog, first, firstAt, outDir } = await fixture(t);
  let table = await catalog.loadTable(ordersId);
  table = (await setRef(catalog, table, "v1", { snapshotId: first, type: "tag" })).table;
  const firstRows = [
    { id: 1, status: "new", day: "2024-01-01" },
    { id: 2, status: "paid", day: "2024-01-02" },
  ];
  let n = 0;
  for (const selection of [
    { snapshotId: first },
    { asOf: firstAt },
    { asOf: new Date(firstAt).toISOString() },
    { ref: "v1" },
  ]) {
    const out = join(outDir, `s${n++}.jsonl`);
    const result = await dumpTable(table, { out, ...selection });
    assert.equal(result.snapshotId, first);
    assert.deepEqual(await readBack(out, "jsonl"), firstRows, String(Object.entries(selection)));
  }

  const out = join(outDir, "filtered.jsonl");
  const result = await dumpTable(table, {
    out,
    columns: ["id", "status"],
    where: "status = 'paid' and id >= 3",
  });
  assert.deepEqual(await readBack(out, "jsonl"), [{ id: 3, status: "paid" }]);
  // status is the partition column: files of other partitions are never read.
  assert.ok(result.metrics.dataFilesSkippedByPartition >= 2, JSON.stringify(result.metrics));

  await assert.rejects(dumpTable(table, { out: join(outDir, "x.csv"), where: "nope = 1" }), {
    code: "INVALID_FILTER",
    message: /nope/,
  });
  await assert.rejects(dumpTable(table, { out: join(outDir, "x.csv"), columns: ["id", "nope"] }), {
    code: "INVALID_OPTIONS",
  });
  await assert.rejects(dumpTable(table, { out: join(outDir, "x.csv"), snapshotId: first, ref: "v1" }), {
    code: "INVALID_OPTIONS",
  });
});

test("split dumps write numbered part files; progress reports rows and bytes", async (t) => {
  const warehouse = localWarehouse(t);
  const { catalog } = warehouse;
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const rows: Row[] = [];
  for (let i = 0; i < 200_000; i++)
    rows.push({ id: BigInt(i), status: `status-${i % 97}-${i}`, day: 19_000 + (i % 300) });
  table = await appendRows(catalog, table, rows);
  const out = join(warehouse.dir, "parts");
  const events: DumpProgress[] = [];
  const result = await dumpTable(table, {
    out,
    format: "csv",
    maxFileSizeBytes: 1_000_000,
    onProgress: (p) => events.push(p),
    progressIntervalMs: 5,
  });
  assert.equal(result.rows, 200_000);
  const names = readdirSync(out).sort();
  assert.ok(names.length >= 3, names.join(","));
  assert.deepEqual(
    names,
    names.map((_, i) => `part-${String(i).padStart(5, "0")}.csv`),
  );
  assert.deepEqual(
    result.files,
    names.map((name) => join(out, name)),
  );
  const back = await withDuckDb(async (c) =>
    (
      await c.runAndReadAll(`SELECT count(*), count(DISTINCT id) FROM read_csv('${out}/*.csv')`)
    ).getRowsJson(),
  );
  assert.deepEqual(back, [["200000", "200000"]]);
  assert.equal(events[0]?.phase, "planning");
  assert.equal(events.at(-1)?.phase, "done");
  assert.equal(events.at(-1)?.rows, 200_000);
  assert.equal(events.at(-1)?.estimatedRows, 200_000);
  assert.equal(events.at(-1)?.bytes, result.bytes);

  // Again into the same directory: refused, then replaced with --overwrite.
  await assert.rejects(dumpTable(table, { out, format: "csv", maxFileSizeBytes: 1_000_000 }), {
    code: "OUTPUT_EXISTS",
  });
  const again = await dumpTable(table, {
    out,
    format: "csv",
    maxFileSizeBytes: 100_000_000,
    overwrite: true,
  });
  assert.deepEqual(readdirSync(out), ["part-00000.csv"]);
  assert.equal(again.files.length, 1);
  // A directory holding other files is never written into.
  writeFileSync(join(out, "notes.txt"), "mine");
  await assert.rejects(
    dumpTable(table, { out, format: "csv", maxFileSizeBytes: 1_000_000, overwrite: true }),
    {
      code: "OUTPUT_EXISTS",
    },
  );
  assert.equal(readFileSync(join(out, "notes.txt"), "utf8"), "mine");
});

test("outputs: no overwrite without the flag, no escape from the root, no staging left behind", async (t) => {
  const { table, outDir } = await fixture(t);
  const out = join(outDir, "orders.parquet");
  writeFileSync(out, "precious");
  await assert.rejects(dumpTable(table, { out }), (error: unknown) => {
    assert.ok(error instanceof DumpError);
    assert.equal(error.code, "OUTPUT_EXISTS");
    assert.match(error.message, /--overwrite/);
    return true;
  });
  assert.equal(readFileSync(out, "utf8"), "precious");
  await dumpTable(table, { out, overwrite: true });
  assert.notEqual(readFileSync(out).subarray(0, 4).toString(), "prec");
  await assert.rejects(dumpTable(table, { out: outDir }), {
    code: "OUTPUT_EXISTS",
    message: /is a directory/,
  });

  for (const escaping of ["../x.csv", `${outDir}/../../x.csv`, "/etc/x.csv", outDir]) {
    await assert.rejects(
      dumpTable(table, { out: escaping, rootDir: outDir }),
      { code: "INVALID_OUTPUT" },
      escaping,
    );
  }
  await dumpTable(table, { out: join(outDir, "sub", "ok.csv"), rootDir: outDir });
  for (const bad of ["s3://bucket/../x", "s3://bucket//x", "s3://bucket", "http://example.com/x", "a\0b"]) {
    await assert.rejects(dumpTable(table, { out: bad }), { code: "INVALID_OUTPUT" }, bad);
  }
  assert.deepEqual(
    readdirSync(outDir).filter((name) => name.startsWith(".floe-dump-")),
    [],
  );
});

test("parseTimestamp reads epoch ms and ISO-8601, UTC without a zone", () => {
  assert.equal(parseTimestamp("1700000000000"), 1_700_000_000_000);
  assert.equal(parseTimestamp("2024-01-01"), Date.UTC(2024, 0, 1));
  assert.equal(parseTimestamp("2024-01-01 10:00:00"), Date.UTC(2024, 0, 1, 10));
  assert.equal(parseTimestamp("2024-01-01T10:00:00+02:00"), Date.UTC(2024, 0, 1, 8));
  assert.throws(() => parseTimestamp("yesterday"), { code: "INVALID_OPTIONS" });
});

test("hostile column names, table names and filter literals are quoted, never spliced", async (t) => {
  const warehouse = localWarehouse(t);
  const { catalog } = warehouse;
  await catalog.createNamespace(["we\"ird'; ns"]);
  const quote = 'a"b';
  const drop = "x'); DROP TABLE t; --";
  const schema = new Schema(0, [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: quote, required: false, type: { kind: "string" } },
    { id: 3, name: drop, required: false, type: { kind: "string" } },
  ]);
  const identifier = { namespace: ["we\"ird'; ns"], name: 'orders"; --' };
  let table = await catalog.createTable(identifier, { schema });
  table = await appendRows(catalog, table, [
    { id: 1n, [quote]: "it's", [drop]: "'; SELECT 1; --" },
    { id: 2n, [quote]: "plain", [drop]: null },
  ]);
  const out = join(warehouse.dir, "odd.jsonl");
  const result = await dumpTable(
    { catalog, identifier },
    { out, columns: [drop, "id"], where: `"a""b" = 'it''s' and "x'); DROP TABLE t; --" is not null` },
  );
  assert.equal(result.rows, 1);
  assert.deepEqual(
    readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l)),
    [{ [drop]: "'; SELECT 1; --", id: 1 }],
  );
  // Filter text outside the grammar is refused before any SQL exists.
  await assert.rejects(
    dumpTable(table, { out: join(warehouse.dir, "x.csv"), where: "id = 1; DROP TABLE t" }),
    {
      code: "INVALID_FILTER",
    },
  );
});
