/**
 * The shared server store: the same tables as the SQLite store in a PostgreSQL schema (`floe_catalog`),
 * so several `floe serve` replicas can serve one catalog. Every pointer change is a compare-and-swap
 * in the database: one table's `UPDATE … WHERE version = $n`, and a multi-table swap as one transaction
 * that updates each table `WHERE metadata_location = expected` (in key order, so two swaps over the
 * same tables lock them in the same order) and rolls back unless every row changed. Under READ
 * COMMITTED an UPDATE that waited for a concurrent commit re-checks its condition on the new row, so
 * the loser of a race sees 0 rows and returns false. Text columns use the "C" collation so names sort
 * by bytes, exactly as SQLite orders them, and listings page identically.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import type { Namespace, TableIdentifier } from "../../catalog/catalog.ts";
import type { CatalogStore, PointerSwap } from "../../catalog/catalog-store.ts";
import { CatalogError } from "../../catalog/errors.ts";
import { ServerError } from "../errors.ts";
import type {
  BucketUsage,
  NamespaceRecord,
  PageQuery,
  ResourceAttributeKind,
  ServerStore,
  TableBucketRecord,
  TableRecord,
} from "./store.ts";

/** 1: buckets, namespaces, tables (with ids and versions), resource attributes. */
const schemaVersion = 1;

const schema = "floe_catalog";
const T = {
  meta: `${schema}.meta`,
  buckets: `${schema}.buckets`,
  namespaces: `${schema}.namespaces`,
  tables: `${schema}.tables`,
  attributes: `${schema}.resource_attributes`,
};

/** Serializes schema creation between replicas starting at once (an arbitrary constant key). */
const ddlLockKey = 0x666c6f65;

const ddl = `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${T.meta} (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${T.buckets} (
  name TEXT COLLATE "C" PRIMARY KEY,
  arn TEXT COLLATE "C" NOT NULL UNIQUE,
  storage TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${T.namespaces} (
  bucket TEXT COLLATE "C" NOT NULL REFERENCES ${T.buckets}(name) ON DELETE CASCADE,
  namespace TEXT COLLATE "C" NOT NULL,
  parent TEXT COLLATE "C" NOT NULL,
  properties TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (bucket, namespace)
);
CREATE INDEX IF NOT EXISTS namespaces_by_parent ON ${T.namespaces}(bucket, parent, namespace);
CREATE TABLE IF NOT EXISTS ${T.tables} (
  bucket TEXT COLLATE "C" NOT NULL,
  namespace TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  metadata_location TEXT NOT NULL,
  version INTEGER NOT NULL,
  table_id TEXT COLLATE "C" NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (bucket, namespace, name),
  FOREIGN KEY (bucket, namespace) REFERENCES ${T.namespaces}(bucket, namespace)
);
CREATE UNIQUE INDEX IF NOT EXISTS tables_by_id ON ${T.tables}(bucket, table_id);
CREATE TABLE IF NOT EXISTS ${T.attributes} (
  resource TEXT COLLATE "C" NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (resource, kind, key)
);
`;

const tableColumns =
  'namespace, name, table_id AS "tableId", metadata_location AS "metadataLocation", version, ' +
  'created_at AS "createdAt", updated_at AS "updatedAt"';

const bucketColumns = 'name, arn, storage, created_at AS "createdAt"';

interface TableRow extends Omit<TableRecord, "namespace"> {
  namespace: string;
}

const tableRecordOf = (row: TableRow): TableRecord => ({
  namespace: JSON.parse(row.namespace) as string[],
  name: row.name,
  tableId: row.tableId,
  metadataLocation: row.metadataLocation,
  version: Number(row.version),
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/** Namespaces are stored as the JSON array of their levels, as in the SQLite store. */
const namespaceKey = (namespace: Namespace) => JSON.stringify(namespace);
const display = (id: TableIdentifier) => [...id.namespace, id.name].join(".");

/** SQLSTATEs: https://www.postgresql.org/docs/current/errcodes-appendix.html */
const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";
const retryable = new Set(["40001", "40P01"]); // serialization failure, deadlock detected

function pgCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as { code?: string }).code : undefined;
}

/** Keeps only the user and host of a connection URL for messages (never the password). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "the PostgreSQL catalog store";
  }
}

/** A constraint failure on a table row as the catalog's code (the name is taken, or its namespace is missing). */
function tableConstraint(error: unknown, identifier: TableIdentifier): unknown {
  const code = pgCode(error);
  if (code === UNIQUE_VIOLATION) {
    return new CatalogError("ALREADY_EXISTS", `table ${display(identifier)} already exists`);
  }
  if (code === FOREIGN_KEY_VIOLATION) {
    return new CatalogError(
      "NO_SUCH_NAMESPACE",
      `namespace ${identifier.namespace.join(".")} does not exist`,
    );
  }
  return error;
}

