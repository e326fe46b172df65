/**
 * Reading an Iceberg table's rows with DuckDB (DESIGN principle 4): plans the scan (scan.ts), makes every
 * file readable locally (`file:` paths directly, anything else downloaded to a temp directory), and builds
 * one SQL query that reads all data files in one `read_parquet(..., schema = MAP{field id → column})` — so
 * columns are matched BY FIELD ID: renamed and reordered columns read right, columns added later read as
 * their `initial-default` or null, promoted types are cast — anti-joins all position deletes at once on
 * (data file, `file_row_number`) and equality deletes with null-safe `IS NOT DISTINCT FROM`, each delete
 * only against the data files the plan applies it to (scanSql), and applies the row filter as a residual.
 * The query's cost grows linearly with the number of files.
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
import { POSITION_DELETE_FILE_PATH_ID, POSITION_DELETE_POS_ID, partitionKey } from "./delete-file-index.ts";
import { duckDbTypeOf, sqlIdentifier, sqlString, withDuckDb } from "./duckdb.ts";
import { IcebergError } from "./errors.ts";
import { type BoundReference, duckDbLiteral, referencedFieldIds, toDuckDbSql } from "./expressions.ts";
import { mapWithConcurrency, planScan, type ScanOptions, type ScanPlan, type ScanTable } from "./scan.ts";
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

/** `(a, b), (c, d)` rows of a VALUES list named `name(columns)`, as a CTE entry. */
function valuesCte(name: string, columns: readonly string[], rows: readonly string[][]): string {
  const body = rows.map((row) => `(${row.join(", ")})`).join(", ");
  return `${name} AS (SELECT * FROM (VALUES ${body}) v(${columns.join(", ")}))`;
}

/**
 * One position delete file and the data files it applies to, as a rule SQL evaluates on each row it names:
 * the named data file must be in partition `partition` with data sequence number <= `maxSeq` (the highest
 * of the data files the plan applies it to). That is the plan's own assignment — planning applies a
 * position delete to the data files of its partition with a data sequence number <= its own, less those
 * its `file_path` bounds or `referenced_data_file` rule out, and its rows name no such file. A plan that
 * applies it across partitions gets the explicit list `explicit` instead.
 */
interface PositionDelete {
  file: DataFile;
  maxSeq: bigint;
  partition: number;
  explicit?: number[];
}

function positionDeletesOf(plan: ScanPlan, partitionOf: readonly number[]): PositionDelete[] {
  const byPath = new Map<string, PositionDelete & { fids: number[]; partitions: Set<number> }>();
  plan.tasks.forEach((task, fid) => {
    for (const file of task.deletes) {
      if (file.content !== DataFileContent.POSITION_DELETES) continue;
      const entry = byPath.get(file.filePath);
      const seq = task.dataSequenceNumber;
      if (!entry) {
        const partitions = new Set([partitionOf[fid]!]);
        byPath.set(file.filePath, {
          file,
          maxSeq: seq,
          partition: partitionOf[fid]!,
          fids: [fid],
          partitions,
        });
        continue;
      }
      entry.fids.push(fid);
      entry.partitions.add(partitionOf[fid]!);
      if (seq > entry.maxSeq) entry.maxSeq = seq;
    }
  });
  return [...byPath.values()].map(({ file, maxSeq, partition, fids, partitions }) =>
    partitions.size === 1 ? { file, maxSeq, partition } : { file, maxSeq, partition: 0, explicit: fids },
  );
}

/**
 * One equality delete file and the data files it applies to, as a rule SQL can evaluate: every data file
 * with data sequence number <= `maxSeq` in partition `partition` (0 = every partition). `explicit` lists
 * the data files instead when no such rule selects exactly the plan's data files for it.
 */
interface EqualityDelete {
  file: DataFile;
  maxSeq: bigint;
  partition: number;
  explicit?: number[];
}

/**
 * Equality delete files per equality-field set, each with the rule that selects exactly the data files
 * the plan applies it to. Scan planning applies an equality delete to the data files of its partition (or
 * all, when unpartitioned) with a lower data sequence number; those are the data files of the same
 * partitions with data sequence number <= the highest it applies to. The rule is checked by counting, so a
 * plan assembled otherwise still reads exactly: its delete falls back to an explicit list.
 */
