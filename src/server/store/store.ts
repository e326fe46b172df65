/**
 * What `floe serve` keeps besides the files in object storage: its table buckets and, per bucket, the
 * catalog (namespaces and each table's metadata pointer). SQLite is the embedded implementation;
 * a PostgreSQL store implements the same interface for several servers sharing one catalog.
 */
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
  /** Throws when the store cannot answer (for /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
