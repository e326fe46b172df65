/**
 * Floe's data plane handle (DESIGN principle 4): one in-process DuckDB per process for writing and
 * reading Parquet, plus the quoting helpers every SQL string we build must go through. DuckDB's
 * downloadable extensions are never loaded: Parquet and JSON are built in.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { IcebergType } from "./types.ts";

let instance: Promise<DuckDBInstance> | undefined;

export interface DuckDbSettings {
  /** DuckDB worker threads; defaults to the machine's cores. */
  threads?: number;
  /** e.g. "2GB": DuckDB spills to its temp directory beyond this. */
  memoryLimit?: string;
}

let settings: DuckDbSettings = {};

/** Settings for the shared instance; only effective before its first use. */
export function configureDuckDb(next: DuckDbSettings): void {
  settings = { ...next };
}

function sharedInstance(): Promise<DuckDBInstance> {
  if (!instance) {
    const options: Record<string, string> = {
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
    };
    if (settings.threads !== undefined) options.threads = String(settings.threads);
    if (settings.memoryLimit !== undefined) options.memory_limit = settings.memoryLimit;
    instance = DuckDBInstance.create(":memory:", options);
  }
  return instance;
}

/** Runs `fn` on a fresh connection to the shared instance and closes the connection afterwards. */
export async function withDuckDb<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await (await sharedInstance()).connect();
  try {
    return await fn(connection);
  } finally {
    connection.closeSync();
  }
}

/** A SQL string literal: `'it''s'`. Rejects NUL, which DuckDB cannot hold in a literal. */
export function sqlString(value: string): string {
  if (value.includes("\0")) throw new Error("SQL string literal contains a NUL character");
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier: `"my ""col"""`. */
export function sqlIdentifier(name: string): string {
  if (name.includes("\0")) throw new Error("SQL identifier contains a NUL character");
  return `"${name.replaceAll('"', '""')}"`;
}

/** The DuckDB type that holds values of an Iceberg type exactly (the one mapping writer, reader and SQL share). */
export function duckDbTypeOf(type: IcebergType): string {
  switch (type.kind) {
    case "boolean":
      return "BOOLEAN";
    case "int":
      return "INTEGER";
    case "long":
      return "BIGINT";
    case "float":
      return "FLOAT";
    case "double":
      return "DOUBLE";
    case "decimal":
      return `DECIMAL(${type.precision},${type.scale})`;
    case "date":
      return "DATE";
    case "time":
      return "TIME";
    case "timestamp":
      return "TIMESTAMP";
    case "timestamptz":
      return "TIMESTAMPTZ";
    case "timestamp_ns":
    case "timestamptz_ns":
      // DuckDB has no zoned nanosecond type; values are UTC instants either way (the writer refuses
      // timestamptz_ns rather than lose the zone flag).
      return "TIMESTAMP_NS";
    case "string":
      return "VARCHAR";
    case "uuid":
      return "UUID";
    case "fixed":
    case "binary":
      return "BLOB";
    case "struct":
      return `STRUCT(${type.fields.map((f) => `${sqlIdentifier(f.name)} ${duckDbTypeOf(f.type)}`).join(", ")})`;
    case "list":
      return `${duckDbTypeOf(type.element)}[]`;
    case "map":
      return `MAP(${duckDbTypeOf(type.key)}, ${duckDbTypeOf(type.value)})`;
  }
}

/** An on-disk DuckDB in a temporary directory of its own: where bounded-memory structures spill. */
export interface SpillDatabase {
  dir: string;
  instance: DuckDBInstance;
  connection: DuckDBConnection;
}

/** Opens a spill database under `parent` (no extensions, 2 threads, 256 MB before DuckDB itself spills). */
export async function openSpillDatabase(parent: string, prefix: string): Promise<SpillDatabase> {
  const dir = await mkdtemp(join(parent, prefix));
  const instance = await DuckDBInstance.create(join(dir, "spill.duckdb"), {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
    threads: "2",
    memory_limit: "256MB",
    preserve_insertion_order: "false",
  });
  return { dir, instance, connection: await instance.connect() };
}

/** Closes a spill database and deletes its directory. */
export async function closeSpillDatabase(spill: SpillDatabase): Promise<void> {
  spill.connection.closeSync();
  spill.instance.closeSync();
  await rm(spill.dir, { recursive: true, force: true });
}
