import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBUUIDValue,
  DuckDBValue,
} from "@duckdb/node-api";
import { fromBinary, type PrimitiveValue } from "../../src/iceberg/conversions.ts";
import { type DataFile, DataFileContent } from "../../src/iceberg/data-file.ts";
import {
  DELETE_FILE_PATH_FIELD,
  DELETE_FILE_POS_FIELD,
  writeEqualityDeletes,
  writePositionDeletes,
} from "../../src/iceberg/delete-writer.ts";
import { sqlString, withDuckDb } from "../../src/iceberg/duckdb.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { type Row, writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import type { PartitionSpec } from "../../src/iceberg/partitioning.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { parseTransform } from "../../src/iceberg/transforms.ts";
import type { IcebergType, NestedField, PrimitiveType } from "../../src/iceberg/types.ts";
import { LocalFileIO, localPathOf } from "../../src/io/index.ts";

const unpartitioned: PartitionSpec = { specId: 0, fields: [] };
const io = new LocalFileIO();
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "floe-parquet-writer-test-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirCounter = 0;
function freshLocation(): string {
  return `file://${root}/t${dirCounter++}/data`;
}

const field = (id: number, name: string, type: IcebergType, required = false): NestedField => ({
  id,
  name,
  required,
  type,
});

/** DuckDB's value as Floe's representation of `type`. */
function toFloe(type: IcebergType, value: DuckDBValue): unknown {
  if (value === null) return null;
  switch (type.kind) {
    case "date":
      return (value as DuckDBDateValue).days;
    case "time":
      return (value as DuckDBTimeValue).micros;
    case "timestamp":
      return (value as DuckDBTimestampValue).micros;
    case "timestamptz":
      return (value as DuckDBTimestampTZValue).micros;
    case "decimal":
      return (value as DuckDBDecimalValue).value;
    case "uuid":
      return (value as DuckDBUUIDValue).toString();
    case "binary":
    case "fixed":
      return new Uint8Array((value as DuckDBBlobValue).bytes);
    case "struct": {
      const entries = (value as DuckDBStructValue).entries;
      return Object.fromEntries(type.fields.map((f) => [f.name, toFloe(f.type, entries[f.name] ?? null)]));
    }
    case "list":
      return (value as DuckDBListValue).items.map((item) => toFloe(type.element, item));
    case "map":
      return new Map(
        (value as DuckDBMapValue).entries.map((e) => [toFloe(type.key, e.key), toFloe(type.value, e.value)]),
      );
    default:
      return value;
  }
}

async function readRows(file: DataFile, fields: readonly NestedField[]): Promise<Row[]> {
  return withDuckDb(async (connection) => {
    const reader = await connection.runAndReadAll(
      `SELECT * FROM read_parquet(${sqlString(localPathOf(file.filePath))}, hive_partitioning = false)`,
    );
    return reader
      .getRows()
      .map((values) => Object.fromEntries(fields.map((f, i) => [f.name, toFloe(f.type, values[i] ?? null)])));
  });
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  return withDuckDb(async (connection) => (await connection.runAndReadAll(sql)).getRowObjectsJS());
}

async function fieldIdsOf(file: DataFile): Promise<[string, number | null][]> {
  const rows = await query(
    `SELECT name, field_id FROM parquet_schema(${sqlString(localPathOf(file.filePath))}) WHERE name <> 'duckdb_schema'`,
  );
  return rows.map((r) => [String(r.name), r.field_id === null ? null : Number(r.field_id)]);
}

