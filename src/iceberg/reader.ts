/**
 * Reading an Iceberg table's rows with DuckDB (DESIGN principle 4): plans the scan (scan.ts), makes every
 * file readable locally (`file:` paths directly, anything else downloaded to a temp directory), and builds
 * one SQL query that reads each data file with `read_parquet(..., schema = MAP{field id → column})` — so
 * columns are matched BY FIELD ID: renamed and reordered columns read right, columns added later read as
 * their `initial-default` or null, promoted types are cast — anti-joins position deletes on
 * (file_path, `file_row_number`) and equality deletes with null-safe `IS NOT DISTINCT FROM`, and applies
 * the row filter as a residual.
 *
 * Rows in JS (`readTable`, `readTableBatches`) use Floe's value representation, the one the Parquet writer
 * takes: boolean → boolean; int, date (days since epoch) → number; long, time (µs), timestamp/timestamptz
 * (µs) and the `_ns` timestamps (ns) → bigint; float/double → number; decimal → string (`"12.50"`);
 * string, uuid → string; binary/fixed → Uint8Array; struct → object by field name; list → array;
 * map → Map. Nested struct fields are matched by name (DuckDB's field-id mapping is top-level only).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api";
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  type DuckDBListValue,
  type DuckDBMapValue,
  type DuckDBStructValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBUUIDValue,
} from "@duckdb/node-api";
import { localPathOf } from "../io/local-file-io.ts";
import { decimalToString, fromJsonValue, type PrimitiveValue } from "./conversions.ts";
import { type DataFile, DataFileContent } from "./data-file.ts";
import { POSITION_DELETE_FILE_PATH_ID, POSITION_DELETE_POS_ID } from "./delete-file-index.ts";
import { duckDbTypeOf, sqlIdentifier, sqlString, withDuckDb } from "./duckdb.ts";
import { IcebergError } from "./errors.ts";
import { type BoundReference, duckDbLiteral, referencedFieldIds, toDuckDbSql } from "./expressions.ts";
import {
  type FileScanTask,
  mapWithConcurrency,
  planScan,
  type ScanOptions,
  type ScanPlan,
  type ScanTable,
} from "./scan.ts";
import type { Schema } from "./schema.ts";
import { type IcebergType, isPrimitive, type NestedField } from "./types.ts";

/** One row: top-level column name → value in Floe's representation (see the module comment). */
export type Row = Record<string, unknown>;

export interface ReadOptions extends ScanOptions {
  /** Top-level columns to return, by name; all columns of the scan's schema by default. */
  columns?: string[];
  /** Where remote files are downloaded; a fresh directory under the OS temp dir by default. */
  tempDir?: string;
  /** Remote files downloaded at once; 8 by default. */
  downloadConcurrency?: number;
}

