/**
 * What `floe serve` keeps besides the files in object storage: its table buckets and, per bucket, the
 * catalog (namespaces and each table's metadata pointer). SQLite is the embedded implementation;
 * a PostgreSQL store implements the same interface for several servers sharing one catalog.
 */
import type { TableIdentifier } from "../../catalog/catalog.ts";
import type { CatalogStore } from "../../catalog/catalog-store.ts";

/** A table bucket as S3 Tables names it: a name, its ARN, and where its tables' files live. */
export interface TableBucketRecord {
  name: string;
  arn: string;
  /** Root location of the bucket's tables: `file:///dir` or `s3://bucket/prefix`. */
  storage: string;
  /** ISO-8601 creation time. */
  createdAt: string;
}

export interface BucketUsage {
  namespaces: number;
  tables: number;
}

/** A table's row as the S3 Tables API reports it (the pointer plus identity and times). */
export interface TableRecord {
  namespace: string[];
  name: string;
  /** Stable across renames; part of the table ARN. */
  tableId: string;
  metadataLocation: string;
  /**
   * Counts changes of the table's row — pointer swaps and renames (creation is 1); the S3 Tables
   * versionToken is derived from it and the id, so a token names one state of the table.
   */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface NamespaceRecord {
  namespace: string[];
  /** ISO-8601; the store's migration time for namespaces created before it recorded one. */
  createdAt: string;
}

/** One page of a listing in name order: rows after `after` (exclusive) whose name starts with `prefix`. */
export interface PageQuery {
  prefix?: string;
  after?: string;
  limit: number;
}

/**
 * Per-resource attributes of the S3 Tables API, keyed by the resource's ARN: maintenance configuration
 * (key = maintenance type), maintenance job status (key = type), resource policy (key = ""), tags.
 */
export type ResourceAttributeKind = "maintenance" | "job-status" | "policy" | "tag";

export interface ServerStore {
  /** ServerError BUCKET_ALREADY_EXISTS when the name (or ARN) is taken. */
  createBucket(bucket: TableBucketRecord): Promise<void>;
  /** The bucket with this name or ARN, or undefined. */
  getBucket(nameOrArn: string): Promise<TableBucketRecord | undefined>;
  listBuckets(): Promise<TableBucketRecord[]>;
  bucketUsage(name: string): Promise<BucketUsage>;
  /** Removes the bucket record; the caller checks it is empty first. */
  deleteBucket(name: string): Promise<void>;
  /** The catalog store of one bucket (namespaces, tables, atomic pointer swaps). */
  catalogStore(bucketName: string): CatalogStore;
  /** A table with its identity and version, or undefined. */
  getTableRecord(
    bucketName: string,
    namespace: readonly string[],
    name: string,
  ): Promise<TableRecord | undefined>;
  getTableRecordById(bucketName: string, tableId: string): Promise<TableRecord | undefined>;
  /** Tables of one namespace (or of the whole bucket), ordered by JSON namespace key then name. */
  listTableRecords(
    bucketName: string,
    query: PageQuery & { namespace?: readonly string[] },
  ): Promise<TableRecord[]>;
  /** Top-level namespaces in name order. */
  listNamespaceRecords(bucketName: string, query: PageQuery): Promise<NamespaceRecord[]>;
  getNamespaceRecord(bucketName: string, namespace: readonly string[]): Promise<NamespaceRecord | undefined>;
  /**
   * Compare-and-swap of one table's pointer on its version (not its location, so A→B→A is still seen
   * as a change): false, and nothing changed, when the table is not at `expectedVersion`.
   */
  swapTableVersion(
    bucketName: string,
    tableId: string,
    expectedVersion: number,
    next: string,
  ): Promise<boolean>;
  /**
   * Deletes the table only if it is still `expected` (same name, id and version) — the compare-and-swap
   * behind a DeleteTable that names a versionToken — and, in the same transaction, the attributes of
   * `resource` (the table's ARN). False, and nothing changed, when the table moved on or is gone.
   */
  deleteTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    resource: string,
  ): Promise<boolean>;
  /**
   * Renames the table only if it is still `expected` (same name, id and version), moving its version
   * on: false, and nothing changed, otherwise. CatalogError ALREADY_EXISTS / NO_SUCH_NAMESPACE for a
   * bad destination.
   */
  renameTableAtVersion(
    bucketName: string,
    expected: Pick<TableRecord, "namespace" | "name" | "tableId" | "version">,
    to: TableIdentifier,
  ): Promise<boolean>;
  /** Attributes of one resource and kind, by key. */
  getResourceAttributes(resource: string, kind: ResourceAttributeKind): Promise<Record<string, string>>;
  /** Sets (`value` a string) and deletes (`value` undefined) attributes of one resource in one transaction. */
  updateResourceAttributes(
    resource: string,
    kind: ResourceAttributeKind,
    changes: Record<string, string | undefined>,
  ): Promise<void>;
  /** Drops every attribute of the resource and, for a bucket ARN, of the tables inside it. */
  deleteResourceAttributes(resource: string): Promise<void>;
  /** Throws when the store cannot answer (for /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