function equalityDeletesOf(plan: ScanPlan, partitionOf: readonly number[]): Map<string, EqualityDelete[]> {
  const byPath = new Map<string, { file: DataFile; fids: number[] }>();
  plan.tasks.forEach((task, fid) => {
    for (const file of task.deletes) {
      if (file.content !== DataFileContent.EQUALITY_DELETES) continue;
      const entry = byPath.get(file.filePath);
      if (entry) entry.fids.push(fid);
      else byPath.set(file.filePath, { file, fids: [fid] });
    }
  });
  if (byPath.size === 0) return new Map();
  // Sorted data sequence numbers per partition number and overall, to count a rule's data files.
  const sorted = new Map<number, bigint[]>([[0, []]]);
  plan.tasks.forEach((task, fid) => {
    const partition = partitionOf[fid]!;
    if (!sorted.has(partition)) sorted.set(partition, []);
    sorted.get(partition)!.push(task.dataSequenceNumber);
    sorted.get(0)!.push(task.dataSequenceNumber);
  });
  for (const list of sorted.values()) list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const countAtMost = (list: readonly bigint[], max: bigint) => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! <= max) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const groups = new Map<string, EqualityDelete[]>();
  for (const { file, fids } of byPath.values()) {
    let maxSeq = plan.tasks[fids[0]!]!.dataSequenceNumber;
    const partitions = new Set<number>();
    for (const fid of fids) {
      const seq = plan.tasks[fid]!.dataSequenceNumber;
      if (seq > maxSeq) maxSeq = seq;
      partitions.add(partitionOf[fid]!);
    }
    const partition = partitions.size === 1 ? [...partitions][0]! : 0;
    const selected = countAtMost(sorted.get(partition)!, maxSeq);
    const entry: EqualityDelete = { file, maxSeq, partition };
    if (selected !== new Set(fids).size) entry.explicit = fids;
    const key = [...(file.equalityIds ?? [])].join(",");
    const list = groups.get(key);
    if (list) list.push(entry);
    else groups.set(key, [entry]);
  }
  return groups;
}

