/**
 * A `Catalog` over a `CatalogStore` and a FileIO: the embedded catalog, and the engine behind
 * `floe serve`. A commit reads the current metadata, checks the requirements, applies the updates,
 * writes the next `NNNNN-<uuid>.metadata.json` (never overwriting one), then swaps the pointer(s). A
 * crash between the write and the swap leaves the table as it was and an unreferenced file behind.
 * Metadata this catalog read or wrote is kept by location (`TableMetadataCache`), so loading a table
 * after its last commit, and the next commit, cost a pointer lookup rather than a read and a parse.
 */
import { randomUUID } from "node:crypto";
import { IcebergError } from "../iceberg/errors.ts";
import {
  metadataFileName,
  metadataFileVersion,
  newTableMetadata,
  parseTableMetadata,
  type TableMetadata,
  tableMetadataFileBytes,
} from "../iceberg/table-metadata.ts";
import { appendMetadataLog, applyUpdates, checkRequirements } from "../iceberg/table-update.ts";
import { IoError } from "../io/errors.ts";
import type { FileIO } from "../io/file-io.ts";
import {
  type Catalog,
  type CommitTableRequest,
  type CreateTableOptions,
  formatIdentifier,
  type LoadedTable,
  type Namespace,
  type TableIdentifier,
  validateName,
} from "./catalog.ts";
import type { CatalogStore, PointerSwap } from "./catalog-store.ts";
import { CatalogError } from "./errors.ts";
import { TableMetadataCache } from "./metadata-cache.ts";

export interface StoreCatalogOptions {
  name: string;
  store: CatalogStore;
  io: FileIO;
  /** Root location for new tables, e.g. `file:///data/warehouse` or `s3://bucket/warehouse`. */
  warehouse: string;
  now?: () => number;
  /** Parsed metadata by location; several catalogs may share one. Default: a cache of this catalog's own. */
  metadataCache?: TableMetadataCache;
}

export class StoreCatalog implements Catalog {
  readonly name: string;
  readonly #store: CatalogStore;
  readonly #io: FileIO;
  readonly #warehouse: string;
  readonly #now: () => number;
  readonly #metadataCache: TableMetadataCache;

  constructor(options: StoreCatalogOptions) {
    this.name = options.name;
    this.#store = options.store;
    this.#io = options.io;
    this.#warehouse = options.warehouse.replace(/\/+$/, "");
    this.#now = options.now ?? Date.now;
    this.#metadataCache = options.metadataCache ?? new TableMetadataCache();
  }

  async listNamespaces(parent?: Namespace): Promise<Namespace[]> {
    if (parent && parent.length > 0) await this.#requireNamespace(parent);
    return this.#store.listNamespaces(parent);
  }

  async createNamespace(namespace: Namespace, properties: Record<string, string> = {}): Promise<void> {
    if (namespace.length === 0)
      throw new CatalogError("INVALID_INPUT", "a namespace needs at least one level");
    for (const level of namespace) validateName("namespace", level);
    if (namespace.length > 1) await this.#requireNamespace(namespace.slice(0, -1));
    await this.#store.createNamespace(namespace, properties);
  }

