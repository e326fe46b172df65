/**
 * What every S3 Tables route shares: resolving a bucket ARN or a table to its records (NotFoundException
 * otherwise), reading request fields with BadRequestException for anything malformed, and the opaque
 * continuation tokens of the List operations.
 */
import type { FastifyRequest } from "fastify";
import type { TableBucketRecord, TableRecord } from "../store/store.ts";
import type { TableBuckets } from "../table-buckets.ts";
import { derivedId, parseBucketArn, tableArnOf, versionTokenOf } from "./arns.ts";
import { S3TablesError } from "./errors.ts";

export interface S3TablesContext {
  buckets: TableBuckets;
}

export type Json = Record<string, unknown>;

/** The bucket a `tableBucketARN` names; NotFoundException when there is none. */
export async function bucketOf(context: S3TablesContext, arn: unknown): Promise<TableBucketRecord> {
  const text = requiredString(arn, "tableBucketARN");
  const name = parseBucketArn(text);
  const bucket = await context.buckets.store.getBucket(name);
  if (!bucket || bucket.arn !== text) {
    throw new S3TablesError("NOT_FOUND", `table bucket ${text} does not exist`);
  }
  return bucket;
}

export async function tableOf(
  context: S3TablesContext,
  bucket: TableBucketRecord,
  namespace: string,
  name: string,
): Promise<TableRecord> {
  const table = await context.buckets.store.getTableRecord(bucket.name, [namespace], name);
  if (!table)
    throw new S3TablesError("NOT_FOUND", `table ${namespace}.${name} does not exist in ${bucket.name}`);
  return table;
}

export const bucketIdOf = (bucket: TableBucketRecord) => derivedId(bucket.arn, bucket.createdAt);
export const namespaceIdOf = (bucket: TableBucketRecord, namespace: readonly string[], createdAt: string) =>
  derivedId(bucket.arn, JSON.stringify(namespace), createdAt);
export const tableArnFor = (bucket: TableBucketRecord, table: TableRecord) =>
  tableArnOf(bucket.arn, table.tableId);
export const versionTokenFor = (table: TableRecord) => versionTokenOf(table.tableId, table.version);
/** The table's root: where its `metadata/` and `data/` live (the Iceberg `location`). */
export const warehouseLocationOf = (table: TableRecord) =>
  table.metadataLocation.replace(/\/metadata\/[^/]+$/, "");

/** Fails with ConflictException when the client sent a versionToken that is not the table's current one. */
export function checkVersionToken(table: TableRecord, token: unknown): void {
  if (token === undefined || token === null || token === "") return;
  if (token !== versionTokenFor(table)) {
    throw new S3TablesError(
      "CONFLICT",
      `the versionToken ${JSON.stringify(token)} is not the table's current one; read the table again and retry`,
    );
  }
}

export function bodyOf(request: FastifyRequest): Json {
  const body = request.body ?? {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new S3TablesError("BAD_REQUEST", "the request body must be a JSON object");
  }
  return body as Json;
}

export const paramsOf = (request: FastifyRequest) => request.params as Record<string, string>;
export const queryOf = (request: FastifyRequest) => (request.query ?? {}) as Record<string, unknown>;

export function requiredString(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") {
    throw new S3TablesError("BAD_REQUEST", `${field} is required and must be a non-empty string`);
  }
  return value;
}

export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return requiredString(value, field);
}

/** A page size from the query: 1..1000, 1000 when absent (S3 Tables' limits). */
export function pageSize(value: unknown, field: string): number {
  if (value === undefined || value === "") return 1000;
  const size = Number(value);
  if (!Number.isInteger(size) || size < 1 || size > 1000) {
    throw new S3TablesError("BAD_REQUEST", `${field} must be an integer from 1 to 1000`);
  }
  return size;
}

export const encodeContinuationToken = (cursor: string) => Buffer.from(cursor, "utf8").toString("base64url");

export function decodeContinuationToken(token: unknown): string | undefined {
  if (token === undefined || token === "") return undefined;
  if (typeof token !== "string" || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new S3TablesError("BAD_REQUEST", "continuationToken is not one this server returned");
  }
  return Buffer.from(token, "base64url").toString("utf8");
}
