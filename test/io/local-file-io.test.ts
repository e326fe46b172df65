// LocalFileIO: the shared FileIO contract on temp directories, plus what only the local disk has
// (temp files that must never show, `file:/` spellings, fileIoFor's scheme dispatch).
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileIoFor, LocalFileIO, localLocationOf, localPathOf, S3FileIO } from "../../src/io/index.ts";
import { defer } from "../helpers/services.ts";
import { fileIoContract, rejectsWithCode } from "./file-io-contract.ts";

async function tempRoot(t: Parameters<typeof defer>[0]): Promise<{ dir: string; root: string }> {
  const dir = await mkdtemp(join(tmpdir(), "floe-local-io-"));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return { dir, root: `${localLocationOf(dir)}/` };
}

fileIoContract(
  "LocalFileIO",
  async (t) => {
    const { root } = await tempRoot(t);
    return { io: new LocalFileIO(), root };
  },
  {
    invalidLocations: [
      "s3://bucket/key",
      "file://host/share/x",
      "file:relative/x",
      "file:///a/../b",
      "file:///dir/",
    ],
    largeBodyBytes: 11 * 1024 * 1024,
  },
);

test("LocalFileIO: a failed streamed write leaves neither the file nor a temp file", async (t) => {
  const { dir, root } = await tempRoot(t);
  const io = new LocalFileIO();
  async function* failing(): AsyncIterable<Uint8Array> {
    yield new Uint8Array(10);
    throw new Error("producer crashed");
  }
  await rejectsWithCode(io.write(`${root}data/broken.parquet`, failing()), "IO_FAILED");
  assert.equal(await io.exists(`${root}data/broken.parquet`), false);
  assert.deepEqual(await readdir(join(dir, "data")), []);
  await io.write(`${root}data/ok.parquet`, new Uint8Array(3), { ifNotExists: true });
  assert.deepEqual(await readdir(join(dir, "data")), ["ok.parquet"]);
});

test("LocalFileIO: file:/ (one slash) and file:/// name the same file; paths are not percent-decoded", async (t) => {
  const { dir } = await tempRoot(t);
  const io = new LocalFileIO();
  await io.write(`file:${dir}/a b%20c.txt`, new TextEncoder().encode("x"));
  assert.equal(await io.exists(`file://${dir}/a b%20c.txt`), true);
  assert.deepEqual(await readdir(dir), ["a b%20c.txt"]);
  assert.equal(localPathOf(`file://${dir}/a b%20c.txt`), `${dir}/a b%20c.txt`);
});

test("LocalFileIO: a directory is not a file", async (t) => {
  const { root } = await tempRoot(t);
  const io = new LocalFileIO();
  await io.write(`${root}dir/file`, new Uint8Array(1));
  await rejectsWithCode(io.read(`${root}dir`), "NOT_FOUND");
  await rejectsWithCode(io.stat(`${root}dir`), "NOT_FOUND");
  assert.equal(await io.exists(`${root}dir`), false);
  await rejectsWithCode(io.write(`${root}dir/file/child`, new Uint8Array(1)), "IO_FAILED");
});

test("fileIoFor picks the implementation by scheme and validates options", async () => {
  assert.ok(fileIoFor("file:///tmp/warehouse") instanceof LocalFileIO);
  const s3 = fileIoFor("s3://bucket/warehouse", {
    s3: { endpoint: "http://127.0.0.1:18333", forcePathStyle: true },
  });
  assert.ok(s3 instanceof S3FileIO);
  s3.close();
  assert.throws(() => fileIoFor("gs://bucket/x"), { name: "IoError", code: "INVALID_LOCATION" });
  assert.throws(() => fileIoFor("warehouse/relative"), { name: "IoError", code: "INVALID_LOCATION" });
  assert.throws(() => fileIoFor("s3://b/x", { s3: { endpoint: "not a url" } }), {
    name: "IoError",
    code: "INVALID_CONFIG",
    message: /endpoint/,
  });
  assert.throws(() => fileIoFor("s3://b/x", { s3: { partSizeBytes: 1024 } }), {
    code: "INVALID_CONFIG",
    message: /partSizeBytes/,
  });
  // A misspelt key (endPoint) must be refused, not ignored; the cast lets the test pass it at all.
  assert.throws(() => fileIoFor("s3://b/x", { s3: { endPoint: "http://x" } as never }), {
    code: "INVALID_CONFIG",
  });
});