export interface PostgresServerStoreOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Connections per store (per server process). */
  maxConnections?: number;
  /** Attempts of a transaction that hit a deadlock or serialization failure. */
  maxAttempts?: number;
}

type Queryable = Pick<pg.PoolClient, "query">;

export class PostgresServerStore implements ServerStore {
  readonly url: string;
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;
  readonly #maxAttempts: number;
  readonly #catalogStores = new Map<string, PostgresCatalogStore>();
  #closed = false;

  /** Connects lazily: the schema is created on first use; `ping()` reports a store that cannot open. */
  constructor(options: PostgresServerStoreOptions) {
    this.url = options.url;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10 });
    // An idle connection's error (server restart) must not crash the process; the next query reconnects.
    this.#pool.on("error", () => {});
    this.#ready = this.#init();
    // Callers see the failure through every method; this only keeps it from being "unhandled".
    this.#ready.catch(() => {});
  }

  async #init(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw new ServerError(
        "STORE_FAILED",
        `cannot connect to the catalog database ${redactUrl(this.url)}: ${String(error)}`,
        { cause: error },
      );
    }
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [ddlLockKey]);
      await client.query(ddl);
      const found = await client.query<{ value: string }>(`SELECT value FROM ${T.meta} WHERE key = 'schema'`);
      const version = found.rows[0] ? Number(found.rows[0].value) : 0;
      if (version > schemaVersion) {
        throw new ServerError(
          "STORE_FAILED",
          `${redactUrl(this.url)} was written by a newer Floe (store schema ${version}, this one knows ${schemaVersion}); upgrade Floe`,
        );
      }
      await client.query(
        `INSERT INTO ${T.meta} (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(schemaVersion)],
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      if (error instanceof ServerError) throw error;
      throw new ServerError(
        "STORE_FAILED",
        `cannot open the catalog database ${redactUrl(this.url)}: ${String(error)}`,
        { cause: error },
      );
    } finally {
      client.release();
    }
  }

  /** One statement on any pooled connection, after the schema is in place. */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    await this.#ready;
    return this.#pool.query<R>(text, values);
  }

  /**
   * Runs `fn` in one transaction on one connection; retried from the start on a deadlock or a
   * serialization failure (nothing of a failed attempt is kept).
   */
  async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    await this.#ready;
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      let broken = false;
      try {
        await client.query("BEGIN");
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true;
        }
        if (retryable.has(pgCode(error) ?? "") && attempt < this.#maxAttempts) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
          continue;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  async createBucket(bucket: TableBucketRecord): Promise<void> {
    try {
      await this.query(`INSERT INTO ${T.buckets} (name, arn, storage, created_at) VALUES ($1, $2, $3, $4)`, [
        bucket.name,
        bucket.arn,
        bucket.storage,
        bucket.createdAt,
      ]);
    } catch (error) {
      if (pgCode(error) === UNIQUE_VIOLATION) {
        throw new ServerError("BUCKET_ALREADY_EXISTS", `table bucket ${bucket.name} already exists`);
      }
      throw error;
    }
  }

  async getBucket(nameOrArn: string): Promise<TableBucketRecord | undefined> {
    const { rows } = await this.query<TableBucketRecord>(
      `SELECT ${bucketColumns} FROM ${T.buckets} WHERE name = $1 OR arn = $1 ORDER BY name LIMIT 1`,
      [nameOrArn],
    );
    return rows[0] ? { ...rows[0] } : undefined;
  }

  async listBuckets(): Promise<TableBucketRecord[]> {
    const { rows } = await this.query<TableBucketRecord>(
      `SELECT ${bucketColumns} FROM ${T.buckets} ORDER BY name`,
    );
    return rows.map((row) => ({ ...row }));
  }

  async bucketUsage(name: string): Promise<BucketUsage> {
    const { rows } = await this.query<{ namespaces: string; tables: string }>(
      `SELECT (SELECT count(*) FROM ${T.namespaces} WHERE bucket = $1) AS namespaces, ` +
        `(SELECT count(*) FROM ${T.tables} WHERE bucket = $1) AS tables`,
      [name],
    );
    return { namespaces: Number(rows[0]?.namespaces ?? 0), tables: Number(rows[0]?.tables ?? 0) };
  }

  async deleteBucket(name: string): Promise<void> {
    await this.query(`DELETE FROM ${T.buckets} WHERE name = $1`, [name]);
    this.#catalogStores.delete(name);
  }

  async getTableRecord(
    bucketName: string,
    namespace: readonly string[],
    name: string,
  ): Promise<TableRecord | undefined> {
    const { rows } = await this.query<TableRow>(
      `SELECT ${tableColumns} FROM ${T.tables} WHERE bucket = $1 AND namespace = $2 AND name = $3`,
      [bucketName, namespaceKey(namespace), name],
    );
    return rows[0] ? tableRecordOf(rows[0]) : undefined;
  }

  async getTableRecordById(bucketName: string, tableId: string): Promise<TableRecord | undefined> {
    const { rows } = await this.query<TableRow>(
      `SELECT ${tableColumns} FROM ${T.tables} WHERE bucket = $1 AND table_id = $2`,
      [bucketName, tableId],
    );
    return rows[0] ? tableRecordOf(rows[0]) : undefined;
  }

  async listTableRecords(
    bucketName: string,
    query: PageQuery & { namespace?: readonly string[] },
  ): Promise<TableRecord[]> {
    const args: unknown[] = [bucketName];
    const where = ["bucket = $1"];
    const arg = (value: unknown) => {
      args.push(value);
      return `$${args.length}`;
    };
    if (query.namespace) where.push(`namespace = ${arg(namespaceKey(query.namespace))}`);
    if (query.prefix) where.push(`starts_with(name, ${arg(query.prefix)})`);
    if (query.after !== undefined) {
      // The cursor is the JSON pair [namespace key, name] of the last row returned (as in SQLite).
      const [afterNamespace, afterName] = JSON.parse(query.after) as [string, string];
      where.push(
        `(namespace, name) > (${arg(afterNamespace)}::text COLLATE "C", ${arg(afterName)}::text COLLATE "C")`,
      );
    }
    const { rows } = await this.query<TableRow>(
      `SELECT ${tableColumns} FROM ${T.tables} WHERE ${where.join(" AND ")} ORDER BY namespace, name LIMIT ${arg(query.limit)}`,
      args,
    );
    return rows.map(tableRecordOf);
  }

  async listNamespaceRecords(bucketName: string, query: PageQuery): Promise<NamespaceRecord[]> {
    const args: unknown[] = [bucketName, namespaceKey([])];
    const where = ["bucket = $1", "parent = $2"];
    const arg = (value: unknown) => {
      args.push(value);
      return `$${args.length}`;
    };
    if (query.prefix) {
      // Keys are JSON arrays: a one-level namespace `x` is stored as ["x"].
      where.push(`starts_with(namespace, ${arg(namespaceKey([query.prefix]).slice(0, -2))})`);
    }
    if (query.after !== undefined) where.push(`namespace > ${arg(namespaceKey([query.after]))}`);
    const { rows } = await this.query<{ namespace: string; createdAt: string }>(
      `SELECT namespace, created_at AS "createdAt" FROM ${T.namespaces} WHERE ${where.join(" AND ")} ORDER BY namespace LIMIT ${arg(query.limit)}`,
      args,
    );
    return rows.map((row) => ({
      namespace: JSON.parse(row.namespace) as string[],
      createdAt: row.createdAt,
    }));
  }

  async getNamespaceRecord(
    bucketName: string,
    namespace: readonly string[],
  ): Promise<NamespaceRecord | undefined> {
    const { rows } = await this.query<{ createdAt: string }>(
      `SELECT created_at AS "createdAt" FROM ${T.namespaces} WHERE bucket = $1 AND namespace = $2`,
      [bucketName, namespaceKey(namespace)],
    );
    return rows[0] ? { namespace: [...namespace], createdAt: rows[0].createdAt } : undefined;
  }

  async swapTableVersion(
    bucketName: string,
    tableId: string,
    expectedVersion: number,
    next: string,
  ): Promise<boolean> {
    const result = await this.query(
      `UPDATE ${T.tables} SET metadata_location = $1, version = version + 1, updated_at = $2 ` +
        "WHERE bucket = $3 AND table_id = $4 AND version = $5",
      [next, new Date().toISOString(), bucketName, tableId, expectedVersion],
    );
    return result.rowCount === 1;
  }

  async deleteTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    resource: string,
  ): Promise<boolean> {
    return this.transaction(async (client) => {
      const deleted = await client.query(
        `DELETE FROM ${T.tables} WHERE bucket = $1 AND namespace = $2 AND name = $3 AND table_id = $4 AND version = $5`,
        [bucketName, namespaceKey(expected.namespace), expected.name, expected.tableId, expected.version],
      );
      if (deleted.rowCount !== 1) return false;
      await client.query(`DELETE FROM ${T.attributes} WHERE resource = $1`, [resource]);
      return true;
    });
  }

  async renameTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    to: TableIdentifier,
  ): Promise<boolean> {
    try {
      const result = await this.query(
        `UPDATE ${T.tables} SET namespace = $1, name = $2, version = version + 1, updated_at = $3 ` +
          "WHERE bucket = $4 AND namespace = $5 AND name = $6 AND table_id = $7 AND version = $8",
        [
          namespaceKey(to.namespace),
          to.name,
          new Date().toISOString(),
          bucketName,
          namespaceKey(expected.namespace),
          expected.name,
          expected.tableId,
          expected.version,
        ],
      );
      return result.rowCount === 1;
    } catch (error) {
      throw tableConstraint(error, to);
    }
  }

  async getResourceAttributes(
    resource: string,
    kind: ResourceAttributeKind,
  ): Promise<Record<string, string>> {
    const { rows } = await this.query<{ key: string; value: string }>(
      `SELECT key, value FROM ${T.attributes} WHERE resource = $1 AND kind = $2 ORDER BY key`,
      [resource, kind],
    );
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  async updateResourceAttributes(
    resource: string,
    kind: ResourceAttributeKind,
    changes: Record<string, string | undefined>,
  ): Promise<void> {
    // Keys in a fixed order, so two concurrent updates of the same keys lock rows in the same order.
    const entries = Object.entries(changes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    await this.transaction(async (client) => {
      for (const [key, value] of entries) {
        if (value === undefined) {
          await client.query(`DELETE FROM ${T.attributes} WHERE resource = $1 AND kind = $2 AND key = $3`, [
            resource,
            kind,
            key,
          ]);
        } else {
          await client.query(
            `INSERT INTO ${T.attributes} (resource, kind, key, value) VALUES ($1, $2, $3, $4) ` +
              "ON CONFLICT (resource, kind, key) DO UPDATE SET value = excluded.value",
            [resource, kind, key, value],
          );
        }
      }
    });
  }

  async deleteResourceAttributes(resource: string): Promise<void> {
    await this.query(`DELETE FROM ${T.attributes} WHERE resource = $1 OR starts_with(resource, $2)`, [
      resource,
      `${resource}/table/`,
    ]);
  }

  catalogStore(bucketName: string): CatalogStore {
    let store = this.#catalogStores.get(bucketName);
    if (!store) {
      store = new PostgresCatalogStore(this, bucketName);
      this.#catalogStores.set(bucketName, store);
    }
    return store;
  }

  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ready.catch(() => {});
    await this.#pool.end();
  }
}

/** One bucket's namespaces and table pointers inside the shared PostgreSQL schema. */
export class PostgresCatalogStore implements CatalogStore {
  readonly #owner: PostgresServerStore;
  readonly #bucket: string;

  constructor(owner: PostgresServerStore, bucket: string) {
    this.#owner = owner;
    this.#bucket = bucket;
  }

  async createNamespace(namespace: Namespace, properties: Record<string, string>): Promise<void> {
    try {
      await this.#owner.query(
        `INSERT INTO ${T.namespaces} (bucket, namespace, parent, properties, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [
          this.#bucket,
          namespaceKey(namespace),
          namespaceKey(namespace.slice(0, -1)),
          JSON.stringify(properties),
          new Date().toISOString(),
        ],
      );
    } catch (error) {
      const code = pgCode(error);
      if (code === UNIQUE_VIOLATION) {
        throw new CatalogError("ALREADY_EXISTS", `namespace ${namespace.join(".")} already exists`);
      }
      if (code === FOREIGN_KEY_VIOLATION) {
        throw new ServerError("NO_SUCH_WAREHOUSE", `table bucket ${this.#bucket} does not exist`);
      }
      throw error;
    }
  }

  async getNamespace(namespace: Namespace): Promise<Record<string, string> | undefined> {
    const { rows } = await this.#owner.query<{ properties: string }>(
      `SELECT properties FROM ${T.namespaces} WHERE bucket = $1 AND namespace = $2`,
      [this.#bucket, namespaceKey(namespace)],
    );
    return rows[0] ? (JSON.parse(rows[0].properties) as Record<string, string>) : undefined;
  }

  async setNamespaceProperties(namespace: Namespace, properties: Record<string, string>): Promise<void> {
    const result = await this.#owner.query(
      `UPDATE ${T.namespaces} SET properties = $1 WHERE bucket = $2 AND namespace = $3`,
      [JSON.stringify(properties), this.#bucket, namespaceKey(namespace)],
    );
    if (result.rowCount === 0) {
      throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${namespace.join(".")} does not exist`);
    }
  }

  async listNamespaces(parent: Namespace = []): Promise<Namespace[]> {
    const { rows } = await this.#owner.query<{ namespace: string }>(
      `SELECT namespace FROM ${T.namespaces} WHERE bucket = $1 AND parent = $2 ORDER BY namespace`,
      [this.#bucket, namespaceKey(parent)],
    );
    return rows.map((r) => JSON.parse(r.namespace) as string[]);
  }

  async dropNamespace(namespace: Namespace): Promise<void> {
    try {
      await this.#owner.query(`DELETE FROM ${T.namespaces} WHERE bucket = $1 AND namespace = $2`, [
        this.#bucket,
        namespaceKey(namespace),
      ]);
    } catch (error) {
      if (pgCode(error) === FOREIGN_KEY_VIOLATION) {
        throw new CatalogError("NAMESPACE_NOT_EMPTY", `namespace ${namespace.join(".")} still holds tables`);
      }
      throw error;
    }
  }

  async getTable(identifier: TableIdentifier): Promise<string | undefined> {
    const { rows } = await this.#owner.query<{ location: string }>(
      `SELECT metadata_location AS location FROM ${T.tables} WHERE bucket = $1 AND namespace = $2 AND name = $3`,
      [this.#bucket, namespaceKey(identifier.namespace), identifier.name],
    );
    return rows[0]?.location;
  }

  async listTables(namespace: Namespace): Promise<TableIdentifier[]> {
    const { rows } = await this.#owner.query<{ name: string }>(
      `SELECT name FROM ${T.tables} WHERE bucket = $1 AND namespace = $2 ORDER BY name`,
      [this.#bucket, namespaceKey(namespace)],
    );
    return rows.map((r) => ({ namespace: [...namespace], name: r.name }));
  }

  async createTable(identifier: TableIdentifier, metadataLocation: string): Promise<void> {
    const now = new Date().toISOString();
    try {
      await this.#owner.query(
        `INSERT INTO ${T.tables} (bucket, namespace, name, metadata_location, version, table_id, created_at, updated_at) ` +
          "VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
        [
          this.#bucket,
          namespaceKey(identifier.namespace),
          identifier.name,
          metadataLocation,
          randomUUID(),
          now,
        ],
      );
    } catch (error) {
      throw tableConstraint(error, identifier);
    }
  }

  async renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void> {
    let changed: number | null;
    try {
      const result = await this.#owner.query(
        `UPDATE ${T.tables} SET namespace = $1, name = $2, version = version + 1, updated_at = $3 WHERE bucket = $4 AND namespace = $5 AND name = $6`,
        [
          namespaceKey(to.namespace),
          to.name,
          new Date().toISOString(),
          this.#bucket,
          namespaceKey(from.namespace),
          from.name,
        ],
      );
      changed = result.rowCount;
    } catch (error) {
      throw tableConstraint(error, to);
    }
    if (changed === 0) throw new CatalogError("NO_SUCH_TABLE", `table ${display(from)} does not exist`);
  }

  async dropTable(identifier: TableIdentifier): Promise<void> {
    await this.#owner.query(`DELETE FROM ${T.tables} WHERE bucket = $1 AND namespace = $2 AND name = $3`, [
      this.#bucket,
      namespaceKey(identifier.namespace),
      identifier.name,
    ]);
  }

  async swapPointers(swaps: readonly PointerSwap[]): Promise<boolean> {
    // Row locks are taken in key order (byte order, as the "C" collation sorts), so concurrent
    // multi-table swaps over the same tables cannot deadlock; a deadlock would still be retried.
    const keyed = swaps
      .map((swap) => ({ swap, key: namespaceKey([...swap.identifier.namespace, swap.identifier.name]) }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    const lostRace = Symbol("lost race");
    try {
      await this.#owner.transaction(async (client) => {
        const now = new Date().toISOString();
        for (const { swap } of keyed) {
          const result = await client.query(
            `UPDATE ${T.tables} SET metadata_location = $1, version = version + 1, updated_at = $2 ` +
              "WHERE bucket = $3 AND namespace = $4 AND name = $5 AND metadata_location = $6",
            [
              swap.next,
              now,
              this.#bucket,
              namespaceKey(swap.identifier.namespace),
              swap.identifier.name,
              swap.expected,
            ],
          );
          // Throwing rolls back the swaps of this transaction already made.
          if (result.rowCount !== 1) throw lostRace;
        }
      });
      return true;
    } catch (error) {
      if (error === lostRace) return false;
      throw error;
    }
  }
}
