import { tmpdir } from "node:os";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { decimalFromString, decimalToString } from "../iceberg/conversions.ts";
import { closeSpillDatabase, openSpillDatabase } from "../iceberg/duckdb.ts";
import type { NestedField } from "../iceberg/types.ts";
import type { Row } from "./change.ts";
import { SinkError } from "./errors.ts";

/** Where a live row is: a data file's full location and the row's 0-based position in it. */
export interface RowLocation {
  filePath: string;
  pos: number;
}

export const DEFAULT_KEY_INDEX_MEMORY_ENTRIES = 1_000_000;

/** One key value in a canonical form, so the writer's input and values read back from Parquet agree. */
function keyPart(field: NestedField, value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  const type = field.type;
  switch (type.kind) {
    case "float":
    case "double":
      return Number(value);
    // Integers share one form, so a key column widened from int to long keeps matching the index.
    case "int":
    case "date":
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      return String(BigInt(value as bigint | number | string));
    case "decimal": {
      const unscaled = typeof value === "bigint" ? value : decimalFromString(String(value), type.scale);
      return decimalToString(unscaled, type.scale);
    }
    case "boolean":
      return Boolean(value);
    case "uuid":
      return String(value).toLowerCase();
    case "string":
      return String(value);
    case "binary":
    case "fixed":
      return Buffer.from(value as Uint8Array).toString("hex");
    default:
      throw new SinkError(
        "TABLE_INVALID",
        `identifier field '${field.name}' has type ${type.kind}; key columns must be primitive`,
      );
  }
}

/** The canonical string of a row's key (`keyFields` in identifier order). */
export function encodeKey(keyFields: readonly NestedField[], row: Row): string {
  return JSON.stringify(keyFields.map((field) => keyPart(field, row[field.name])));
}

export interface KeyIndexOptions {
  /** Entries kept in memory before spilling to disk. */
  memoryLimitEntries?: number;
  /** Parent of the spill directory; the OS temp dir by default. */
  spillDir?: string;
}

interface Spill {
  dir: string;
  instance: DuckDBInstance;
  connection: DuckDBConnection;
  count: number;
}

const PROBE_BATCH = 50_000;

export class KeyIndex {
  readonly #memory = new Map<string, RowLocation>();
  readonly #memoryLimit: number;
  readonly #spillParent: string;
  #spill: Spill | undefined;
  /** The table snapshot whose live rows the index holds (undefined: an empty table). */
  snapshotId: bigint | undefined;

  constructor(options: KeyIndexOptions = {}) {
    this.#memoryLimit = Math.max(2, options.memoryLimitEntries ?? DEFAULT_KEY_INDEX_MEMORY_ENTRIES);
    this.#spillParent = options.spillDir ?? tmpdir();
  }

  get size(): number {
    return this.#memory.size + (this.#spill?.count ?? 0);
  }

  get spilledEntries(): number {
    return this.#spill?.count ?? 0;
  }

