/**
 * What the sink reads back from a table's data files: the key and physical position (`file_row_number`)
 * of every live row, streamed file by file to build the key index, and whole rows at known positions
 * (the stored values an update with unchanged TOAST columns keeps). Columns are matched by field id,
 * as the table reader does, and each data file's own position and equality deletes are applied.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api";
import type { LoadedTable } from "../catalog/catalog.ts";
import { type DataFile, DataFileContent } from "../iceberg/data-file.ts";
import { duckDbTypeOf, sqlIdentifier, sqlString, withDuckDb } from "../iceberg/duckdb.ts";
import type { PartitionSpec, PartitionValues } from "../iceberg/partitioning.ts";
import { fromDuckDbValue } from "../iceberg/reader.ts";
import { planScan } from "../iceberg/scan.ts";
import type { Schema } from "../iceberg/schema.ts";
import type { NestedField } from "../iceberg/types.ts";
import { localPathOf } from "../io/local-file-io.ts";
import type { Row } from "./change.ts";
import type { RowLocation } from "./key-index.ts";

const column = (id: number) => sqlIdentifier(`c${id}`);

function readParquet(path: string, fields: readonly NestedField[]): string {
  const entries = fields.map(
    (f) =>
      `${f.id}: {name: ${sqlString(`c${f.id}`)}, type: ${sqlString(duckDbTypeOf(f.type))}, default_value: NULL}`,
  );
  return `read_parquet([${sqlString(path)}], schema = MAP {${entries.join(", ")}}, hive_partitioning = false, file_row_number = true)`;
}

/** Local paths for file locations; remote files are downloaded to a temp dir removed by `cleanup`. */
class LocalFiles {
  readonly #io: LoadedTable["io"];
  readonly #paths = new Map<string, string>();
  #dir: string | undefined;
  constructor(io: LoadedTable["io"]) {
    this.#io = io;
  }
  async path(location: string): Promise<string> {
    if (location.startsWith("file:")) return localPathOf(location);
    let path = this.#paths.get(location);
    if (path === undefined) {
      this.#dir ??= await mkdtemp(join(tmpdir(), "floe-sink-read-"));
      path = join(this.#dir, `${this.#paths.size}-${basename(location).replace(/[^A-Za-z0-9._-]/g, "_")}`);
      await this.#io.downloadToFile(location, path);
      this.#paths.set(location, path);
    }
    return path;
  }
  async cleanup(): Promise<void> {
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}

function fieldById(table: LoadedTable, schema: Schema, id: number): NestedField | undefined {
  const found = schema.fields.find((f) => f.id === id);
  if (found) return found;
  for (const s of [...table.metadata.schemas].reverse()) {
    const field = s.fields.find((f) => f.id === id);
    if (field) return field;
  }
  return undefined;
}

/** One data file and the delete files that apply to it (a scan task, or a file of this round: none). */
interface FileWithDeletes {
  dataFilePath: string;
  deletes: readonly DataFile[];
}

/** SQL selecting `fields` + `file_row_number` of one data file's live rows (its deletes applied). */
async function liveRowsSql(
  table: LoadedTable,
  schema: Schema,
  task: FileWithDeletes,
  fields: readonly NestedField[],
  files: LocalFiles,
  where = "",
): Promise<string> {
  const equalityIds = new Set<number>();
  for (const d of task.deletes) for (const id of d.equalityIds ?? []) equalityIds.add(id);
  const inner = [...fields];
  for (const id of equalityIds) {
    if (!inner.some((f) => f.id === id)) {
      const field = fieldById(table, schema, id);
      if (field) inner.push(field);
    }
  }
  const conditions: string[] = [];
  if (where) conditions.push(where);
  const positionDeletes = task.deletes.filter((d) => d.content === DataFileContent.POSITION_DELETES);
  if (positionDeletes.length > 0) {
    const paths = await Promise.all(positionDeletes.map((d) => files.path(d.filePath)));
    conditions.push(
      `d.file_row_number NOT IN (SELECT pos FROM read_parquet([${paths.map(sqlString).join(", ")}]) WHERE file_path = ${sqlString(task.dataFilePath)})`,
    );
  }
  const byIds = new Map<string, DataFile[]>();
  for (const file of task.deletes) {
    if (file.content !== DataFileContent.EQUALITY_DELETES) continue;
    const key = (file.equalityIds ?? []).join(",");
    byIds.set(key, [...(byIds.get(key) ?? []), file]);
  }
  for (const group of byIds.values()) {
    const ids = group[0]!.equalityIds ?? [];
    const eqFields = ids.map((id) => inner.find((f) => f.id === id)!);
    for (const file of group) {
      const match = ids.map((id) => `e.${column(id)} IS NOT DISTINCT FROM d.${column(id)}`).join(" AND ");
      conditions.push(
        `NOT EXISTS (SELECT 1 FROM ${readParquet(await files.path(file.filePath), eqFields)} e WHERE ${match})`,
      );
    }
  }
  const select = [...fields.map((f) => `d.${column(f.id)}`), "d.file_row_number"].join(", ");
  const from = readParquet(await files.path(task.dataFilePath), inner);
  return `SELECT ${select} FROM ${from} d${conditions.length ? ` WHERE ${conditions.join(" AND ")}` : ""}`;
}

export interface LiveKeyBatch {
  filePath: string;
  /** The data file's spec and partition tuple: where position deletes against it must go. */
  spec: PartitionSpec;
  partition: PartitionValues;
  /** Key column values (Floe representation, by field name) with the row's position. */
  rows: { key: Row; pos: number }[];
}

/**
 * Hands the key columns and positions of every live row of the table's current main snapshot (or of
 * `onlyDataFiles` of it) to `onBatch`, data file by data file in DuckDB chunks of up to 2048 rows: one
 * chunk in memory at a time, however large the table.
 */
export async function forEachLiveKeyBatch(
  table: LoadedTable,
  keyFields: readonly NestedField[],
  onBatch: (batch: LiveKeyBatch) => Promise<void>,
  onlyDataFiles?: ReadonlySet<string>,
): Promise<void> {
  const plan = await planScan(table);
  const files = new LocalFiles(table.io);
  try {
    await withDuckDb(async (connection: DuckDBConnection) => {
      for (const task of plan.tasks) {
        if (onlyDataFiles && !onlyDataFiles.has(task.dataFile.filePath)) continue;
        const file = { dataFilePath: task.dataFile.filePath, deletes: task.deletes };
        const sql = await liveRowsSql(table, plan.schema, file, keyFields, files);
        const result = await connection.stream(sql);
        for await (const rows of result.yieldRows()) {
          await onBatch({
            filePath: task.dataFile.filePath,
            spec: task.spec,
            partition: task.partition,
            rows: toKeyRows(keyFields, rows),
          });
        }
      }
    });
  } finally {
    await files.cleanup();
  }
}

function toKeyRows(fields: readonly NestedField[], rows: DuckDBValue[][]): { key: Row; pos: number }[] {
  return rows.map((values) => {
    const key: Row = {};
    fields.forEach((f, i) => {
      key[f.name] = fromDuckDbValue(f.type, values[i] ?? null);
    });
    return { key, pos: Number(values[fields.length]) };
  });
}

export const locationKey = (location: RowLocation) => `${location.pos}\u0000${location.filePath}`;

/**
 * The rows at `locations` (every column of `schema`), keyed by `locationKey`; a location whose row is
 * deleted is left out. Files not in the table's current snapshot (this round's) are read as they are.
 */
export async function readRowsAt(
  table: LoadedTable,
  schema: Schema,
  locations: readonly RowLocation[],
): Promise<Map<string, Row>> {
  const found = new Map<string, Row>();
  if (locations.length === 0) return found;
  const byFile = new Map<string, number[]>();
  for (const l of locations) {
    const positions = byFile.get(l.filePath);
    if (positions) positions.push(l.pos);
    else byFile.set(l.filePath, [l.pos]);
  }
  const plan = await planScan(table);
  const tasks = new Map(plan.tasks.map((t) => [t.dataFile.filePath, t]));
  const files = new LocalFiles(table.io);
  try {
    for (const [filePath, positions] of byFile) {
      // A file of this round is not in the plan yet, and no deletes apply to it.
      const task = { dataFilePath: filePath, deletes: tasks.get(filePath)?.deletes ?? [] };
      const where = `d.file_row_number IN (${positions.join(", ")})`;
      const sql = await liveRowsSql(table, schema, task, schema.fields, files, where);
      const rows = await withDuckDb(async (connection) => (await connection.runAndReadAll(sql)).getRows());
      for (const values of rows) {
        const row: Row = {};
        schema.fields.forEach((f, i) => {
          row[f.name] = fromDuckDbValue(f.type, values[i] ?? null);
        });
        found.set(locationKey({ filePath, pos: Number(values[schema.fields.length]) }), row);
      }
    }
  } finally {
    await files.cleanup();
  }
  return found;
}

/** The key and position of every row of one data file, deletes ignored (a file this round wrote). */
export async function fileKeys(
  table: LoadedTable,
  schema: Schema,
  filePath: string,
  keyFields: readonly NestedField[],
): Promise<{ key: Row; pos: number }[]> {
  const files = new LocalFiles(table.io);
  try {
    const sql = await liveRowsSql(table, schema, { dataFilePath: filePath, deletes: [] }, keyFields, files);
    const rows = await withDuckDb(async (connection) => (await connection.runAndReadAll(sql)).getRows());
    return toKeyRows(keyFields, rows);
  } finally {
    await files.cleanup();
  }
}
