import { tmpdir } from "node:os";
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { closeSpillDatabase, openSpillDatabase } from "../iceberg/duckdb.ts";
import { VerifyError } from "./errors.ts";
import { addToDigest, formatDigest } from "./row-hash.ts";

export const DEFAULT_MEMORY_LIMIT_ENTRIES = 500_000;

export type DifferenceKind = "only_in_postgres" | "only_in_iceberg" | "row_differs" | "duplicate_in_iceberg";

/** One differing key (or, for a table without a key, one differing row hash). */
export interface Difference {
  /** The key encoding (src/verify/row-hash.ts keyText), or the row hash of a keyless table. */
  key: string;
  kind: DifferenceKind;
  /**
   * Rows this difference stands for: the Iceberg rows of a duplicate key, the rows only on one side for
   * a keyless hash or a key only in Iceberg (a key twice only in Iceberg is 2); otherwise 1.
   */
  rows: number;
}

export interface Comparison {
  postgresRows: number;
  icebergRows: number;
  postgresDigest: string;
  icebergDigest: string;
  /** Keyed: keys only in PostgreSQL. Keyless: rows (occurrences) only in PostgreSQL. */
  onlyInPostgres: number;
  /** Iceberg rows whose key (keyless: whose hash, beyond PostgreSQL's count of it) is not in PostgreSQL. */
  onlyInIceberg: number;
  /** Keys in both whose one Iceberg row has another hash. */
  rowsDiffering: number;
  /** Keys of PostgreSQL that Iceberg holds more than once. */
  duplicateKeysInIceberg: number;
  /** The first differences by key (string order of the key encoding), at most `maxDifferences`. */
  differences: Difference[];
}

/** One change of the roll-forward, as the image applies it. */
export interface ImageChanges {
  /** A TRUNCATE came first: the image is emptied before the rest applies. */
  truncate: boolean;
  /** Keyed: key → new row hash, or null for a deleted key. */
  upserts: Map<string, string | null>;
  /** Keyless: row hash → change of its count (inserts +1, deletes −1). */
  deltas: Map<string, number>;
}

export interface HashImageOptions {
  /** A table with a primary key (key → hash) or without (a multiset of hashes). */
  keyed: boolean;
  memoryLimitEntries?: number;
  /** Parent of the spill directory; the OS temp dir by default. */
  spillDir?: string;
}

interface Spill {
  dir: string;
  instance: DuckDBInstance;
  connection: DuckDBConnection;
}

/** Match states that replace a keyed entry's hash during the comparison (a hash is 32 hex digits). */
const EQUAL = "=";
const DIFFERS = "!";

/** The `limit` smallest keys seen, with a row count each (a later occurrence of a kept key counts up). */
class SmallestKeys {
  readonly #entries = new Map<string, Difference>();
  /** The largest kept key once the list is full (recomputed only after an eviction). */
  #largest: string | undefined;
  constructor(private readonly limit: number) {}