  async namespaceExists(namespace: Namespace): Promise<boolean> {
    return (await this.#store.getNamespace(namespace)) !== undefined;
  }

  async loadNamespaceProperties(namespace: Namespace): Promise<Record<string, string>> {
    return this.#requireNamespace(namespace);
  }

  async updateNamespaceProperties(namespace: Namespace, updates: Record<string, string>, removals: string[]) {
    const properties = await this.#requireNamespace(namespace);
    for (const key of removals) delete properties[key];
    await this.#store.setNamespaceProperties(namespace, { ...properties, ...updates });
  }

  async dropNamespace(namespace: Namespace): Promise<void> {
    await this.#requireNamespace(namespace);
    const tables = await this.#store.listTables(namespace);
    const children = await this.#store.listNamespaces(namespace);
    if (tables.length > 0 || children.length > 0) {
      throw new CatalogError(
        "NAMESPACE_NOT_EMPTY",
        `namespace ${namespace.join(".")} still holds ${tables.length} table(s) and ${children.length} namespace(s); drop them first`,
      );
    }
    await this.#store.dropNamespace(namespace);
  }

  async listTables(namespace: Namespace): Promise<TableIdentifier[]> {
    await this.#requireNamespace(namespace);
    return this.#store.listTables(namespace);
  }

  async createTable(identifier: TableIdentifier, options: CreateTableOptions): Promise<LoadedTable> {
    validateName("table", identifier.name);
    await this.#requireNamespace(identifier.namespace);
    if (await this.#store.getTable(identifier)) {
      throw new CatalogError("ALREADY_EXISTS", `table ${formatIdentifier(identifier)} already exists`);
    }
    const location =
      options.location ??
      `${this.#warehouse}/${identifier.namespace.map(encodeURIComponent).join("/")}/${encodeURIComponent(identifier.name)}-${randomUUID().replaceAll("-", "")}`;
    const created = newTableMetadata({
      location,
      schema: options.schema,
      ...(options.spec ? { spec: options.spec } : {}),
      ...(options.sortOrder ? { sortOrder: options.sortOrder } : {}),
      properties: options.properties ?? {},
      nowMs: this.#now(),
    });
    const written = await this.#writeMetadata(created, 0);
    try {
      await this.#store.createTable(identifier, written.location);
    } catch (error) {
      await this.#io.delete(written.location).catch(() => {});
      throw error;
    }
    const metadata = this.#metadataCache.set(written.location, created, written.chars);
    return { identifier, metadataLocation: written.location, metadata, io: this.#io };
  }

  async loadTable(identifier: TableIdentifier): Promise<LoadedTable> {
    const metadataLocation = await this.#store.getTable(identifier);
    if (!metadataLocation)
      throw new CatalogError("NO_SUCH_TABLE", `table ${formatIdentifier(identifier)} does not exist`);
    return {
      identifier,
      metadataLocation,
      metadata: await this.#readMetadata(metadataLocation),
      io: this.#io,
    };
  }

  async tableExists(identifier: TableIdentifier): Promise<boolean> {
    return (await this.#store.getTable(identifier)) !== undefined;
  }

  async registerTable(identifier: TableIdentifier, metadataLocation: string): Promise<LoadedTable> {
    validateName("table", identifier.name);
    await this.#requireNamespace(identifier.namespace);
    const metadata = await this.#readMetadata(metadataLocation);
    await this.#store.createTable(identifier, metadataLocation);
    return { identifier, metadataLocation, metadata, io: this.#io };
  }

  async renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void> {
    validateName("table", to.name);
    await this.#requireNamespace(to.namespace);
    await this.#store.renameTable(from, to);
  }

  async dropTable(identifier: TableIdentifier, options: { purge?: boolean } = {}): Promise<void> {
    const table = await this.loadTable(identifier);
    await this.#store.dropTable(identifier);
    this.#metadataCache.delete(table.metadataLocation);
    if (options.purge) {
      const files: string[] = [];
      for await (const file of this.#io.list(`${table.metadata.location}/`)) files.push(file.location);
      await this.#io.deleteMany(files);
    }
  }

  async commitTable(request: CommitTableRequest): Promise<LoadedTable> {
    const [loaded] = await this.commitTransaction([request]);
    if (!loaded) throw new CatalogError("INVALID_INPUT", "commit produced no table");
    return loaded;
  }

  async commitTransaction(requests: readonly CommitTableRequest[]): Promise<LoadedTable[]> {
    const seen = new Set<string>();
    for (const request of requests) {
      const name = formatIdentifier(request.identifier);
      if (seen.has(name))
        throw new CatalogError("INVALID_INPUT", `table ${name} appears twice in one transaction`);
      seen.add(name);
    }
    const staged: Array<{
      request: CommitTableRequest;
      swap: PointerSwap;
      metadata: TableMetadata;
      chars: number;
    }> = [];
    try {
      for (const request of requests) {
        const current = await this.loadTable(request.identifier);
        try {
          checkRequirements(current.metadata, request.requirements);
        } catch (error) {
          throw toCatalogError(error, request.identifier);
        }
        let next: TableMetadata;
        try {
          next = applyUpdates(current.metadata, request.updates, { nowMs: this.#now() });
        } catch (error) {
          throw toCatalogError(error, request.identifier);
        }
        next = appendMetadataLog(next, current.metadataLocation, current.metadata.lastUpdatedMs);
        const version = (metadataFileVersion(current.metadataLocation) ?? 0) + 1;
        const written = await this.#writeMetadata(next, version);
        staged.push({
          request,
          swap: {
            identifier: request.identifier,
            expected: current.metadataLocation,
            next: written.location,
          },
          metadata: next,
          chars: written.chars,
        });
      }
      let swapped: boolean;
      try {
        swapped = await this.#store.swapPointers(staged.map((s) => s.swap));
      } catch (error) {
        // The store may have applied the swap before failing (e.g. the connection dropped during
        // COMMIT): the new files may be the tables' metadata now, so they stay, and the caller must
        // reload before deciding anything (a leftover is an orphan for maintenance to remove).
        throw new CatalogError(
          "COMMIT_STATE_UNKNOWN",
          `commit to ${[...seen].join(", ")}: the catalog store failed while swapping the metadata pointers, so the commit may or may not be in; reload the tables to see`,
          { cause: error },
        );
      }
      if (!swapped) {
        throw new CatalogError(
          "COMMIT_FAILED",
          `commit to ${[...seen].join(", ")} lost a race: another commit changed the table first; reload and retry`,
        );
      }
    } catch (error) {
      // Nothing was swapped (or, unknown, nothing is deleted): the files written for this attempt are
      // referenced by no one.
      if (!(error instanceof CatalogError && error.code === "COMMIT_STATE_UNKNOWN"))
        await this.#io.deleteMany(staged.map((s) => s.swap.next)).catch(() => {});
      throw error;
    }
    return staged.map((s) => {
      // The replaced version is history now; the new one is what the next load and commit start from.
      this.#metadataCache.delete(s.swap.expected);
      return {
        identifier: s.request.identifier,
        metadataLocation: s.swap.next,
        metadata: this.#metadataCache.set(s.swap.next, s.metadata, s.chars),
        io: this.#io,
      };
    });
  }

  async #requireNamespace(namespace: Namespace): Promise<Record<string, string>> {
    const properties = await this.#store.getNamespace(namespace);
    if (!properties)
      throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${namespace.join(".")} does not exist`);
    return properties;
  }

  async #readMetadata(location: string): Promise<TableMetadata> {
    const cached = this.#metadataCache.get(location);
    if (cached) return cached;
    const text = new TextDecoder().decode(await this.#io.read(location));
    return this.#metadataCache.set(location, parseTableMetadata(text, location), text.length);
  }

  /** Writes the next metadata file (never over an existing one): its location and size (≈ text length). */
  async #writeMetadata(
    metadata: TableMetadata,
    version: number,
  ): Promise<{ location: string; chars: number }> {
    const location = `${metadata.location}/metadata/${metadataFileName(version)}`;
    const bytes = tableMetadataFileBytes(metadata);
    try {
      await this.#io.write(location, bytes, { ifNotExists: true });
    } catch (error) {
      if (error instanceof IoError && error.code === "ALREADY_EXISTS") {
        throw new CatalogError(
          "COMMIT_FAILED",
          `metadata file ${location} already exists; retry the commit`,
          { cause: error },
        );
      }
      throw error;
    }
    return { location, chars: bytes.length };
  }
}

function toCatalogError(error: unknown, identifier: TableIdentifier): unknown {
  if (error instanceof IcebergError) {
    const name = formatIdentifier(identifier);
    if (error.code === "COMMIT_CONFLICT")
      return new CatalogError("COMMIT_FAILED", `${name}: ${error.message}`, { cause: error });
    if (error.code === "NOT_FOUND")
      return new CatalogError("NO_SUCH_TABLE", `${name}: ${error.message}`, { cause: error });
    return new CatalogError("INVALID_INPUT", `${name}: ${error.message}`, { cause: error });
  }
  return error;
}
