// Smoke test: the development S3 store (SeaweedFS) is real S3 for the AWS SDK v3 — a 9 MiB object sent
// as a multipart upload reads back byte-identical, and a missing key fails with NoSuchKey.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { GetObjectCommand, HeadObjectCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { s3Client } from "../../scripts/services/s3.ts";
import { createTestBucket, defer } from "../helpers/services.ts";

const MiB = 1024 * 1024;

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

test("a 9 MiB multipart upload reads back byte-identical", async (t) => {
  const { info, bucket } = await createTestBucket(t);
  const client = s3Client(info);
  defer(t, () => client.destroy());

  const data = randomBytes(9 * MiB);
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: "smoke/random.bin", Body: data },
    partSize: 5 * MiB,
  });
  const partsSent = new Set<number>();
  upload.on("httpUploadProgress", (progress) => {
    if (progress.part !== undefined) partsSent.add(progress.part);
  });
  await upload.done();
  assert.deepEqual([...partsSent].sort(), [1, 2], "two parts: the upload really was multipart");

  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "smoke/random.bin" }));
  assert.equal(head.ContentLength, data.byteLength);
  // A multipart ETag is "md5-of-part-md5s-<parts>", unlike a single PUT's plain MD5.
  assert.match(head.ETag ?? "", /-2"?$/);

  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "smoke/random.bin" }));
  const body = await object.Body?.transformToByteArray();
  assert.ok(body, "GetObject returned a body");
  assert.equal(body.byteLength, data.byteLength);
  assert.equal(sha256(body), sha256(data));
});

test("reading a missing key fails with NoSuchKey", async (t) => {
  const { info, bucket } = await createTestBucket(t);
  const client = s3Client(info);
  defer(t, () => client.destroy());

  await assert.rejects(client.send(new GetObjectCommand({ Bucket: bucket, Key: "no/such/key" })), (error) => {
    assert.ok(error instanceof S3ServiceException);
    assert.equal(error.name, "NoSuchKey");
    assert.equal(error.$metadata.httpStatusCode, 404);
    return true;
  });
});
