/**
 * TagResource / UntagResource / ListTagsForResource (`/tag/{resourceArn}`) for table buckets and tables,
 * plus the tag rules CreateTableBucket and CreateTable apply to their `tags`: at most 50 per resource,
 * keys of 1-128 and values of 0-256 characters, no `aws:` keys.
 */
import type { FastifyInstance } from "fastify";
import { parseBucketArn, parseTableArn } from "./arns.ts";
import { bodyOf, bucketOf, type S3TablesContext } from "./context.ts";
import { S3TablesError } from "./errors.ts";

const MAX_TAGS = 50;

export function validateTags(tags: unknown): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== "object" || Array.isArray(tags)) {
    throw new S3TablesError("BAD_REQUEST", "tags must be a map of tag keys to values");
  }
  const entries = Object.entries(tags as Record<string, unknown>);
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > 128 || key.toLowerCase().startsWith("aws:")) {
      throw new S3TablesError(
        "BAD_REQUEST",
        `invalid tag key ${JSON.stringify(key)}: use 1-128 characters, not starting with aws:`,
      );
    }
    if (typeof value !== "string" || value.length > 256) {
      throw new S3TablesError(
        "BAD_REQUEST",
        `invalid value for tag ${key}: use a string of at most 256 characters`,
      );
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkTagCount(count: number): void {
  if (count > MAX_TAGS) {
    throw new S3TablesError(
      "BAD_REQUEST",
      `a resource can have at most ${MAX_TAGS} tags (it would have ${count})`,
    );
  }
}

/** The ARN of an existing bucket or table; NotFoundException otherwise. */
async function resourceOf(context: S3TablesContext, arn: string): Promise<string> {
  const table = parseTableArn(arn);
  if (table) {
    const bucket = await bucketOf(context, table.bucketArn);
    if (!(await context.buckets.store.getTableRecordById(bucket.name, table.tableId))) {
      throw new S3TablesError("NOT_FOUND", `table ${arn} does not exist`);
    }
    return arn;
  }
  parseBucketArn(arn);
  return (await bucketOf(context, arn)).arn;
}

/** Tags given at creation; validated before anything is created. */
export async function putTags(context: S3TablesContext, resource: string, tags: Record<string, string>) {
  checkTagCount(Object.keys(tags).length);
  if (Object.keys(tags).length > 0)
    await context.buckets.store.updateResourceAttributes(resource, "tag", tags);
}

export function registerTagRoutes(app: FastifyInstance, context: S3TablesContext): void {
  const store = context.buckets.store;
  app.get("/tag/:resourceArn", async (request) => {
    const resource = await resourceOf(context, (request.params as { resourceArn: string }).resourceArn);
    return { tags: await store.getResourceAttributes(resource, "tag") };
  });

  app.post("/tag/:resourceArn", async (request) => {
    const resource = await resourceOf(context, (request.params as { resourceArn: string }).resourceArn);
    const tags = validateTags(bodyOf(request).tags);
    const current = await store.getResourceAttributes(resource, "tag");
    checkTagCount(Object.keys({ ...current, ...tags }).length);
    await store.updateResourceAttributes(resource, "tag", tags);
    return {};
  });

  app.delete("/tag/:resourceArn", async (request, reply) => {
    const resource = await resourceOf(context, (request.params as { resourceArn: string }).resourceArn);
    const raw = (request.query as Record<string, unknown>).tagKeys;
    const keys = raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
    if (keys.length === 0) throw new S3TablesError("BAD_REQUEST", "tagKeys is required");
    await store.updateResourceAttributes(
      resource,
      "tag",
      Object.fromEntries(keys.map((k) => [k, undefined])),
    );
    return reply.code(204).send();
  });
}
