/**
 * The embedded server store: one SQLite file (WAL mode) with the table buckets, and per bucket the
 * namespaces and each table's metadata pointer plus a version token counting its commits. A pointer
 * swap is one `BEGIN IMMEDIATE` transaction that compares and updates every table of a commit, so a
 * multi-table commit lands entirely or not at all, also against other processes on the same file
 * (`floe bucket` next to a running `floe serve`).
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
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

/** 2: table ids and namespace creation times (S3 Tables API), per-resource attributes. */
const schemaVersion = 2;

const ddl = `
CREATE TABLE IF NOT EXISTS buckets (
  name TEXT PRIMARY KEY,
  arn TEXT NOT NULL UNIQUE,
  storage TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
  bucket TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
  namespace TEXT NOT NULL,
  parent TEXT NOT NULL,
  properties TEXT NOT NULL,
  created_at TEXT,
  PRIMARY KEY (bucket, namespace)
);
CREATE INDEX IF NOT EXISTS namespaces_by_parent ON namespaces(bucket, parent);
CREATE TABLE IF NOT EXISTS tables (
  bucket TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  metadata_location TEXT NOT NULL,
  version INTEGER NOT NULL,
  table_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (bucket, namespace, name),
  FOREIGN KEY (bucket, namespace) REFERENCES namespaces(bucket, namespace)
);
CREATE TABLE IF NOT EXISTS resource_attributes (
  resource TEXT NOT NULL,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (resource, kind, key)
);
`;

/** Schema 1 → 2: columns added in place; rows from before get a fresh table id and the migration time. */
function migrate(db: Database.Database): void {
  const columns = (table: string) =>
    new Set((db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name));
  if (!columns("tables").has("table_id")) db.exec("ALTER TABLE tables ADD COLUMN table_id TEXT");
  if (!columns("namespaces").has("created_at")) db.exec("ALTER TABLE namespaces ADD COLUMN created_at TEXT");
  db.exec("UPDATE tables SET table_id = lower(hex(randomblob(16))) WHERE table_id IS NULL");
  db.prepare("UPDATE namespaces SET created_at = ? WHERE created_at IS NULL").run(new Date().toISOString());
  db.exec("CREATE UNIQUE INDEX IF NOT EXISTS tables_by_id ON tables(bucket, table_id)");
}

const tableColumns =
  "namespace, name, table_id AS tableId, metadata_location AS metadataLocation, version, " +
  "created_at AS createdAt, updated_at AS updatedAt";

interface TableRow extends Omit<TableRecord, "namespace"> {
  namespace: string;
}

const tableRecordOf = (row: TableRow): TableRecord => ({
  ...row,
  namespace: JSON.parse(row.namespace) as string[],
});

/** SQL condition: `column` starts with the bound text (exact and case-sensitive, unlike LIKE). */
const startsWith = (column: string) => `substr(${column}, 1, length(?)) = ?`;

/** Namespaces are stored as the JSON array of their levels, so any level text round-trips. */
const namespaceKey = (namespace: Namespace) => JSON.stringify(namespace);
const display = (id: TableIdentifier) => [...id.namespace, id.name].join(".");

interface SqliteErrorLike {
  code?: string;
}

function sqliteCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as SqliteErrorLike).code : undefined;
}

/** A constraint failure on a table row as the catalog's code (the name is taken, or its namespace is missing). */
function tableConstraint(error: unknown, identifier: TableIdentifier): unknown {
  const code = sqliteCode(error);
  if (code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new CatalogError("ALREADY_EXISTS", `table ${display(identifier)} already exists`);
  }
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY") {
    return new CatalogError(
      "NO_SUCH_NAMESPACE",
      `namespace ${identifier.namespace.join(".")} does not exist`,
    );
  }
  return error;
}

export interface SqliteServerStoreOptions {
  /** The database file; its directory is created when missing. `:memory:` for tests. */
  path: string;
  /** How long a writer waits for another process's lock before failing. */
  busyTimeoutMs?: number;
}

