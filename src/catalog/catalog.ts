/**
 * The `Catalog` interface every Floe component talks to (the table library, the sink, dump), whatever
 * is behind it: the embedded store-backed catalog, or an Iceberg REST catalog (Floe's own server or any
 * other). Table changes go through `commitTable` / `commitTransaction` as requirements + updates.
 */

import type { PartitionSpec } from "../iceberg/partitioning.ts";
import type { Schema } from "../iceberg/schema.ts";
import type { SortOrder } from "../iceberg/sort-order.ts";
import type { TableMetadata } from "../iceberg/table-metadata.ts";
import type { TableRequirement, TableUpdate } from "../iceberg/table-update.ts";
import type { FileIO } from "../io/file-io.ts";
import { CatalogError } from "./errors.ts";

export type Namespace = readonly string[];

export interface TableIdentifier {
  namespace: Namespace;
  name: string;
}

/** A table as loaded: its current metadata, where that metadata is stored, and how to read its files. */
export interface LoadedTable {
  identifier: TableIdentifier;
  metadataLocation: string;
  metadata: TableMetadata;
  io: FileIO;
}

export interface CreateTableOptions {
  schema: Schema;
  spec?: PartitionSpec;
  sortOrder?: SortOrder;
  properties?: Record<string, string>;
  /** Defaults to `<warehouse>/<namespace>/<table>-<uuid>` (a dropped-and-recreated table never shares files). */
  location?: string;
}

export interface CommitTableRequest {
  identifier: TableIdentifier;
  requirements: readonly TableRequirement[];
  updates: readonly TableUpdate[];
}

export interface Catalog {
  readonly name: string;
  listNamespaces(parent?: Namespace): Promise<Namespace[]>;
  createNamespace(namespace: Namespace, properties?: Record<string, string>): Promise<void>;
  namespaceExists(namespace: Namespace): Promise<boolean>;
  loadNamespaceProperties(namespace: Namespace): Promise<Record<string, string>>;
  updateNamespaceProperties(
    namespace: Namespace,
    updates: Record<string, string>,
    removals: string[],
  ): Promise<void>;
  /** Fails with NAMESPACE_NOT_EMPTY while it holds tables. */
  dropNamespace(namespace: Namespace): Promise<void>;

  listTables(namespace: Namespace): Promise<TableIdentifier[]>;
  createTable(identifier: TableIdentifier, options: CreateTableOptions): Promise<LoadedTable>;
  loadTable(identifier: TableIdentifier): Promise<LoadedTable>;
  tableExists(identifier: TableIdentifier): Promise<boolean>;
  /** Registers an existing metadata file as a new table. */
  registerTable(identifier: TableIdentifier, metadataLocation: string): Promise<LoadedTable>;
  renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void>;
  /** `purge` also deletes every file of the table. */
  dropTable(identifier: TableIdentifier, options?: { purge?: boolean }): Promise<void>;

  /** One table's change; COMMIT_FAILED when a requirement does not hold (reload and retry). */
  commitTable(request: CommitTableRequest): Promise<LoadedTable>;
  /** Several tables' changes, atomically: all land or none does. */
  commitTransaction(requests: readonly CommitTableRequest[]): Promise<LoadedTable[]>;
}

const namePattern = /^[^\s./\\\0][^/\\\0]*$/;

/** Validates a namespace level or table name: non-empty, no slashes, dots or control characters at the start. */
export function validateName(kind: "namespace" | "table", name: string): void {
  if (!namePattern.test(name) || name.length > 255) {
    throw new CatalogError(
      "INVALID_INPUT",
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-255 characters without '/', '\\' or a leading '.' or space`,
    );
  }
}

export function formatIdentifier(identifier: TableIdentifier): string {
  return [...identifier.namespace, identifier.name].join(".");
}

/** `ns.table` or `a.b.table` (the last part is the table). */
export function parseIdentifier(text: string): TableIdentifier {
  const parts = text.split(".");
  const name = parts.pop();
  if (!name || parts.length === 0) {
    throw new CatalogError("INVALID_INPUT", `table identifier '${text}' must be <namespace>.<table>`);
  }
  return { namespace: parts, name };
}