  /** Locations of those of `keys` that are in the index. */
  async getMany(keys: Iterable<string>): Promise<Map<string, RowLocation>> {
    const found = new Map<string, RowLocation>();
    const misses: string[] = [];
    for (const key of keys) {
      const location = this.#memory.get(key);
      if (location) found.set(key, location);
      else if (this.#spill && this.#spill.count > 0) misses.push(key);
    }
    for (let i = 0; i < misses.length; i += PROBE_BATCH) {
      const spill = this.#spill!;
      await this.#loadProbe(spill, misses.slice(i, i + PROBE_BATCH));
      const result = await spill.connection.runAndReadAll(
        "SELECT s.key, s.file_path, s.pos FROM spilled s JOIN probe p ON s.key = p.key",
      );
      for (const [key, filePath, pos] of result.getRowsJS()) {
        found.set(String(key), { filePath: String(filePath), pos: Number(pos) });
      }
    }
    return found;
  }

  async get(key: string): Promise<RowLocation | undefined> {
    return (await this.getMany([key])).get(key);
  }

  /** Sets (a location) or removes (undefined) each key. */
  async setMany(entries: Iterable<readonly [string, RowLocation | undefined]>): Promise<void> {
    const batch = [...entries];
    if (this.#spill && this.#spill.count > 0) {
      const spill = this.#spill;
      const outside = batch.filter(([key]) => !this.#memory.has(key)).map(([key]) => key);
      for (let i = 0; i < outside.length; i += PROBE_BATCH) {
        await this.#loadProbe(spill, outside.slice(i, i + PROBE_BATCH));
        const deleted = await spill.connection.run(
          "DELETE FROM spilled WHERE key IN (SELECT key FROM probe)",
        );
        spill.count -= deleted.rowsChanged;
      }
    }
    for (const [key, location] of batch) {
      if (location) this.#memory.set(key, location);
      else this.#memory.delete(key);
    }
    if (this.#memory.size > this.#memoryLimit) await this.#spillOldest();
  }

  /** Removes every entry located in one of `filePaths` (files a compaction replaced). */
  async removeFiles(filePaths: ReadonlySet<string>): Promise<void> {
    if (filePaths.size === 0) return;
    for (const [key, location] of this.#memory) {
      if (filePaths.has(location.filePath)) this.#memory.delete(key);
    }
    const spill = this.#spill;
    if (spill && spill.count > 0) {
      await this.#loadProbe(spill, [...filePaths]);
      const deleted = await spill.connection.run(
        "DELETE FROM spilled WHERE file_path IN (SELECT key FROM probe)",
      );
      spill.count -= deleted.rowsChanged;
    }
  }

  /** Every entry, in batches of up to `batchSize` (memory first, then the spilled ones). */
  async *entries(batchSize = 10_000): AsyncGenerator<[string, RowLocation][]> {
    let batch: [string, RowLocation][] = [];
    for (const entry of [...this.#memory]) {
      batch.push(entry);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
    if (!this.#spill || this.#spill.count === 0) return;
    const result = await this.#spill.connection.stream("SELECT key, file_path, pos FROM spilled");
    for await (const rows of result.yieldRowsJs()) {
      yield rows.map(([key, filePath, pos]) => [
        String(key),
        { filePath: String(filePath), pos: Number(pos) },
      ]);
    }
  }

  async clear(): Promise<void> {
    this.#memory.clear();
    if (this.#spill) {
      await this.#spill.connection.run("DELETE FROM spilled");
      this.#spill.count = 0;
    }
    this.snapshotId = undefined;
  }

  async close(): Promise<void> {
    this.#memory.clear();
    const spill = this.#spill;
    this.#spill = undefined;
    if (spill) {
      await closeSpillDatabase(spill);
    }
  }

  async #openSpill(): Promise<Spill> {
    if (this.#spill) return this.#spill;
    const { dir, instance, connection } = await openSpillDatabase(this.#spillParent, "floe-key-index-");
    await connection.run("CREATE TABLE spilled (key VARCHAR, file_path VARCHAR, pos BIGINT)");
    await connection.run("CREATE TEMP TABLE probe (key VARCHAR)");
    this.#spill = { dir, instance, connection, count: 0 };
    return this.#spill;
  }

  async #loadProbe(spill: Spill, keys: readonly string[]): Promise<void> {
    await spill.connection.run("DELETE FROM probe");
    const appender = await spill.connection.createAppender("probe", null, "temp");
    try {
      for (const key of keys) {
        appender.appendVarchar(key);
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /** Moves the oldest entries to disk until half the memory budget is used. */
  async #spillOldest(): Promise<void> {
    const spill = await this.#openSpill();
    const target = Math.floor(this.#memoryLimit / 2);
    const appender = await spill.connection.createAppender("spilled");
    let moved = 0;
    try {
      for (const [key, location] of this.#memory) {
        if (this.#memory.size - moved <= target) break;
        appender.appendVarchar(key);
        appender.appendVarchar(location.filePath);
        appender.appendBigInt(BigInt(location.pos));
        appender.endRow();
        moved++;
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    let left = moved;
    for (const key of this.#memory.keys()) {
      if (left-- <= 0) break;
      this.#memory.delete(key);
    }
    spill.count += moved;
  }
}