/** A registered scan: the view's name and columns, the plan behind it, and how to drop it. */
export interface ScanView {
  viewName: string;
  plan: ScanPlan;
  /** The view's columns: the selected top-level fields of the scan's schema, in order. */
  columns: NestedField[];
  /** Drops the view and deletes downloaded files. */
  release(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Types.

/** The DuckDB type Floe reads an Iceberg type as (nested types with Iceberg's field names). */

/** Converts one DuckDB value of a column of `type` to Floe's representation. */
export function fromDuckDbValue(type: IcebergType, value: DuckDBValue): unknown {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "struct": {
      const entries = (value as DuckDBStructValue).entries;
      const out: Record<string, unknown> = {};
      for (const field of type.fields)
        out[field.name] = fromDuckDbValue(field.type, entries[field.name] ?? null);
      return out;
    }
    case "list":
      return (value as DuckDBListValue).items.map((item) => fromDuckDbValue(type.element, item));
    case "map":
      return new Map(
        (value as DuckDBMapValue).entries.map((e) => [
          fromDuckDbValue(type.key, e.key),
          fromDuckDbValue(type.value, e.value),
        ]),
      );
    case "long":
      return typeof value === "bigint" ? value : BigInt(value as number);
    case "int":
      return typeof value === "bigint" ? Number(value) : value;
    case "date":
      return value instanceof DuckDBDateValue ? value.days : value;
    case "time":
      return value instanceof DuckDBTimeValue ? value.micros : value;
    case "timestamp":
    case "timestamptz":
      if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue)
        return value.micros;
      return value;
    case "timestamp_ns":
    case "timestamptz_ns":
      return value instanceof DuckDBTimestampNanosecondsValue ? value.nanos : value;
    case "decimal":
      return value instanceof DuckDBDecimalValue ? decimalToString(value.value, type.scale) : String(value);
    case "uuid":
      return value instanceof DuckDBUUIDValue ? value.toString() : String(value);
    case "binary":
    case "fixed":
      return value instanceof DuckDBBlobValue ? Uint8Array.from(value.bytes) : value;
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------------------------------------
// SQL.

const columnName = (fieldId: number) => `c${fieldId}`;

/** A `read_parquet` call over `paths` that maps columns by field id to `c<id>` names. */
function readParquetSql(paths: readonly string[], fields: readonly NestedField[]): string {
  const entries = fields.map((field) => {
    let defaultValue = "NULL";
    if (field.initialDefault !== undefined && isPrimitive(field.type)) {
      const value = fromJsonValue(field.type, field.initialDefault) as PrimitiveValue | null;
      // Defaults of different columns must share one SQL type in the MAP, so they travel as text.
      if (value !== null) defaultValue = `CAST(${duckDbLiteral(field.type, value)} AS VARCHAR)`;
    }
    return `${field.id}: {name: ${sqlString(columnName(field.id))}, type: ${sqlString(duckDbTypeOf(field.type))}, default_value: ${defaultValue}}`;
  });
  // Data files sit under Hive-style partition directories; their path must never become a column.
  return `read_parquet([${paths.map(sqlString).join(", ")}], schema = MAP {${entries.join(", ")}}, hive_partitioning = false)`;
}

const positionDeleteFields: NestedField[] = [
  { id: POSITION_DELETE_FILE_PATH_ID, name: "file_path", required: true, type: { kind: "string" } },
  { id: POSITION_DELETE_POS_ID, name: "pos", required: true, type: { kind: "long" } },
];

export interface ScanSqlInput {
  plan: ScanPlan;
  /** Top-level fields the query returns (named as the schema names them). */
  columns: readonly NestedField[];
  /** Every field the equality deletes compare, looked up across the table's schemas. */
  fieldById: (fieldId: number) => NestedField | undefined;
  /** The local path DuckDB reads a file location from. */
  localPath: (location: string) => string;
}

/** The SQL of a scan: a SELECT returning `columns` with deletes and the residual filter applied. */
export function scanSql(input: ScanSqlInput): string {
  const { plan, columns, localPath } = input;
  const schema = plan.schema;
  // Top-level fields the inner reads must produce: returned columns, filter inputs, equality columns.
  const innerIds = new Set<number>(columns.map((f) => f.id));
  const topLevelId = (id: number) => (schema.parentIds(id) ?? [])[0] ?? id;
  if (plan.filter) for (const id of referencedFieldIds(plan.filter)) innerIds.add(topLevelId(id));
  for (const task of plan.tasks) {
    for (const file of task.deletes) for (const id of file.equalityIds ?? []) innerIds.add(id);
  }
  const innerFields = [...innerIds].map((id) => {
    const field = schema.fields.find((f) => f.id === id) ?? input.fieldById(id);
    if (!field) throw new IcebergError("DATA_INVALID", `field id ${id} is in no schema of the table`);
    return field;
  });
  const innerList = innerFields.map((f) => `d.${sqlIdentifier(columnName(f.id))}`).join(", ");
  const outerList = columns.map((f) => `${sqlIdentifier(columnName(f.id))} AS ${sqlIdentifier(f.name)}`);

  if (plan.tasks.length === 0) {
    const empty = columns.map((f) => `CAST(NULL AS ${duckDbTypeOf(f.type)}) AS ${sqlIdentifier(f.name)}`);
    return `SELECT ${empty.join(", ") || "NULL AS _empty"} WHERE FALSE`;
  }

  // Tasks with the same deletes read together: one read_parquet over all their files.
  const groups = new Map<string, FileScanTask[]>();
  for (const task of plan.tasks) {
    const key = task.deletes
      .map((d) => d.filePath)
      .sort()
      .join("\n");
    const group = groups.get(key);
    if (group) group.push(task);
    else groups.set(key, [task]);
  }

  const parts = [...groups.values()].map((tasks) => {
    const deletes = tasks[0]!.deletes;
    const dataPaths = tasks.map((t) => localPath(t.dataFile.filePath));
    let sql = `SELECT ${innerList} FROM ${readParquetSql(dataPaths, innerFields)} d`;
    const positionDeletes = deletes.filter((d) => d.content === DataFileContent.POSITION_DELETES);
    if (positionDeletes.length > 0) {
      const mapping = tasks
        .map((t) => `(${sqlString(t.dataFile.filePath)}, ${sqlString(localPath(t.dataFile.filePath))})`)
        .join(", ");
      const deleteRead = readParquetSql(
        positionDeletes.map((d) => localPath(d.filePath)),
        positionDeleteFields,
      );
      sql +=
        ` ANTI JOIN (SELECT m.local_path, p.${columnName(POSITION_DELETE_POS_ID)} AS pos FROM ${deleteRead} p` +
        ` JOIN (VALUES ${mapping}) m(uri, local_path) ON p.${columnName(POSITION_DELETE_FILE_PATH_ID)} = m.uri) pd` +
        " ON pd.local_path = d.filename AND pd.pos = d.file_row_number";
    }
    const conditions: string[] = [];
    const byEqualityIds = new Map<string, DataFile[]>();
    for (const file of deletes) {
      if (file.content !== DataFileContent.EQUALITY_DELETES) continue;
      const key = [...(file.equalityIds ?? [])].join(",");
      const list = byEqualityIds.get(key);
      if (list) list.push(file);
      else byEqualityIds.set(key, [file]);
    }
    for (const files of byEqualityIds.values()) {
      const ids = files[0]!.equalityIds ?? [];
      const fields = ids.map((id) => innerFields.find((f) => f.id === id)!);
      const read = readParquetSql(
        files.map((f) => localPath(f.filePath)),
        fields,
      );
      const match = ids
        .map(
          (id) =>
            `e.${sqlIdentifier(columnName(id))} IS NOT DISTINCT FROM d.${sqlIdentifier(columnName(id))}`,
        )
        .join(" AND ");
      conditions.push(`NOT EXISTS (SELECT 1 FROM ${read} e WHERE ${match})`);
    }
    if (conditions.length > 0) sql += ` WHERE ${conditions.join(" AND ")}`;
    return sql;
  });

  const residual = plan.filter
    ? ` WHERE ${toDuckDbSql(plan.filter, (ref) => residualColumn(schema, ref))}`
    : "";
  return `SELECT ${outerList.join(", ")} FROM (${parts.join(" UNION ALL ")}) t${residual}`;
}

/** A filter reference over the inner `c<id>` columns: `"c3"` or `"c3"."city"` for a struct field. */
function residualColumn(schema: Schema, ref: BoundReference): string {
  const chain = [...(schema.parentIds(ref.fieldId) ?? []), ref.fieldId];
  const [top, ...rest] = chain;
  return [columnName(top!), ...rest.map((id) => schema.findField(id)!.name)].map(sqlIdentifier).join(".");
}

function checkEqualityDeletes(plan: ScanPlan): void {
  for (const task of plan.tasks) {
    for (const file of task.deletes) {
      if (file.fileFormat !== "parquet") {
        throw new IcebergError(
          "FEATURE_UNSUPPORTED",
          `delete file ${file.filePath} is ${file.fileFormat}; Floe reads Parquet delete files only`,
        );
      }
      for (const id of file.equalityIds ?? []) {
        if ((plan.schema.parentIds(id) ?? []).length > 0) {
          throw new IcebergError(
            "FEATURE_UNSUPPORTED",
            `equality delete ${file.filePath} compares nested field ${id}; Floe supports top-level equality fields`,
          );
        }
      }
    }
    if (task.dataFile.fileFormat !== "parquet") {
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `data file ${task.dataFile.filePath} is ${task.dataFile.fileFormat}; Floe reads Parquet data files only`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Files.

function isLocal(location: string): boolean {
  return location.startsWith("file:");
}

/** Makes every file of the plan readable by DuckDB; returns the location → path map and a cleanup. */
async function localizeFiles(
  table: ScanTable,
  plan: ScanPlan,
  options: ReadOptions,
): Promise<{ localPath: (location: string) => string; cleanup: () => Promise<void> }> {
  const locations = new Set<string>();
  for (const task of plan.tasks) {
    locations.add(task.dataFile.filePath);
    for (const d of task.deletes) locations.add(d.filePath);
  }
  const remote = [...locations].filter((l) => !isLocal(l));
  const paths = new Map<string, string>();
  for (const location of locations) if (isLocal(location)) paths.set(location, localPathOf(location));
  let dir: string | undefined;
  if (remote.length > 0) {
    dir = await mkdtemp(join(options.tempDir ?? tmpdir(), "floe-scan-"));
    const target = dir;
    await mapWithConcurrency(remote, options.downloadConcurrency ?? 8, async (location, i) => {
      const path = join(target, `${i}-${basename(location).replace(/[^A-Za-z0-9._-]/g, "_")}`);
      try {
        await table.io.downloadToFile(location, path);
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        throw new IcebergError("IO_FAILED", `cannot download ${location}: ${detail}`, { cause: error });
      }
      paths.set(location, path);
    });
  }
  return {
    localPath: (location) => {
      const path = paths.get(location);
      if (path === undefined) throw new IcebergError("DATA_INVALID", `${location} was not planned`);
      return path;
    },
    cleanup: async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

function selectColumns(schema: Schema, names: string[] | undefined): NestedField[] {
  if (names === undefined) return schema.fields;
  return names.map((name) => {
    const field = schema.fields.find((f) => f.name === name);
    if (!field) {
      throw new IcebergError(
        "DATA_INVALID",
        `column '${name}' is not in schema ${schema.schemaId} (columns: ${schema.fields.map((f) => f.name).join(", ")})`,
      );
    }
    return field;
  });
}

function fieldLookup(table: ScanTable): (id: number) => NestedField | undefined {
  return (id) => {
    // Newest schema first: a dropped equality column keeps its last type.
    for (const schema of [...table.metadata.schemas].reverse()) {
      const field = schema.fields.find((f) => f.id === id);
      if (field) return field;
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Public API.

/**
 * Plans a scan and registers it as a temporary view on `connection`, so callers can `COPY` or query it.
 * Call `release()` when done (drops the view, deletes downloads).
 */
export async function createScanView(
  connection: DuckDBConnection,
  table: ScanTable,
  viewName: string,
  options: ReadOptions = {},
): Promise<ScanView> {
  return createPlanView(connection, table, await planScan(table, options), viewName, options);
}

/** Like createScanView, for a plan the caller already has (or narrowed, e.g. to one task). */
export async function createPlanView(
  connection: DuckDBConnection,
  table: ScanTable,
  plan: ScanPlan,
  viewName: string,
  options: ReadOptions = {},
): Promise<ScanView> {
  checkEqualityDeletes(plan);
  const columns = selectColumns(plan.schema, options.columns);
  const files = await localizeFiles(table, plan, options);
  try {
    const sql = scanSql({ plan, columns, fieldById: fieldLookup(table), localPath: files.localPath });
    await connection.run(`CREATE OR REPLACE TEMP VIEW ${sqlIdentifier(viewName)} AS ${sql}`);
  } catch (error) {
    await files.cleanup();
    throw error;
  }
  return {
    viewName,
    plan,
    columns,
    release: async () => {
      try {
        await connection.run(`DROP VIEW IF EXISTS ${sqlIdentifier(viewName)}`);
      } finally {
        await files.cleanup();
      }
    },
  };
}

function toRows(columns: readonly NestedField[], rows: DuckDBValue[][]): Row[] {
  return rows.map((values) => {
    const row: Row = {};
    columns.forEach((field, i) => {
      row[field.name] = fromDuckDbValue(field.type, values[i] ?? null);
    });
    return row;
  });
}

/** Reads the whole (filtered) table into memory: for tests and small tables. */
export async function readTable(table: ScanTable, options: ReadOptions = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const batch of readTableBatches(table, options)) rows.push(...batch);
  return rows;
}

/** Streams the (filtered) table's rows in DuckDB-sized batches (2048 rows), holding one batch at a time. */
export async function* readTableBatches(table: ScanTable, options: ReadOptions = {}): AsyncGenerator<Row[]> {
  yield* readPlanBatches(table, await planScan(table, options), options);
}

/** Reads the rows of an existing plan (all its tasks, their deletes and its residual filter) into memory. */
export async function readPlan(table: ScanTable, plan: ScanPlan, options: ReadOptions = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const batch of readPlanBatches(table, plan, options)) rows.push(...batch);
  return rows;
}

async function* readPlanBatches(
  table: ScanTable,
  plan: ScanPlan,
  options: ReadOptions,
): AsyncGenerator<Row[]> {
  const connection = await openConnection();
  const viewName = `floe_scan_${Math.random().toString(36).slice(2)}`;
  try {
    const view = await createPlanView(connection.handle, table, plan, viewName, options);
    try {
      const result = await connection.handle.stream(`SELECT * FROM ${sqlIdentifier(viewName)}`);
      for await (const batch of result.yieldRows()) yield toRows(view.columns, batch);
    } finally {
      await view.release();
    }
  } finally {
    connection.close();
  }
}

/** A connection held open across yields (withDuckDb closes its connection when its callback returns). */
async function openConnection(): Promise<{ handle: DuckDBConnection; close: () => void }> {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const handle = await new Promise<DuckDBConnection>((resolve, reject) => {
    withDuckDb(async (connection) => {
      resolve(connection);
      await held;
    }).catch(reject);
  });
  return { handle, close: release };
}
