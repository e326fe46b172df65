/**
 * Table buckets: CreateTableBucket (PUT /buckets), ListTableBuckets (GET /buckets), GetTableBucket and
 * DeleteTableBucket (GET/DELETE /buckets/{tableBucketARN}). A bucket created here is the same bucket
 * `floe bucket create` makes and the Iceberg REST catalog serves as a warehouse.
 */
import type { FastifyInstance } from "fastify";
import type { TableBucketRecord } from "../store/store.ts";
import {
  bodyOf,
  bucketIdOf,
  bucketOf,
  decodeContinuationToken,
  encodeContinuationToken,
  optionalString,
  pageSize,
  paramsOf,
  queryOf,
  requiredString,
  type S3TablesContext,
} from "./context.ts";
import { S3TablesError } from "./errors.ts";
import { validateTableBucketName } from "./names.ts";
import { putTags, validateTags } from "./tags.ts";

export function tableBucketSummary(context: S3TablesContext, bucket: TableBucketRecord) {
  return {
    arn: bucket.arn,
    name: bucket.name,
    ownerAccountId: context.buckets.accountId,
    createdAt: bucket.createdAt,
    tableBucketId: bucketIdOf(bucket),
    type: "customer",
  };
}

export function registerBucketRoutes(app: FastifyInstance, context: S3TablesContext): void {
  app.put("/buckets", async (request) => {
    const body = bodyOf(request);
    const name = requiredString(body.name, "name");
    validateTableBucketName(name);
    const tags = validateTags(body.tags);
    if (Object.keys(tags).length > 50)
      throw new S3TablesError("BAD_REQUEST", "a resource can have at most 50 tags");
    const bucket = await context.buckets.create(name);
    await putTags(context, bucket.arn, tags);
    return { arn: bucket.arn };
  });

  app.get("/buckets", async (request) => {
    const query = queryOf(request);
    const prefix = optionalString(query.prefix, "prefix") ?? "";
    const after = decodeContinuationToken(query.continuationToken);
    const limit = pageSize(query.maxBuckets, "maxBuckets");
    if (query.type !== undefined && query.type !== "customer" && query.type !== "aws") {
      throw new S3TablesError("BAD_REQUEST", "type must be customer or aws");
    }
    const matching = (await context.buckets.list())
      .filter(
        (b) => query.type !== "aws" && b.name.startsWith(prefix) && (after === undefined || b.name > after),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page = matching.slice(0, limit);
    const last = page.at(-1);
    return {
      tableBuckets: page.map((b) => tableBucketSummary(context, b)),
      ...(matching.length > limit && last ? { continuationToken: encodeContinuationToken(last.name) } : {}),
    };
  });

  app.get("/buckets/:tableBucketARN", async (request) =>
    tableBucketSummary(context, await bucketOf(context, paramsOf(request).tableBucketARN)),
  );

  app.delete("/buckets/:tableBucketARN", async (request, reply) => {
    const bucket = await bucketOf(context, paramsOf(request).tableBucketARN);
    await context.buckets.delete(bucket.name);
    await context.buckets.store.deleteResourceAttributes(bucket.arn);
    return reply.code(204).send();
  });
}