export class SqliteServerStore implements ServerStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #catalogStores = new Map<string, SqliteCatalogStore>();

  constructor(options: SqliteServerStoreOptions) {
    this.path = options.path;
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    try {
      this.#db = new Database(options.path);
      this.#db.pragma("journal_mode = WAL");
      // FULL: an acknowledged commit survives power loss (the sink acknowledges upstream after it).
      this.#db.pragma("synchronous = FULL");
      this.#db.pragma("foreign_keys = ON");
      this.#db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      const version = this.#db.pragma("user_version", { simple: true }) as number;
      if (version > schemaVersion) {
        throw new ServerError(
          "STORE_FAILED",
          `${options.path} was written by a newer Floe (store schema ${version}, this one knows ${schemaVersion}); upgrade Floe`,
        );
      }
      this.#db.transaction(() => {
        this.#db.exec(ddl);
        migrate(this.#db);
      })();
      this.#db.pragma(`user_version = ${schemaVersion}`);
    } catch (error) {
      if (error instanceof ServerError) throw error;
      throw new ServerError(
        "STORE_FAILED",
        `cannot open the catalog database ${options.path}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /** For the bucket-scoped stores: runs `fn` in one `BEGIN IMMEDIATE` transaction. */
  immediate<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  get db(): Database.Database {
    return this.#db;
  }

  async createBucket(bucket: TableBucketRecord): Promise<void> {
    try {
      this.#db
        .prepare("INSERT INTO buckets (name, arn, storage, created_at) VALUES (?, ?, ?, ?)")
        .run(bucket.name, bucket.arn, bucket.storage, bucket.createdAt);
    } catch (error) {
      if (sqliteCode(error)?.startsWith("SQLITE_CONSTRAINT")) {
        throw new ServerError("BUCKET_ALREADY_EXISTS", `table bucket ${bucket.name} already exists`);
      }
      throw error;
    }
  }

  async getBucket(nameOrArn: string): Promise<TableBucketRecord | undefined> {
    const row = this.#db
      .prepare("SELECT name, arn, storage, created_at AS createdAt FROM buckets WHERE name = ? OR arn = ?")
      .get(nameOrArn, nameOrArn) as TableBucketRecord | undefined;
    return row ? { ...row } : undefined;
  }

  async listBuckets(): Promise<TableBucketRecord[]> {
    return this.#db
      .prepare("SELECT name, arn, storage, created_at AS createdAt FROM buckets ORDER BY name")
      .all() as TableBucketRecord[];
  }

  async bucketUsage(name: string): Promise<BucketUsage> {
    const count = (table: string) =>
      (this.#db.prepare(`SELECT count(*) AS n FROM ${table} WHERE bucket = ?`).get(name) as { n: number }).n;
    return { namespaces: count("namespaces"), tables: count("tables") };
  }

  async deleteBucket(name: string): Promise<void> {
    this.#db.prepare("DELETE FROM buckets WHERE name = ?").run(name);
    this.#catalogStores.delete(name);
  }

  async getTableRecord(
    bucketName: string,
    namespace: readonly string[],
    name: string,
  ): Promise<TableRecord | undefined> {
    const row = this.#db
      .prepare(`SELECT ${tableColumns} FROM tables WHERE bucket = ? AND namespace = ? AND name = ?`)
      .get(bucketName, namespaceKey(namespace), name) as TableRow | undefined;
    return row ? tableRecordOf(row) : undefined;
  }

  async getTableRecordById(bucketName: string, tableId: string): Promise<TableRecord | undefined> {
    const row = this.#db
      .prepare(`SELECT ${tableColumns} FROM tables WHERE bucket = ? AND table_id = ?`)
      .get(bucketName, tableId) as TableRow | undefined;
    return row ? tableRecordOf(row) : undefined;
  }

  async listTableRecords(
    bucketName: string,
    query: PageQuery & { namespace?: readonly string[] },
  ): Promise<TableRecord[]> {
    const where = ["bucket = ?"];
    const args: unknown[] = [bucketName];
    if (query.namespace) {
      where.push("namespace = ?");
      args.push(namespaceKey(query.namespace));
    }
    if (query.prefix) {
      where.push(startsWith("name"));
      args.push(query.prefix, query.prefix);
    }
    if (query.after !== undefined) {
      // The cursor is the JSON pair [namespace key, name] of the last row returned.
      const [afterNamespace, afterName] = JSON.parse(query.after) as [string, string];
      where.push("(namespace, name) > (?, ?)");
      args.push(afterNamespace, afterName);
    }
    const rows = this.#db
      .prepare(
        `SELECT ${tableColumns} FROM tables WHERE ${where.join(" AND ")} ORDER BY namespace, name LIMIT ?`,
      )
      .all(...args, query.limit) as TableRow[];
    return rows.map(tableRecordOf);
  }

  async listNamespaceRecords(bucketName: string, query: PageQuery): Promise<NamespaceRecord[]> {
    const where = ["bucket = ?", "parent = ?"];
    const args: unknown[] = [bucketName, namespaceKey([])];
    if (query.prefix) {
      // Keys are JSON arrays: a one-level namespace `x` is stored as ["x"].
      const keyPrefix = namespaceKey([query.prefix]).slice(0, -2);
      where.push(startsWith("namespace"));
      args.push(keyPrefix, keyPrefix);
    }
    if (query.after !== undefined) {
      where.push("namespace > ?");
      args.push(namespaceKey([query.after]));
    }
    const rows = this.#db
      .prepare(
        `SELECT namespace, created_at AS createdAt FROM namespaces WHERE ${where.join(" AND ")} ORDER BY namespace LIMIT ?`,
      )
      .all(...args, query.limit) as Array<{ namespace: string; createdAt: string }>;
    return rows.map((row) => ({
      namespace: JSON.parse(row.namespace) as string[],
      createdAt: row.createdAt,
    }));
  }

  async getNamespaceRecord(
    bucketName: string,
    namespace: readonly string[],
  ): Promise<NamespaceRecord | undefined> {
    const row = this.#db
      .prepare("SELECT created_at AS createdAt FROM namespaces WHERE bucket = ? AND namespace = ?")
      .get(bucketName, namespaceKey(namespace)) as { createdAt: string } | undefined;
    return row ? { namespace: [...namespace], createdAt: row.createdAt } : undefined;
  }

  async swapTableVersion(
    bucketName: string,
    tableId: string,
    expectedVersion: number,
    next: string,
  ): Promise<boolean> {
    const result = this.#db
      .prepare(
        "UPDATE tables SET metadata_location = ?, version = version + 1, updated_at = ? " +
          "WHERE bucket = ? AND table_id = ? AND version = ?",
      )
      .run(next, new Date().toISOString(), bucketName, tableId, expectedVersion);
    return result.changes === 1;
  }

  async deleteTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    resource: string,
  ): Promise<boolean> {
    return this.immediate(() => {
      const result = this.#db
        .prepare(
          "DELETE FROM tables WHERE bucket = ? AND namespace = ? AND name = ? AND table_id = ? AND version = ?",
        )
        .run(bucketName, namespaceKey(expected.namespace), expected.name, expected.tableId, expected.version);
      if (result.changes !== 1) return false;
      this.#db.prepare("DELETE FROM resource_attributes WHERE resource = ?").run(resource);
      return true;
    });
  }

  async renameTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    to: TableIdentifier,
  ): Promise<boolean> {
    try {
      const result = this.#db
        .prepare(
          "UPDATE tables SET namespace = ?, name = ?, version = version + 1, updated_at = ? " +
            "WHERE bucket = ? AND namespace = ? AND name = ? AND table_id = ? AND version = ?",
        )
        .run(
          namespaceKey(to.namespace),
          to.name,
          new Date().toISOString(),
          bucketName,
          namespaceKey(expected.namespace),
          expected.name,
          expected.tableId,
          expected.version,
        );
      return result.changes === 1;
    } catch (error) {
      throw tableConstraint(error, to);
    }
  }

  async getResourceAttributes(
    resource: string,
    kind: ResourceAttributeKind,
  ): Promise<Record<string, string>> {
    const rows = this.#db
      .prepare("SELECT key, value FROM resource_attributes WHERE resource = ? AND kind = ? ORDER BY key")
      .all(resource, kind) as Array<{ key: string; value: string }>;
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  async updateResourceAttributes(
    resource: string,
    kind: ResourceAttributeKind,
    changes: Record<string, string | undefined>,
  ): Promise<void> {
    const upsert = this.#db.prepare(
      "INSERT INTO resource_attributes (resource, kind, key, value) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (resource, kind, key) DO UPDATE SET value = excluded.value",
    );
    const remove = this.#db.prepare(
      "DELETE FROM resource_attributes WHERE resource = ? AND kind = ? AND key = ?",
    );
    this.immediate(() => {
      for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) remove.run(resource, kind, key);
        else upsert.run(resource, kind, key, value);
      }
    });
  }

  async deleteResourceAttributes(resource: string): Promise<void> {
    this.#db
      .prepare(`DELETE FROM resource_attributes WHERE resource = ? OR ${startsWith("resource")}`)
      .run(resource, `${resource}/table/`, `${resource}/table/`);
  }

  catalogStore(bucketName: string): CatalogStore {
    let store = this.#catalogStores.get(bucketName);
    if (!store) {
      store = new SqliteCatalogStore(this, bucketName);
      this.#catalogStores.set(bucketName, store);
    }
    return store;
  }

  async ping(): Promise<void> {
    this.#db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/** One bucket's namespaces and table pointers inside the shared SQLite file. */
export class SqliteCatalogStore implements CatalogStore {
  readonly #owner: SqliteServerStore;
  readonly #bucket: string;

  constructor(owner: SqliteServerStore, bucket: string) {
    this.#owner = owner;
    this.#bucket = bucket;
  }

  get #db() {
    return this.#owner.db;
  }

  async createNamespace(namespace: Namespace, properties: Record<string, string>): Promise<void> {
    try {
      this.#db
        .prepare(
          "INSERT INTO namespaces (bucket, namespace, parent, properties, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .run(
          this.#bucket,
          namespaceKey(namespace),
          namespaceKey(namespace.slice(0, -1)),
          JSON.stringify(properties),
          new Date().toISOString(),
        );
    } catch (error) {
      const code = sqliteCode(error);
      if (code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new CatalogError("ALREADY_EXISTS", `namespace ${namespace.join(".")} already exists`);
      }
      if (code === "SQLITE_CONSTRAINT_FOREIGNKEY") {
        throw new ServerError("NO_SUCH_WAREHOUSE", `table bucket ${this.#bucket} does not exist`);
      }
      throw error;
    }
  }

  async getNamespace(namespace: Namespace): Promise<Record<string, string> | undefined> {
    const row = this.#db
      .prepare("SELECT properties FROM namespaces WHERE bucket = ? AND namespace = ?")
      .get(this.#bucket, namespaceKey(namespace)) as { properties: string } | undefined;
    return row ? (JSON.parse(row.properties) as Record<string, string>) : undefined;
  }

  async setNamespaceProperties(namespace: Namespace, properties: Record<string, string>): Promise<void> {
    const result = this.#db
      .prepare("UPDATE namespaces SET properties = ? WHERE bucket = ? AND namespace = ?")
      .run(JSON.stringify(properties), this.#bucket, namespaceKey(namespace));
    if (result.changes === 0) {
      throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${namespace.join(".")} does not exist`);
    }
  }

  async listNamespaces(parent: Namespace = []): Promise<Namespace[]> {
    const rows = this.#db
      .prepare("SELECT namespace FROM namespaces WHERE bucket = ? AND parent = ? ORDER BY namespace")
      .all(this.#bucket, namespaceKey(parent)) as Array<{ namespace: string }>;
    return rows.map((r) => JSON.parse(r.namespace) as string[]);
  }

  async dropNamespace(namespace: Namespace): Promise<void> {
    try {
      this.#db
        .prepare("DELETE FROM namespaces WHERE bucket = ? AND namespace = ?")
        .run(this.#bucket, namespaceKey(namespace));
    } catch (error) {
      if (sqliteCode(error) === "SQLITE_CONSTRAINT_FOREIGNKEY") {
        throw new CatalogError("NAMESPACE_NOT_EMPTY", `namespace ${namespace.join(".")} still holds tables`);
      }
      throw error;
    }
  }

  async getTable(identifier: TableIdentifier): Promise<string | undefined> {
    const row = this.#db
      .prepare(
        "SELECT metadata_location AS location FROM tables WHERE bucket = ? AND namespace = ? AND name = ?",
      )
      .get(this.#bucket, namespaceKey(identifier.namespace), identifier.name) as
      | { location: string }
      | undefined;
    return row?.location;
  }

  async listTables(namespace: Namespace): Promise<TableIdentifier[]> {
    const rows = this.#db
      .prepare("SELECT name FROM tables WHERE bucket = ? AND namespace = ? ORDER BY name")
      .all(this.#bucket, namespaceKey(namespace)) as Array<{ name: string }>;
    return rows.map((r) => ({ namespace: [...namespace], name: r.name }));
  }

  async createTable(identifier: TableIdentifier, metadataLocation: string): Promise<void> {
    const now = new Date().toISOString();
    try {
      this.#db
        .prepare(
          "INSERT INTO tables (bucket, namespace, name, metadata_location, version, table_id, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
        )
        .run(
          this.#bucket,
          namespaceKey(identifier.namespace),
          identifier.name,
          metadataLocation,
          randomUUID(),
          now,
          now,
        );
    } catch (error) {
      throw tableConstraint(error, identifier);
    }
  }

  async renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void> {
    try {
      const result = this.#db
        .prepare(
          "UPDATE tables SET namespace = ?, name = ?, version = version + 1, updated_at = ? WHERE bucket = ? AND namespace = ? AND name = ?",
        )
        .run(
          namespaceKey(to.namespace),
          to.name,
          new Date().toISOString(),
          this.#bucket,
          namespaceKey(from.namespace),
          from.name,
        );
      if (result.changes === 0) {
        throw new CatalogError("NO_SUCH_TABLE", `table ${display(from)} does not exist`);
      }
    } catch (error) {
      throw tableConstraint(error, to);
    }
  }

  async dropTable(identifier: TableIdentifier): Promise<void> {
    this.#db
      .prepare("DELETE FROM tables WHERE bucket = ? AND namespace = ? AND name = ?")
      .run(this.#bucket, namespaceKey(identifier.namespace), identifier.name);
  }

  async swapPointers(swaps: readonly PointerSwap[]): Promise<boolean> {
    const update = this.#db.prepare(
      "UPDATE tables SET metadata_location = ?, version = version + 1, updated_at = ? " +
        "WHERE bucket = ? AND namespace = ? AND name = ? AND metadata_location = ?",
    );
    const lostRace = Symbol("lost race");
    try {
      this.#owner.immediate(() => {
        const now = new Date().toISOString();
        for (const swap of swaps) {
          const result = update.run(
            swap.next,
            now,
            this.#bucket,
            namespaceKey(swap.identifier.namespace),
            swap.identifier.name,
            swap.expected,
          );
          // Throwing rolls back the swaps of this transaction already made.
          if (result.changes !== 1) throw lostRace;
        }
      });
      return true;
    } catch (error) {
      if (error === lostRace) return false;
      throw error;
    }
  }
}
