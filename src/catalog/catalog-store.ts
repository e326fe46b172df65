/**
 * Where a catalog keeps its namespaces and each table's metadata pointer. The pointer swap is the
 * commit point of every table change (compare-and-swap, several tables at once for transactions).
 * The in-memory store here serves tests and single-process embedding; `floe serve` adds SQLite and
 * PostgreSQL stores behind the same interface.
 */
import type { Namespace, TableIdentifier } from "./catalog.ts";
import { CatalogError } from "./errors.ts";

export interface PointerSwap {
  identifier: TableIdentifier;
  /** The metadata location the writer read; the swap fails if the table has moved on. */
  expected: string;
  next: string;
}

export interface CatalogStore {
  createNamespace(namespace: Namespace, properties: Record<string, string>): Promise<void>;
  /** Properties, or undefined when the namespace does not exist. */
  getNamespace(namespace: Namespace): Promise<Record<string, string> | undefined>;
  setNamespaceProperties(namespace: Namespace, properties: Record<string, string>): Promise<void>;
  /** Direct children of `parent` (top-level namespaces when absent). */
  listNamespaces(parent?: Namespace): Promise<Namespace[]>;
  dropNamespace(namespace: Namespace): Promise<void>;

  /** The table's current metadata location, or undefined. */
  getTable(identifier: TableIdentifier): Promise<string | undefined>;
  listTables(namespace: Namespace): Promise<TableIdentifier[]>;
  /** ALREADY_EXISTS when the name is taken. */
  createTable(identifier: TableIdentifier, metadataLocation: string): Promise<void>;
  renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void>;
  dropTable(identifier: TableIdentifier): Promise<void>;
  /** All swaps or none: false (and nothing changed) when any table's pointer is not `expected`. */
  swapPointers(swaps: readonly PointerSwap[]): Promise<boolean>;
}

const key = (namespace: Namespace) => JSON.stringify(namespace);
const tableKey = (id: TableIdentifier) => JSON.stringify([...id.namespace, id.name]);

export class InMemoryCatalogStore implements CatalogStore {
  readonly #namespaces = new Map<string, { namespace: Namespace; properties: Record<string, string> }>();
  readonly #tables = new Map<string, { identifier: TableIdentifier; location: string }>();

  async createNamespace(namespace: Namespace, properties: Record<string, string>): Promise<void> {
    if (this.#namespaces.has(key(namespace))) {
      throw new CatalogError("ALREADY_EXISTS", `namespace ${namespace.join(".")} already exists`);
    }
    this.#namespaces.set(key(namespace), { namespace: [...namespace], properties: { ...properties } });
  }

  async getNamespace(namespace: Namespace) {
    const found = this.#namespaces.get(key(namespace));
    return found ? { ...found.properties } : undefined;
  }

  async setNamespaceProperties(namespace: Namespace, properties: Record<string, string>) {
    const found = this.#namespaces.get(key(namespace));
    if (!found)
      throw new CatalogError("NO_SUCH_NAMESPACE", `namespace ${namespace.join(".")} does not exist`);
    found.properties = { ...properties };
  }

  async listNamespaces(parent: Namespace = []) {
    return [...this.#namespaces.values()]
      .map((n) => n.namespace)
      .filter((ns) => ns.length === parent.length + 1 && parent.every((part, i) => ns[i] === part));
  }

  async dropNamespace(namespace: Namespace) {
    this.#namespaces.delete(key(namespace));
  }

  async getTable(identifier: TableIdentifier) {
    return this.#tables.get(tableKey(identifier))?.location;
  }

  async listTables(namespace: Namespace) {
    return [...this.#tables.values()]
      .map((t) => t.identifier)
      .filter((id) => key(id.namespace) === key(namespace));
  }

  async createTable(identifier: TableIdentifier, metadataLocation: string) {
    if (this.#tables.has(tableKey(identifier))) {
      throw new CatalogError(
        "ALREADY_EXISTS",
        `table ${[...identifier.namespace, identifier.name].join(".")} already exists`,
      );
    }
    this.#tables.set(tableKey(identifier), { identifier, location: metadataLocation });
  }

  async renameTable(from: TableIdentifier, to: TableIdentifier) {
    const found = this.#tables.get(tableKey(from));
    if (!found)
      throw new CatalogError(
        "NO_SUCH_TABLE",
        `table ${[...from.namespace, from.name].join(".")} does not exist`,
      );
    if (this.#tables.has(tableKey(to))) {
      throw new CatalogError(
        "ALREADY_EXISTS",
        `table ${[...to.namespace, to.name].join(".")} already exists`,
      );
    }
    this.#tables.delete(tableKey(from));
    this.#tables.set(tableKey(to), { identifier: to, location: found.location });
  }

  async dropTable(identifier: TableIdentifier) {
    this.#tables.delete(tableKey(identifier));
  }

  async swapPointers(swaps: readonly PointerSwap[]) {
    // Single-threaded JS: checking all then writing all without an await in between is atomic.
    for (const swap of swaps) {
      if (this.#tables.get(tableKey(swap.identifier))?.location !== swap.expected) return false;
    }
    for (const swap of swaps) {
      this.#tables.set(tableKey(swap.identifier), { identifier: swap.identifier, location: swap.next });
    }
    return true;
  }
}
