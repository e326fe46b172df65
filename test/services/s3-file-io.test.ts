// S3FileIO against the real development store (SeaweedFS): the shared FileIO contract, plus what only S3
// has — multipart uploads under If-None-Match, bad credentials, missing buckets, DeleteObjects batches.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type TestContext, test } from "node:test";
import type { S3Info } from "../../scripts/services/s3.ts";
import { S3FileIO, type S3FileIoConfig } from "../../src/io/index.ts";
import { createTestBucket, defer } from "../helpers/services.ts";
import { fileIoContract, rejectsWithCode } from "../io/file-io-contract.ts";

const MiB = 1024 * 1024;

function configFor(info: S3Info, overrides: Partial<S3FileIoConfig> = {}): S3FileIoConfig {
  return {
    endpoint: info.endpoint,
    region: info.region,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    forcePathStyle: true,
    // The smallest sizes S3 allows, so the multipart path runs on bodies of a few MiB.
    multipartThresholdBytes: 5 * MiB,
    partSizeBytes: 5 * MiB,
    ...overrides,
  };
}

async function s3Target(t: TestContext, overrides: Partial<S3FileIoConfig> = {}) {
  const { info, bucket } = await createTestBucket(t);
  const io = new S3FileIO(configFor(info, overrides));
  defer(t, () => io.close());
  return { io, bucket, info, root: `s3://${bucket}/warehouse/` };
}

fileIoContract("S3FileIO", (t) => s3Target(t), {
  invalidLocations: ["file:///tmp/x", "s3://bucket-only", "s3://bucket/dir/", "s3:///key", "s3://Upper/key"],
  largeBodyBytes: 11 * MiB,
});

test("S3FileIO: multipart uploads honour ifNotExists, also when racing", async (t) => {
  const { io, root } = await s3Target(t);
  const location = `${root}metadata/00001-large.metadata.json`;
  const bodies = [randomBytes(6 * MiB), randomBytes(6 * MiB), randomBytes(6 * MiB)];
  const results = await Promise.allSettled(
    bodies.map((body) => io.write(location, body, { ifNotExists: true })),
  );
  const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
  assert.equal(winners.length, 1);
  for (const result of results) {
    if (result.status === "rejected")
      assert.equal(result.reason.code, "ALREADY_EXISTS", result.reason.message);
  }
  const stored = await io.read(location);
  assert.ok(Buffer.from(stored).equals(bodies[winners[0] ?? -1] ?? Buffer.alloc(0)));
});

test("S3FileIO: wrong credentials are ACCESS_DENIED and name the fix", async (t) => {
  const { info, bucket } = await createTestBucket(t);
  const io = new S3FileIO(
    configFor(info, { credentials: { accessKeyId: "not-a-key", secretAccessKey: "wrong" }, maxAttempts: 1 }),
  );
  defer(t, () => io.close());
  const error = await rejectsWithCode(io.read(`s3://${bucket}/any`), "ACCESS_DENIED");
  assert.match(error.message, /access key/);
  await rejectsWithCode(io.write(`s3://${bucket}/any`, new Uint8Array(1)), "ACCESS_DENIED");
});

test("S3FileIO: a missing bucket is NOT_FOUND and says to create it", async (t) => {
  const { io, bucket } = await s3Target(t);
  const location = `s3://${bucket}-missing/key`;
  const error = await rejectsWithCode(io.read(location), "NOT_FOUND");
  assert.match(error.message, /bucket .* does not exist/);
  await rejectsWithCode(io.delete(location), "NOT_FOUND");
});

test("S3FileIO: deleteMany and list page past 1000 keys", async (t) => {
  const { io, root } = await s3Target(t);
  const locations = Array.from({ length: 1005 }, (_, i) => `${root}many/${String(i).padStart(4, "0")}`);
  const queue = [...locations];
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let next = queue.pop(); next !== undefined; next = queue.pop())
        await io.write(next, new Uint8Array(1));
    }),
  );
  let listed = 0;
  for await (const _ of io.list(`${root}many/`)) listed++;
  assert.equal(listed, 1005);
  await io.deleteMany(locations);
  for await (const file of io.list(`${root}many/`)) assert.fail(`${file.location} survived deleteMany`);
});

test("S3FileIO: s3a:// locations are listed back with their own scheme", async (t) => {
  const { io, bucket } = await s3Target(t);
  await io.write(`s3a://${bucket}/hadoop/file`, new Uint8Array([1, 2]));
  const listed = [];
  for await (const file of io.list(`s3a://${bucket}/hadoop/`)) listed.push(file.location);
  assert.deepEqual(listed, [`s3a://${bucket}/hadoop/file`]);
  assert.equal(await io.exists(`s3://${bucket}/hadoop/file`), true);
});