/**
 * The SQL of a scan: a SELECT returning `columns` with deletes and the residual filter applied.
 *
 * Its cost is linear in the files: ONE `read_parquet` over every data file (`filename` and
 * `file_row_number` say which file and row), one over every position delete file, anti-joined on (data
 * file, position) — a delete row counts only for the data file it names and only if the delete applies to
 * that file by partition and sequence number (positionDeletesOf), so a delete naming file A never touches
 * file B nor a newer file — and one read per equality-field set, applied to data files by data sequence
 * number and partition (equalityDeletesOf). Small VALUES tables map each file's local path to its number,
 * data sequence number and partition; nothing in the SQL grows with data files × delete files.
 */
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

  const residual = plan.filter
    ? ` WHERE ${toDuckDbSql(plan.filter, (ref) => residualColumn(schema, ref))}`
    : "";
  const dataRead = readParquetSql(
    plan.tasks.map((t) => localPath(t.dataFile.filePath)),
    innerFields,
  );
  const hasDeletes = plan.tasks.some((t) => t.deletes.length > 0);
  if (!hasDeletes)
    return `SELECT ${outerList.join(", ")} FROM (SELECT ${innerList} FROM ${dataRead} d) t${residual}`;

  // Data files: number (fid = task index), local path, location, data sequence number, partition number.
  const partitionNumbers = new Map<string, number>();
  const partitionOf = plan.tasks.map((task) => {
    const key = partitionKey(task.spec.specId, task.partition);
    let n = partitionNumbers.get(key);
    if (n === undefined) {
      n = partitionNumbers.size + 1;
      partitionNumbers.set(key, n);
    }
    return n;
  });
  const ctes = [
    valuesCte(
      "floe_files",
      ["fid", "path", "uri", "seq", "part"],
      plan.tasks.map((task, fid) => [
        String(fid),
        sqlString(localPath(task.dataFile.filePath)),
        sqlString(task.dataFile.filePath),
        `CAST(${task.dataSequenceNumber} AS BIGINT)`,
        String(partitionOf[fid]),
      ]),
    ),
    `floe_data AS (SELECT f.fid AS floe_fid, f.seq AS floe_seq, f.part AS floe_part, r.file_row_number AS floe_pos, r.* FROM ${dataRead} r JOIN floe_files f ON f.path = r.filename)`,
  ];
  let body = `SELECT ${innerList} FROM floe_data d`;

  const positions = positionDeletesOf(plan, partitionOf);
  if (positions.length > 0) {
    ctes.push(
      valuesCte(
        "floe_pos_files",
        ["did", "path", "max_seq", "part"],
        positions.map((d, did) => [
          String(did),
          sqlString(localPath(d.file.filePath)),
          `CAST(${d.maxSeq} AS BIGINT)`,
          String(d.explicit ? 0 : d.partition),
        ]),
      ),
    );
    let applies = "(f.seq <= pf.max_seq AND f.part = pf.part)";
    const explicit = positions.flatMap((d, did) =>
      (d.explicit ?? []).map((fid) => [String(did), String(fid)]),
    );
    if (explicit.length > 0) {
      ctes.push(valuesCte("floe_pos_pairs", ["did", "fid"], explicit));
      applies += " OR EXISTS (SELECT 1 FROM floe_pos_pairs m WHERE m.did = pf.did AND m.fid = f.fid)";
    }
    const read = readParquetSql(
      positions.map((d) => localPath(d.file.filePath)),
      positionDeleteFields,
    );
    const filePath = sqlIdentifier(columnName(POSITION_DELETE_FILE_PATH_ID));
    const pos = sqlIdentifier(columnName(POSITION_DELETE_POS_ID));
    // A delete row counts for the data file it names (by location), if the delete applies to that file.
    ctes.push(
      `floe_pos AS (SELECT f.fid, p.${pos} AS pos FROM ${read} p` +
        " JOIN floe_pos_files pf ON pf.path = p.filename" +
        ` JOIN floe_files f ON f.uri = p.${filePath} WHERE ${applies})`,
    );
    body += " ANTI JOIN floe_pos pd ON pd.fid = d.floe_fid AND pd.pos = d.floe_pos";
  }

  const conditions: string[] = [];
  let group = 0;
  for (const deletes of equalityDeletesOf(plan, partitionOf).values()) {
    group++;
    const ids = deletes[0]!.file.equalityIds ?? [];
    const fields = ids.map((id) => innerFields.find((f) => f.id === id)!);
    const match = ids
      .map(
        (id) => `e.${sqlIdentifier(columnName(id))} IS NOT DISTINCT FROM d.${sqlIdentifier(columnName(id))}`,
      )
      .join(" AND ");
    const byRule = deletes.filter((d) => d.explicit === undefined);
    if (byRule.length > 0) {
      const files = `floe_eq${group}_files`;
      ctes.push(
        valuesCte(
          files,
          ["path", "max_seq", "part"],
          byRule.map((d) => [
            sqlString(localPath(d.file.filePath)),
            `CAST(${d.maxSeq} AS BIGINT)`,
            String(d.partition),
          ]),
        ),
        `floe_eq${group} AS (SELECT ef.max_seq AS floe_max_seq, ef.part AS floe_part, r.* FROM ${readParquetSql(
          byRule.map((d) => localPath(d.file.filePath)),
          fields,
        )} r JOIN ${files} ef ON ef.path = r.filename)`,
      );
      conditions.push(
        `NOT EXISTS (SELECT 1 FROM floe_eq${group} e WHERE ${match} AND d.floe_seq <= e.floe_max_seq AND (e.floe_part = 0 OR e.floe_part = d.floe_part))`,
      );
    }
    const explicit = deletes.filter((d) => d.explicit !== undefined);
    if (explicit.length > 0) {
      const pairs = `floe_eqx${group}_pairs`;
      ctes.push(
        valuesCte(
          pairs,
          ["path", "fid"],
          explicit.flatMap((d) =>
            d.explicit!.map((fid) => [sqlString(localPath(d.file.filePath)), String(fid)]),
          ),
        ),
        `floe_eqx${group} AS (SELECT q.fid AS floe_fid, r.* FROM ${readParquetSql(
          explicit.map((d) => localPath(d.file.filePath)),
          fields,
        )} r JOIN ${pairs} q ON q.path = r.filename)`,
      );
      conditions.push(
        `NOT EXISTS (SELECT 1 FROM floe_eqx${group} e WHERE ${match} AND e.floe_fid = d.floe_fid)`,
      );
    }
  }
  if (conditions.length > 0) body += ` WHERE ${conditions.join(" AND ")}`;
  return `WITH ${ctes.join(", ")} SELECT ${outerList.join(", ")} FROM (${body}) t${residual}`;
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
