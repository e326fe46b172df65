/**
 * Namespaces: CreateNamespace and ListNamespaces (PUT/GET /namespaces/{tableBucketARN}), GetNamespace
 * and DeleteNamespace (GET/DELETE /namespaces/{tableBucketARN}/{namespace}). S3 Tables namespaces
 * have one level; they are the bucket catalog's top-level namespaces.
 */
import type { FastifyInstance } from "fastify";
import type { NamespaceRecord, TableBucketRecord } from "../store/store.ts";
import {
  bodyOf,
  bucketIdOf,
  bucketOf,
  decodeContinuationToken,
  encodeContinuationToken,
  namespaceIdOf,
  optionalString,
  pageSize,
  paramsOf,
  queryOf,
  type S3TablesContext,
} from "./context.ts";
import { S3TablesError } from "./errors.ts";
import { validateNamespaceName } from "./names.ts";

function namespaceSummary(context: S3TablesContext, bucket: TableBucketRecord, record: NamespaceRecord) {
  return {
    namespace: record.namespace,
    createdAt: record.createdAt,
    createdBy: context.buckets.accountId,
    ownerAccountId: context.buckets.accountId,
    namespaceId: namespaceIdOf(bucket, record.namespace, record.createdAt),
    tableBucketId: bucketIdOf(bucket),
  };
}

export function registerNamespaceRoutes(app: FastifyInstance, context: S3TablesContext): void {
  const store = context.buckets.store;

  app.put("/namespaces/:tableBucketARN", async (request) => {
    const bucket = await bucketOf(context, paramsOf(request).tableBucketARN);
    const namespace = bodyOf(request).namespace;
    if (!Array.isArray(namespace) || namespace.length !== 1 || typeof namespace[0] !== "string") {
      throw new S3TablesError("BAD_REQUEST", "namespace must be a list of exactly one name");
    }
    validateNamespaceName(namespace[0]);
    await context.buckets.catalog(bucket).createNamespace([namespace[0]]);
    return { tableBucketARN: bucket.arn, namespace: [namespace[0]] };
  });

  app.get("/namespaces/:tableBucketARN", async (request) => {
    const bucket = await bucketOf(context, paramsOf(request).tableBucketARN);
    const query = queryOf(request);
    const limit = pageSize(query.maxNamespaces, "maxNamespaces");
    const after = decodeContinuationToken(query.continuationToken);
    const prefix = optionalString(query.prefix, "prefix");
    const rows = await store.listNamespaceRecords(bucket.name, {
      limit: limit + 1,
      ...(prefix ? { prefix } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1)?.namespace[0];
    return {
      namespaces: page.map((row) => namespaceSummary(context, bucket, row)),
      ...(rows.length > limit && last !== undefined
        ? { continuationToken: encodeContinuationToken(last) }
        : {}),
    };
  });

  app.get("/namespaces/:tableBucketARN/:namespace", async (request) => {
    const { tableBucketARN, namespace } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    const record = await store.getNamespaceRecord(bucket.name, [namespace ?? ""]);
    if (!record)
      throw new S3TablesError("NOT_FOUND", `namespace ${namespace} does not exist in ${bucket.name}`);
    return namespaceSummary(context, bucket, record);
  });

  app.delete("/namespaces/:tableBucketARN/:namespace", async (request, reply) => {
    const { tableBucketARN, namespace } = paramsOf(request);
    const bucket = await bucketOf(context, tableBucketARN);
    await context.buckets.catalog(bucket).dropNamespace([namespace ?? ""]);
    return reply.code(204).send();
  });
}
