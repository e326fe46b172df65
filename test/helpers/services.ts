/**
 * Test access to the real development services. Each helper starts the service when it is not
 * running (idempotent; seconds when it is) and hands out an isolated resource — a fresh database, a
 * topic prefix, a bucket — that is removed after the test, so test files can run in any order and in
 * parallel.
 */
import { randomBytes } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import pg from "pg";
import { servicesUp } from "../../scripts/services/index.ts";
import type { S3Info } from "../../scripts/services/s3.ts";
import { s3Client } from "../../scripts/services/s3.ts";

/** The subset of node:test's context the helpers need, so they work with `t` from `test()` and `before()`. */
export interface Cleanup {
  after(fn: () => Promise<void> | void): void;
}

const stacks = new WeakMap<Cleanup, Array<() => Promise<void> | void>>();

/**
 * Registers a cleanup that runs after the test, last registered first (node:test runs `t.after` hooks
 * first-registered first, which would drop a database before the test's own client disconnects).
 * Tests register their own resources with `defer` too, so everything unwinds in the right order.
 */
export function defer(t: Cleanup, fn: () => Promise<void> | void): void {
  let stack = stacks.get(t);
  if (!stack) {
    const created: Array<() => Promise<void> | void> = [];
    stacks.set(t, created);
    t.after(async () => {
      const errors: unknown[] = [];
      for (const cleanup of created.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
    });
    stack = created;
  }
  stack.push(fn);
}

/** A short random suffix for names that must not collide between concurrent tests. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export async function requirePostgresUrl(): Promise<string> {
  const env = await servicesUp(["postgres"]);
  if (!env.postgres) throw new Error("postgres did not come up");
  return env.postgres.url;
}

/** Creates an empty database for one test and drops it (terminating its connections) afterwards. */
export async function createTestDatabase(t: Cleanup, prefix = "floe_test"): Promise<string> {
  const adminUrl = await requirePostgresUrl();
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  defer(t, async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    try {
      await cleanup.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active",
        [name],
      );
      await cleanup.query(`drop database if exists "${name}" with (force)`);
    } finally {
      await cleanup.end();
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function requireKafkaBrokers(): Promise<string[]> {
  const env = await servicesUp(["kafka"]);
  if (!env.kafka) throw new Error("kafka did not come up");
  return env.kafka.brokers.split(",");
}

/** A topic-name prefix owned by one test (topics are cheap; the broker keeps them until `services down`). */
export function topicPrefix(): string {
  return `${uniqueName("floe_test")}.`;
}

export async function requireS3(): Promise<S3Info> {
  const env = await servicesUp(["s3"]);
  if (!env.s3) throw new Error("s3 did not come up");
  return env.s3;
}

/** Creates a bucket for one test and deletes it with everything in it afterwards. */
export async function createTestBucket(t: Cleanup): Promise<{ info: S3Info; bucket: string }> {
  const info = await requireS3();
  const bucket = uniqueName("floe-test").replaceAll("_", "-");
  const client = s3Client(info);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  defer(t, async () => {
    try {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
        );
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (keys.length > 0)
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
  });
  return { info, bucket };
}