function compare(a: PrimitiveValue, b: PrimitiveValue): number {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  if (typeof a === "string" && typeof b === "string") return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Checks counts and exact bounds of a top-level primitive column against the values written. */
function checkColumnMetrics(file: DataFile, f: NestedField, values: unknown[]): void {
  const type = f.type as PrimitiveType;
  const nonNull = values.filter((v) => v !== null && v !== undefined) as PrimitiveValue[];
  const isFloat = type.kind === "float" || type.kind === "double";
  const ordered = nonNull.filter((v) => !(isFloat && Number.isNaN(v as number)));
  assert.equal(file.valueCounts?.get(f.id), values.length, `${f.name} value count`);
  assert.equal(file.nullValueCounts?.get(f.id), values.length - nonNull.length, `${f.name} null count`);
  if (isFloat) {
    assert.equal(file.nanValueCounts?.get(f.id), nonNull.length - ordered.length, `${f.name} NaN count`);
  } else {
    assert.equal(file.nanValueCounts?.has(f.id) ?? false, false, `${f.name} has no NaN count`);
  }
  if (ordered.length === 0) {
    assert.equal(file.lowerBounds?.has(f.id) ?? false, false);
    return;
  }
  const normalized = ordered.map((v) =>
    type.kind === "long" && typeof v === "number"
      ? BigInt(v)
      : type.kind === "uuid"
        ? (v as string).toLowerCase()
        : type.kind === "float"
          ? Math.fround(v as number)
          : v,
  );
  const sorted = [...normalized].sort(compare);
  const lower = fromBinary(type, file.lowerBounds!.get(f.id)!);
  const upper = fromBinary(type, file.upperBounds!.get(f.id)!);
  assert.deepEqual(lower, sorted[0], `${f.name} lower bound`);
  assert.deepEqual(upper, sorted[sorted.length - 1], `${f.name} upper bound`);
}

async function checkFileFacts(file: DataFile): Promise<void> {
  const path = localPathOf(file.filePath);
  assert.equal(file.fileSizeInBytes, (await stat(path)).size);
  const chunks = await query(
    `SELECT column_id, total_compressed_size, row_group_id, coalesce(least(dictionary_page_offset, data_page_offset), data_page_offset) AS start FROM parquet_metadata(${sqlString(path)})`,
  );
  const starts = new Map<number, number>();
  for (const c of chunks) {
    const g = Number(c.row_group_id);
    starts.set(g, Math.min(starts.get(g) ?? Number(c.start), Number(c.start)));
  }
  assert.deepEqual(
    file.splitOffsets,
    [...starts.values()].sort((a, b) => a - b),
  );
  const total = [...(file.columnSizes?.values() ?? [])].reduce((a, b) => a + b, 0);
  assert.equal(
    total,
    chunks.reduce((sum, c) => sum + Number(c.total_compressed_size), 0),
  );
  const count = await query(`SELECT count(*) AS n FROM read_parquet(${sqlString(path)})`);
  assert.equal(Number(count[0]!.n), file.recordCount);
}

const primitives: NestedField[] = [
  field(1, "b", { kind: "boolean" }),
  field(2, "i", { kind: "int" }),
  field(3, "l", { kind: "long" }, true),
  field(4, "f", { kind: "float" }),
  field(5, "d", { kind: "double" }),
  field(6, "dec", { kind: "decimal", precision: 12, scale: 2 }),
  field(7, "big", { kind: "decimal", precision: 38, scale: 10 }),
  field(8, "day", { kind: "date" }),
  field(9, "tm", { kind: "time" }),
  field(10, "ts", { kind: "timestamp" }),
  field(11, "tstz", { kind: "timestamptz" }),
  field(12, "s", { kind: "string" }),
  field(13, "u", { kind: "uuid" }),
  field(14, "bin", { kind: "binary" }),
  field(15, "fx", { kind: "fixed", length: 4 }),
];

function primitiveRows(count: number): Row[] {
  const rows: Row[] = [];
  for (let k = 0; k < count; k++) {
    const n = (k * 7919) % 1009;
    const nullable = (v: unknown) => (k % 11 === 3 ? null : v);
    rows.push({
      b: nullable(k % 3 === 0),
      i: nullable(n - 500),
      l: BigInt(n) * 1_000_000_000_000n - 7n,
      f: nullable(k % 13 === 0 ? Number.NaN : (n - 300) / 7),
      d: nullable(k === 5 ? Number.NEGATIVE_INFINITY : k % 17 === 0 ? Number.NaN : n * 1.000001 - 400.5),
      dec: nullable(k % 2 === 0 ? BigInt(n * 101 - 50_000) : `${n}.5`),
      big: nullable(BigInt(n) * 10n ** 25n + 12345n),
      day: nullable(n * 40 - 20_000),
      tm: nullable(BigInt(n) * 85_000_000n + 123n),
      ts: nullable(BigInt(n - 500) * 86_400_000_000n + 1n),
      tstz: nullable(BigInt(n) * 3_600_000_001n - 10n),
      s: nullable(`v${"é".repeat(n % 3)}-${n}`),
      u: nullable(`${n.toString(16).padStart(8, "0")}-0000-4000-8000-00000000000${k % 10}`),
      bin: nullable(Uint8Array.of(n % 256, 255 - (n % 256), k % 2)),
      fx: nullable(Uint8Array.of(1, 2, n % 256, 0xff)),
    });
  }
  return rows;
}

describe("writeDataFiles", () => {
  it("writes every primitive type exactly, with field ids and exact metrics", async () => {
    const schema = new Schema(0, primitives);
    const rows = primitiveRows(3000);
    const location = freshLocation();
    const files = await writeDataFiles({ schema, spec: unpartitioned, rows, io, location });
    assert.equal(files.length, 1);
    const file = files[0]!;
    assert.equal(file.content, DataFileContent.DATA);
    assert.equal(file.fileFormat, "parquet");
    assert.equal(file.recordCount, rows.length);
    assert.match(file.filePath, new RegExp(`^${location}/[0-9a-f-]{36}-00000\\.parquet$`));
    assert.deepEqual(file.partition, {});
    const expected = rows.map((row) =>
      Object.fromEntries(
        primitives.map((f) => {
          const v = row[f.name] ?? null;
          if (v === null) return [f.name, null];
          if (f.type.kind === "float") return [f.name, Math.fround(v as number)];
          if (f.type.kind === "decimal" && typeof v === "string")
            return [f.name, BigInt(v.replace(".", "")) * 10n];
          return [f.name, v];
        }),
      ),
    );
    assert.deepEqual(await readRows(file, primitives), expected);
    assert.deepEqual(
      await fieldIdsOf(file),
      primitives.map((f) => [f.name, f.id]),
    );
    for (const f of primitives) {
      checkColumnMetrics(
        { ...file },
        f,
        expected.map((r) => r[f.name]),
      );
    }
    await checkFileFacts(file);
  });

  it("writes nested structs, lists and maps with ids on every child and no bounds under lists/maps", async () => {
    const point = {
      kind: "struct",
      fields: [field(5, "x", { kind: "double" }), field(6, "y", { kind: "string" })],
    };
    const fields = [
      field(1, "id", { kind: "long" }, true),
      field(2, "info", {
        kind: "struct",
        fields: [field(3, "name", { kind: "string" }), field(4, "where", point as IcebergType)],
      }),
      field(7, "tags", { kind: "list", elementId: 8, elementRequired: false, element: { kind: "double" } }),
      field(9, "props", {
        kind: "map",
        keyId: 10,
        key: { kind: "string" },
        valueId: 11,
        valueRequired: false,
        value: { kind: "list", elementId: 12, elementRequired: true, element: { kind: "uuid" } },
      }),
    ];
    const schema = new Schema(0, fields);
    const rows: Row[] = [
      {
        id: 1n,
        info: { name: "a", where: { x: 1.5, y: "p" } },
        tags: [1, Number.NaN, 3],
        props: new Map([["k", ["00000000-0000-0000-0000-00000000000a"]]]),
      },
      { id: 2n, info: null, tags: [], props: new Map() },
      { id: 3n, info: { name: null, where: { x: Number.NaN, y: "z" } }, tags: null, props: null },
      { id: 4n, info: { name: "b", where: null }, tags: [Number.NaN, null], props: new Map([["q", null]]) },
    ];
    const [file] = await writeDataFiles({ schema, spec: unpartitioned, rows, io, location: freshLocation() });
    assert.ok(file);
    assert.deepEqual(await readRows(file, fields), [
      { ...rows[0], tags: [1, Number.NaN, 3] },
      rows[1],
      { ...rows[2], info: { name: null, where: { x: Number.NaN, y: "z" } } },
      { ...rows[3], info: { name: "b", where: null } },
    ]);
    assert.deepEqual(await fieldIdsOf(file), [
      ["id", 1],
      ["info", 2],
      ["name", 3],
      ["where", 4],
      ["x", 5],
      ["y", 6],
      ["tags", 7],
      ["list", null],
      ["element", 8],
      ["props", 9],
      ["key_value", null],
      ["key", 10],
      ["value", 11],
      ["list", null],
      ["element", 12],
    ]);
    assert.deepEqual(
      file.nanValueCounts,
      new Map([
        [5, 1],
        [8, 2],
      ]),
    );
    assert.deepEqual(
      [...file.lowerBounds!.keys()].sort((a, b) => a - b),
      [1, 3, 5, 6],
    );
    assert.deepEqual(fromBinary({ kind: "double" }, file.lowerBounds!.get(5)!), 1.5);
    assert.deepEqual(fromBinary({ kind: "string" }, file.upperBounds!.get(6)!), "z");
    assert.equal(file.nullValueCounts!.get(3), 2); // info null in row 2, name null in row 3
    assert.equal(file.valueCounts!.get(1), 4);
    await checkFileFacts(file);
  });

  it("groups rows by partition and writes them under the partition path", async () => {
    const schema = new Schema(0, [field(1, "id", { kind: "long" }), field(2, "cat", { kind: "string" })]);
    const spec: PartitionSpec = {
      specId: 1,
      fields: [
        { sourceId: 2, fieldId: 1000, name: "cat", transform: parseTransform("identity") },
        { sourceId: 1, fieldId: 1001, name: "id_bucket", transform: parseTransform("bucket[2]") },
      ],
    };
    const rows = Array.from({ length: 40 }, (_, k) => ({ id: BigInt(k), cat: k % 3 === 0 ? "a b" : null }));
    const location = freshLocation();
    const files = await writeDataFiles({ schema, spec, rows, io, location });
    assert.equal(
      files.reduce((n, f) => n + f.recordCount, 0),
      rows.length,
    );
    const seen = new Set<string>();
    for (const file of files) {
      const partition = file.partition;
      const key = JSON.stringify(partition);
      assert.equal(seen.has(key), false, "one file per partition");
      seen.add(key);
      const dir = `cat=${partition.cat === null ? "null" : "a+b"}/id_bucket=${partition.id_bucket}`;
      assert.ok(file.filePath.startsWith(`${location}/${dir}/`), file.filePath);
      const back = await readRows(file, schema.fields);
      for (const row of back) assert.equal(row.cat, partition.cat);
    }
    assert.equal(files.length, 4);
  });

  it("rolls to a new file past the target size, with exact per-file metrics", async () => {
    const fields = [
      field(1, "id", { kind: "long" }, true),
      field(2, "d", { kind: "double" }),
      field(3, "s", { kind: "string" }),
    ];
    const schema = new Schema(0, fields);
    const rows = Array.from({ length: 20_000 }, (_, k) => ({
      id: BigInt(k),
      d: k % 7 === 0 ? Number.NaN : k / 3,
      s: `row-${(k * 7919) % 20_000}-${"x".repeat(k % 50)}`,
    }));
    const files = await writeDataFiles({
      schema,
      spec: unpartitioned,
      rows,
      io,
      location: freshLocation(),
      properties: { "write.target-file-size-bytes": "40000", "write.metadata.metrics.default": "full" },
      rowGroupRows: 1000,
    });
    assert.ok(files.length > 2, `expected several files, got ${files.length}`);
    assert.equal(
      files.reduce((n, f) => n + f.recordCount, 0),
      rows.length,
    );
    const all: Row[] = [];
    for (const file of files) {
      const back = await readRows(file, fields);
      all.push(...back);
      assert.equal(back.length, file.recordCount);
      for (const f of fields)
        checkColumnMetrics(
          file,
          f,
          back.map((r) => r[f.name]),
        );
      await checkFileFacts(file);
    }
    all.sort((a, b) => Number((a.id as bigint) - (b.id as bigint)));
    assert.deepEqual(all, rows);
  });

  it("honours metrics modes: truncate(16) default, full, counts, none and per-column overrides", async () => {
    const fields = [
      field(1, "s", { kind: "string" }),
      field(2, "bin", { kind: "binary" }),
      field(3, "n", { kind: "int" }),
      field(4, "t", { kind: "string" }),
    ];
    const schema = new Schema(0, fields);
    const long = (c: string, tail: string) => `${c.repeat(400)}${tail}`;
    const rows = [
      { s: long("a", "1"), bin: new Uint8Array(300).fill(7), n: 1, t: "short" },
      { s: long("a", "2"), bin: new Uint8Array(300).fill(0xff), n: 5, t: long("é", "z") },
      { s: "abc", bin: Uint8Array.of(1), n: 3, t: "m" },
    ];
    const write = (properties: Record<string, string>) =>
      writeDataFiles({ schema, spec: unpartitioned, rows, io, location: freshLocation(), properties }).then(
        (f) => f[0]!,
      );
    const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

    const truncated = await write({});
    assert.equal(text(truncated.lowerBounds!.get(1)), "a".repeat(16));
    assert.equal(text(truncated.upperBounds!.get(1)), "abc"); // "abc" sorts after every "aaa…"
    assert.deepEqual(truncated.lowerBounds!.get(2), Uint8Array.of(1));
    assert.equal(truncated.upperBounds!.has(2), false, "16 bytes of 0xff cannot be incremented");
    assert.equal(text(truncated.upperBounds!.get(4)), `${"é".repeat(15)}ê`);
    assert.equal(text(truncated.lowerBounds!.get(4)), "m");

    const full = await write({ "write.metadata.metrics.default": "full" });
    assert.equal(text(full.lowerBounds!.get(1)), long("a", "1"));
    assert.equal(text(full.upperBounds!.get(1)), "abc");
    assert.equal(text(full.upperBounds!.get(4)), long("é", "z"));
    assert.deepEqual(full.upperBounds!.get(2), new Uint8Array(300).fill(0xff));

    const mixed = await write({
      "write.metadata.metrics.default": "counts",
      "write.metadata.metrics.column.n": "full",
      "write.metadata.metrics.column.t": "none",
    });
    assert.deepEqual([...mixed.lowerBounds!.keys()], [3]);
    assert.equal(fromBinary({ kind: "int" }, mixed.upperBounds!.get(3)!), 5);
    assert.deepEqual([...mixed.valueCounts!.keys()].sort(), [1, 2, 3]);
    assert.equal(mixed.columnSizes!.has(4), false);

    const none = await write({ "write.metadata.metrics.default": "none" });
    assert.equal(none.valueCounts, undefined);
    assert.equal(none.lowerBounds, undefined);
    assert.equal(none.columnSizes, undefined);
    assert.equal(none.recordCount, 3);
  });

  it("refuses a bad value with DATA_INVALID naming column and row, leaving no file behind", async () => {
    const schema = new Schema(0, [
      field(1, "id", { kind: "long" }, true),
      field(2, "s", { kind: "struct", fields: [field(3, "n", { kind: "int" })] }),
      field(4, "u", { kind: "uuid" }),
    ]);
    const location = freshLocation();
    const cases: [Row[], RegExp][] = [
      [[{ id: 1n }, { id: 2n, s: { n: 2 ** 31 } }], /column 's\.n' in row 1: int needs a 32-bit integer/],
      [[{ id: 1n }, { id: null }], /column 'id' in row 1: is required/],
      [[{ id: 1n, u: "not-a-uuid" }], /column 'u' in row 0/],
      [[{ id: 2n ** 63n }], /column 'id' in row 0/],
    ];
    for (const [rows, message] of cases) {
      await assert.rejects(
        writeDataFiles({ schema, spec: unpartitioned, rows, io, location }),
        (error: unknown) =>
          error instanceof IcebergError && error.code === "DATA_INVALID" && message.test(error.message),
      );
    }
    await assert.rejects(readdir(localPathOf(location)), { code: "ENOENT" });
  });
});

describe("delete files", () => {
  it("writes position deletes sorted by file_path and pos with reserved field ids", async () => {
    const schema = new Schema(0, [field(1, "id", { kind: "long" })]);
    const location = freshLocation();
    const deletes = [
      { filePath: "file:///t/data/b.parquet", pos: 7n },
      { filePath: "file:///t/data/a.parquet", pos: 9 },
      { filePath: "file:///t/data/b.parquet", pos: 1n },
      { filePath: "file:///t/data/a.parquet", pos: 2n },
    ];
    const [file] = await writePositionDeletes({ schema, spec: unpartitioned, deletes, io, location });
    assert.ok(file);
    assert.equal(file.content, DataFileContent.POSITION_DELETES);
    assert.equal(file.referencedDataFile, undefined);
    assert.equal(file.recordCount, 4);
    const back = await readRows(file, [DELETE_FILE_PATH_FIELD, DELETE_FILE_POS_FIELD]);
    assert.deepEqual(back, [
      { file_path: "file:///t/data/a.parquet", pos: 2n },
      { file_path: "file:///t/data/a.parquet", pos: 9n },
      { file_path: "file:///t/data/b.parquet", pos: 1n },
      { file_path: "file:///t/data/b.parquet", pos: 7n },
    ]);
    assert.deepEqual(await fieldIdsOf(file), [
      ["file_path", 2147483546],
      ["pos", 2147483545],
    ]);
    checkColumnMetrics(
      file,
      DELETE_FILE_PATH_FIELD,
      back.map((r) => r.file_path),
    );
    checkColumnMetrics(
      file,
      DELETE_FILE_POS_FIELD,
      back.map((r) => r.pos),
    );
    // Full metrics: a long path is not truncated, so readers can tell which file is referenced.
    const path = `file:///t/data/${"p".repeat(40)}.parquet`;
    const [single] = await writePositionDeletes({
      schema,
      spec: unpartitioned,
      deletes: [
        { filePath: path, pos: 3n },
        { filePath: path, pos: 1n },
      ],
      io,
      location,
    });
    assert.equal(single!.referencedDataFile, path);
    assert.equal(new TextDecoder().decode(single!.upperBounds!.get(2147483546)), path);
    await checkFileFacts(single!);
  });

  it("writes equality deletes with the equality columns' table ids", async () => {
    const schema = new Schema(0, [
      field(1, "id", { kind: "long" }, true),
      field(2, "name", { kind: "string" }),
      field(3, "k", {
        kind: "struct",
        fields: [field(4, "region", { kind: "string" }), field(5, "x", { kind: "int" })],
      }),
    ]);
    const spec: PartitionSpec = {
      specId: 0,
      fields: [{ sourceId: 2, fieldId: 1000, name: "name", transform: parseTransform("identity") }],
    };
    const rows = [
      { id: 1n, name: "a", k: { region: "eu", x: 1 } },
      { id: 2n, name: "b", k: { region: "us", x: 2 } },
      { id: 3n, name: "a", k: { region: "ap", x: 3 } },
    ];
    const files = await writeEqualityDeletes({
      schema,
      spec,
      equalityIds: [1, 4],
      rows,
      io,
      location: freshLocation(),
    });
    assert.equal(files.length, 2);
    const projected = [
      field(1, "id", { kind: "long" }, true),
      field(3, "k", { kind: "struct", fields: [field(4, "region", { kind: "string" })] }),
    ];
    const a = files.find((f) => f.partition.name === "a")!;
    assert.equal(a.content, DataFileContent.EQUALITY_DELETES);
    assert.deepEqual(a.equalityIds, [1, 4]);
    assert.match(a.filePath, /\/name=a\//);
    assert.deepEqual(await readRows(a, projected), [
      { id: 1n, k: { region: "eu" } },
      { id: 3n, k: { region: "ap" } },
    ]);
    assert.deepEqual(await fieldIdsOf(a), [
      ["id", 1],
      ["k", 3],
      ["region", 4],
    ]);
    assert.equal(fromBinary({ kind: "long" }, a.upperBounds!.get(1)!), 3n);
    assert.equal(fromBinary({ kind: "string" }, a.lowerBounds!.get(4)!), "ap");
    await checkFileFacts(a);
  });
});