  add(key: string, kind: DifferenceKind, rows = 1): void {
    if (this.limit <= 0) return;
    const existing = this.#entries.get(key);
    if (existing) {
      existing.rows += rows;
      return;
    }
    if (this.#entries.size >= this.limit) {
      this.#largest ??= this.#findLargest();
      if (key >= this.#largest) return;
      // Once evicted, a key never returns: every later candidate must beat a list whose maximum only falls.
      this.#entries.delete(this.#largest);
      this.#largest = undefined;
    }
    this.#entries.set(key, { key, kind, rows });
  }

  #findLargest(): string {
    let largest = "";
    for (const candidate of this.#entries.keys()) if (candidate > largest) largest = candidate;
    return largest;
  }

  sorted(): Difference[] {
    return [...this.#entries.values()].sort(compareDifferences);
  }
}

function compareDifferences(a: Difference, b: Difference): number {
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
}

export class HashImage {
  readonly keyed: boolean;
  readonly #memoryLimit: number;
  readonly #spillParent: string;
  /** Keyed: key → hash (or a match state while comparing). Keyless: hash → count. */
  readonly #memory = new Map<string, string | number>();
  #spill: Spill | undefined;

  constructor(options: HashImageOptions) {
    this.keyed = options.keyed;
    this.#memoryLimit = Math.max(1, options.memoryLimitEntries ?? DEFAULT_MEMORY_LIMIT_ENTRIES);
    this.#spillParent = options.spillDir ?? tmpdir();
  }

  /** True once the image moved to DuckDB on disk. */
  get spilled(): boolean {
    return this.#spill !== undefined;
  }

  /** Adds rows of the PostgreSQL read: `[key, hash]` (keyless: the key is ignored, the hash counts). */
  async append(rows: ReadonlyArray<readonly [string, string]>): Promise<void> {
    if (this.#spill) {
      await this.#appendToSpill(this.#spill, rows);
      return;
    }
    for (const [key, hash] of rows) {
      if (this.keyed) this.#memory.set(key, hash);
      else this.#memory.set(hash, ((this.#memory.get(hash) as number | undefined) ?? 0) + 1);
    }
    if (this.#memory.size > this.#memoryLimit) await this.#moveToDisk();
  }

  /** Applies the roll-forward's net changes. */
  async apply(changes: ImageChanges): Promise<void> {
    if (this.#spill) {
      await this.#applyToSpill(this.#spill, changes);
      return;
    }
    if (changes.truncate) this.#memory.clear();
    if (this.keyed) {
      for (const [key, hash] of changes.upserts) {
        if (hash === null) this.#memory.delete(key);
        else this.#memory.set(key, hash);
      }
    } else {
      for (const [hash, delta] of changes.deltas) {
        const count = ((this.#memory.get(hash) as number | undefined) ?? 0) + delta;
        if (count < 0) throw missingRow(hash);
        if (count === 0) this.#memory.delete(hash);
        else this.#memory.set(hash, count);
      }
    }
    if (this.#memory.size > this.#memoryLimit) await this.#moveToDisk();
  }

  /**
   * Compares the image with the Iceberg rows (`[key, hash]` batches; keyless: the key is ignored). The
   * image is consumed: call it once, then `close()`.
   */
  async compare(
    icebergRows: AsyncIterable<ReadonlyArray<readonly [string, string]>>,
    maxDifferences: number,
  ): Promise<Comparison> {
    return this.#spill
      ? this.#compareOnDisk(this.#spill, icebergRows, maxDifferences)
      : this.#compareInMemory(icebergRows, maxDifferences);
  }

  async close(): Promise<void> {
    this.#memory.clear();
    const spill = this.#spill;
    this.#spill = undefined;
    if (spill) {
      await closeSpillDatabase(spill);
    }
  }

  // ---- memory ------------------------------------------------------------------------------------------

  async #compareInMemory(
    icebergRows: AsyncIterable<ReadonlyArray<readonly [string, string]>>,
    maxDifferences: number,
  ): Promise<Comparison> {
    let postgresRows = 0;
    let postgresDigest = 0n;
    for (const [key, value] of this.#memory) {
      if (this.keyed) {
        postgresRows++;
        postgresDigest = addToDigest(postgresDigest, value as string);
      } else {
        postgresRows += value as number;
        postgresDigest = addToDigest(postgresDigest, key, value as number);
      }
    }
    let icebergRowCount = 0;
    let icebergDigest = 0n;
    let onlyInIceberg = 0;
    const lakeOnly = new SmallestKeys(maxDifferences);
    for await (const batch of icebergRows) {
      for (const [key, hash] of batch) {
        icebergRowCount++;
        icebergDigest = addToDigest(icebergDigest, hash);
        if (!this.keyed) {
          const count = (this.#memory.get(hash) as number | undefined) ?? 0;
          if (count > 0) this.#memory.set(hash, count - 1);
          else {
            onlyInIceberg++;
            lakeOnly.add(hash, "only_in_iceberg");
          }
          continue;
        }
        const value = this.#memory.get(key) as string | undefined;
        if (value === undefined) {
          onlyInIceberg++;
          lakeOnly.add(key, "only_in_iceberg");
        } else if (value.length === 32) {
          this.#memory.set(key, value === hash ? EQUAL : DIFFERS);
        } else if (value === EQUAL || value === DIFFERS) {
          this.#memory.set(key, "d2");
        } else {
          this.#memory.set(key, `d${Number(value.slice(1)) + 1}`);
        }
      }
    }
    let onlyInPostgres = 0;
    let rowsDiffering = 0;
    let duplicateKeysInIceberg = 0;
    const postgresSide = new SmallestKeys(maxDifferences);
    for (const [key, value] of this.#memory) {
      if (!this.keyed) {
        const left = value as number;
        if (left > 0) {
          onlyInPostgres += left;
          postgresSide.add(key, "only_in_postgres", left);
        }
        continue;
      }
      const state = value as string;
      if (state === EQUAL) continue;
      if (state.length === 32) {
        onlyInPostgres++;
        postgresSide.add(key, "only_in_postgres");
      } else if (state === DIFFERS) {
        rowsDiffering++;
        postgresSide.add(key, "row_differs");
      } else {
        duplicateKeysInIceberg++;
        postgresSide.add(key, "duplicate_in_iceberg", Number(state.slice(1)));
      }
    }
    this.#memory.clear();
    return {
      postgresRows,
      icebergRows: icebergRowCount,
      postgresDigest: formatDigest(postgresDigest),
      icebergDigest: formatDigest(icebergDigest),
      onlyInPostgres,
      onlyInIceberg,
      rowsDiffering,
      duplicateKeysInIceberg,
      differences: [...lakeOnly.sorted(), ...postgresSide.sorted()]
        .sort(compareDifferences)
        .slice(0, maxDifferences),
    };
  }

  // ---- disk --------------------------------------------------------------------------------------------

  async #moveToDisk(): Promise<void> {
    const { dir, instance, connection } = await openSpillDatabase(this.#spillParent, "floe-verify-");
    // Keyless images hold one row per occurrence, with the hash as key.
    await connection.run("CREATE TABLE image (key VARCHAR NOT NULL, hash VARCHAR NOT NULL)");
    await connection.run("CREATE TABLE lake (key VARCHAR NOT NULL, hash VARCHAR NOT NULL)");
    const spill: Spill = { dir, instance, connection };
    this.#spill = spill;
    await withAppender(connection, "image", (appender) => {
      for (const [key, value] of this.#memory) {
        if (this.keyed) appendPair(appender, key, value as string);
        else for (let i = 0; i < (value as number); i++) appendPair(appender, key, key);
      }
    });
    this.#memory.clear();
  }

  async #appendToSpill(spill: Spill, rows: ReadonlyArray<readonly [string, string]>): Promise<void> {
    await withAppender(spill.connection, "image", (appender) => {
      for (const [key, hash] of rows) appendPair(appender, this.keyed ? key : hash, hash);
    });
  }

  async #applyToSpill(spill: Spill, changes: ImageChanges): Promise<void> {
    const { connection } = spill;
    if (changes.truncate) await connection.run("DELETE FROM image");
    await connection.run("CREATE OR REPLACE TEMP TABLE changes (key VARCHAR, hash VARCHAR, delta BIGINT)");
    try {
      await withAppender(
        connection,
        "changes",
        (appender) => {
          if (this.keyed) {
            for (const [key, hash] of changes.upserts) {
              appender.appendVarchar(key);
              if (hash === null) appender.appendNull();
              else appender.appendVarchar(hash);
              appender.appendNull();
              appender.endRow();
            }
          } else {
            for (const [hash, delta] of changes.deltas) {
              appender.appendVarchar(hash);
              appender.appendVarchar(hash);
              appender.appendBigInt(BigInt(delta));
              appender.endRow();
            }
          }
        },
        "temp",
      );
      if (this.keyed) {
        await connection.run("DELETE FROM image WHERE key IN (SELECT key FROM changes)");
        await connection.run("INSERT INTO image SELECT key, hash FROM changes WHERE hash IS NOT NULL");
        return;
      }
      const wanted = await connection.runAndReadAll(
        "SELECT coalesce(sum(-delta), 0)::BIGINT FROM changes WHERE delta < 0",
      );
      const removed = await connection.run(
        `DELETE FROM image WHERE rowid IN (
           SELECT o.rowid FROM (
             SELECT rowid, key, row_number() OVER (PARTITION BY key) AS n
               FROM image WHERE key IN (SELECT key FROM changes WHERE delta < 0)) o
           JOIN changes c ON c.key = o.key WHERE o.n <= -c.delta)`,
      );
      if (BigInt(removed.rowsChanged) !== BigInt(wanted.getRowsJS()[0]?.[0] as bigint | number))
        throw missingRow("(one of the deleted rows)");
      await connection.run(
        "INSERT INTO image SELECT key, key FROM (SELECT key, unnest(range(delta)) FROM changes WHERE delta > 0)",
      );
    } finally {
      await connection.run("DROP TABLE IF EXISTS changes");
    }
  }

  async #compareOnDisk(
    spill: Spill,
    icebergRows: AsyncIterable<ReadonlyArray<readonly [string, string]>>,
    maxDifferences: number,
  ): Promise<Comparison> {
    const { connection } = spill;
    let icebergRowCount = 0;
    let icebergDigest = 0n;
    for await (const batch of icebergRows) {
      await withAppender(connection, "lake", (appender) => {
        for (const [key, hash] of batch) {
          icebergRowCount++;
          icebergDigest = addToDigest(icebergDigest, hash);
          appendPair(appender, this.keyed ? key : hash, hash);
        }
      });
    }
    let postgresRows = 0;
    let postgresDigest = 0n;
    const image = await connection.stream("SELECT hash FROM image");
    for await (const rows of image.yieldRowsJs()) {
      for (const [hash] of rows) {
        postgresRows++;
        postgresDigest = addToDigest(postgresDigest, String(hash));
      }
    }
    // One row per difference: key, kind, rows (see Difference).
    const differences = this.keyed
      ? `SELECT i.key, CASE WHEN l.n IS NULL THEN 'only_in_postgres'
                            WHEN l.n > 1 THEN 'duplicate_in_iceberg'
                            ELSE 'row_differs' END AS kind,
                coalesce(l.n, 1) AS rows
           FROM image i LEFT JOIN (SELECT key, count(*) AS n, min(hash) AS hash FROM lake GROUP BY key) l
             ON i.key = l.key
          WHERE l.n IS NULL OR l.n > 1 OR l.hash <> i.hash
         UNION ALL
         SELECT l.key, 'only_in_iceberg', count(*) FROM lake l ANTI JOIN image i ON i.key = l.key GROUP BY l.key`
      : `SELECT coalesce(p.key, l.key) AS key,
                CASE WHEN coalesce(p.n, 0) > coalesce(l.n, 0) THEN 'only_in_postgres' ELSE 'only_in_iceberg' END AS kind,
                abs(coalesce(p.n, 0) - coalesce(l.n, 0)) AS rows
           FROM (SELECT key, count(*) AS n FROM image GROUP BY key) p
           FULL OUTER JOIN (SELECT key, count(*) AS n FROM lake GROUP BY key) l ON p.key = l.key
          WHERE coalesce(p.n, 0) <> coalesce(l.n, 0)`;
    await connection.run(`CREATE OR REPLACE TEMP TABLE differences AS ${differences}`);
    const totals = new Map<string, number>();
    for (const [kind, keys, rows] of (
      await connection.runAndReadAll(
        "SELECT kind, count(*)::BIGINT, sum(rows)::BIGINT FROM differences GROUP BY kind",
      )
    ).getRowsJS()) {
      const counted = kind === "only_in_iceberg" || !this.keyed ? rows : keys;
      totals.set(String(kind), Number(counted));
    }
    const first = (
      await connection.runAndReadAll(
        `SELECT key, kind, rows::BIGINT FROM differences ORDER BY key, kind LIMIT ${Math.max(0, Math.floor(maxDifferences))}`,
      )
    )
      .getRowsJS()
      .map(([key, kind, rows]) => ({ key: String(key), kind: kind as DifferenceKind, rows: Number(rows) }));
    return {
      postgresRows,
      icebergRows: icebergRowCount,
      postgresDigest: formatDigest(postgresDigest),
      icebergDigest: formatDigest(icebergDigest),
      onlyInPostgres: totals.get("only_in_postgres") ?? 0,
      onlyInIceberg: totals.get("only_in_iceberg") ?? 0,
      rowsDiffering: totals.get("row_differs") ?? 0,
      duplicateKeysInIceberg: totals.get("duplicate_in_iceberg") ?? 0,
      differences: first.sort(compareDifferences),
    };
  }
}

function appendPair(appender: DuckDBAppender, key: string, hash: string): void {
  appender.appendVarchar(key);
  appender.appendVarchar(hash);
  appender.endRow();
}

async function withAppender(
  connection: DuckDBConnection,
  table: string,
  fill: (appender: DuckDBAppender) => void,
  catalog: string | null = null,
): Promise<void> {
  const appender = await connection.createAppender(table, null, catalog);
  try {
    fill(appender);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

function missingRow(hash: string): VerifyError {
  return new VerifyError(
    "ROLL_FORWARD_FAILED",
    `the slot deleted a row (hash ${hash}) the PostgreSQL snapshot does not hold; the table lacks REPLICA IDENTITY FULL or changed under verify — run it again`,
  );
}
