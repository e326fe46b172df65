/**
 * The FileIO contract as tests: every implementation (local disk, S3 on SeaweedFS) runs this same body,
 * so they cannot drift apart in what callers may rely on (atomic ifNotExists, NOT_FOUND codes, literal
 * locations from list, range bounds).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type TestContext, test } from "node:test";
import { IoError, type IoErrorCode } from "../../src/io/errors.ts";
import type { FileIO } from "../../src/io/file-io.ts";
import { defer } from "../helpers/services.ts";

export interface FileIoContractTarget {
  io: FileIO;
  /** An empty location prefix owned by one test, ending with "/". */
  root: string;
}

export interface FileIoContractOptions {
  /** Locations of this implementation's scheme that must be refused with INVALID_LOCATION. */
  invalidLocations: string[];
  /** A body size that takes the implementation's large-file path (S3: multipart). */
  largeBodyBytes: number;
}

export async function rejectsWithCode(promise: Promise<unknown>, code: IoErrorCode): Promise<IoError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof IoError, `expected an IoError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected IoError ${code}, but the call succeeded`);
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* chunksOf(data: Uint8Array, chunkBytes: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += chunkBytes) {
    yield data.subarray(offset, Math.min(offset + chunkBytes, data.byteLength));
  }
}

async function scratchDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "floe-io-scratch-"));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Registers the contract's tests; `setup` makes a fresh FileIO and root per test (and defers cleanup). */
export function fileIoContract(
  name: string,
  setup: (t: TestContext) => Promise<FileIoContractTarget>,
  options: FileIoContractOptions,
): void {
  const contractTest = (
    title: string,
    body: (target: FileIoContractTarget, t: TestContext) => Promise<void>,
  ) => test(`${name}: ${title}`, async (t) => body(await setup(t), t));

  contractTest("bytes round-trip; stat and exists see the file", async ({ io, root }) => {
    const location = `${root}metadata/v1.metadata.json`;
    assert.equal(await io.exists(location), false);
    await io.write(location, bytes('{"format-version":2}'));
    assert.equal(text(await io.read(location)), '{"format-version":2}');
    const status = await io.stat(location);
    assert.equal(status.size, 20);
    assert.ok(status.lastModified instanceof Date);
    assert.ok(Math.abs(status.lastModified.getTime() - Date.now()) < 120_000, "lastModified is recent");
    assert.equal(await io.exists(location), true);
  });

  contractTest("a write replaces the previous content", async ({ io, root }) => {
    const location = `${root}data/file.bin`;
    await io.write(location, bytes("first version"));
    await io.write(location, bytes("second"));
    assert.equal(text(await io.read(location)), "second");
    assert.equal((await io.stat(location)).size, 6);
  });

  contractTest("async iterables, Readables and empty bodies are written whole", async ({ io, root }) => {
    const data = randomBytes(300_000);
    await io.write(`${root}iterable.bin`, chunksOf(data, 7_000));
    assert.equal(sha256(await io.read(`${root}iterable.bin`)), sha256(data));
    await io.write(`${root}readable.bin`, Readable.from(chunksOf(data, 65_536), { objectMode: false }));
    assert.equal(sha256(await io.read(`${root}readable.bin`)), sha256(data));
    await io.write(`${root}empty-bytes`, new Uint8Array(0));
    await io.write(`${root}empty-stream`, chunksOf(new Uint8Array(0), 1));
    assert.equal((await io.read(`${root}empty-bytes`)).byteLength, 0);
    assert.equal((await io.stat(`${root}empty-stream`)).size, 0);
  });

  contractTest(
    "a large body round-trips byte-identical (streamed and from a local file)",
    async (target, t) => {
      const { io, root } = target;
      const data = randomBytes(options.largeBodyBytes);
      await io.write(`${root}large/from-bytes.parquet`, data);
      assert.equal(sha256(await io.read(`${root}large/from-bytes.parquet`)), sha256(data));
      await io.write(`${root}large/from-stream.parquet`, chunksOf(data, 1024 * 1024), { ifNotExists: true });
      assert.equal((await io.stat(`${root}large/from-stream.parquet`)).size, data.byteLength);
      const dir = await scratchDir(t);
      await writeFile(join(dir, "duckdb-output.parquet"), data);
      await io.writeFromFile(`${root}large/from-file.parquet`, join(dir, "duckdb-output.parquet"));
      await io.downloadToFile(`${root}large/from-file.parquet`, join(dir, "nested", "downloaded.parquet"));
      assert.equal(sha256(await readFile(join(dir, "nested", "downloaded.parquet"))), sha256(data));
      const tail = await io.readRange(`${root}large/from-stream.parquet`, data.byteLength - 8, 8);
      assert.deepEqual(Buffer.from(tail), data.subarray(data.byteLength - 8));
    },
  );

  contractTest("writeFromFile and downloadToFile round-trip small files", async ({ io, root }, t) => {
    const dir = await scratchDir(t);
    await writeFile(join(dir, "part-0.parquet"), "PAR1 small PAR1");
    await io.writeFromFile(`${root}data/part-0.parquet`, join(dir, "part-0.parquet"));
    await io.downloadToFile(`${root}data/part-0.parquet`, join(dir, "copy.parquet"));
    assert.equal(await readFile(join(dir, "copy.parquet"), "utf8"), "PAR1 small PAR1");
    // Downloading again replaces the local file.
    await io.write(`${root}data/part-0.parquet`, bytes("changed"));
    await io.downloadToFile(`${root}data/part-0.parquet`, join(dir, "copy.parquet"));
    assert.equal(await readFile(join(dir, "copy.parquet"), "utf8"), "changed");
    await rejectsWithCode(io.writeFromFile(`${root}data/x`, join(dir, "missing.parquet")), "NOT_FOUND");
  });

  contractTest(
    "readRange returns exactly the requested bytes and refuses ranges outside the file",
    async ({ io, root }) => {
      const location = `${root}ranges.bin`;
      const data = bytes("0123456789abcdef");
      await io.write(location, data);
      assert.equal(text(await io.readRange(location, 0, 4)), "0123");
      assert.equal(text(await io.readRange(location, 10, 6)), "abcdef");
      assert.equal(text(await io.readRange(location, 5, 1)), "5");
      assert.equal((await io.readRange(location, 16, 0)).byteLength, 0);
      await rejectsWithCode(io.readRange(location, 12, 5), "INVALID_RANGE");
      await rejectsWithCode(io.readRange(location, 16, 1), "INVALID_RANGE");
      await rejectsWithCode(io.readRange(location, 17, 0), "INVALID_RANGE");
      await rejectsWithCode(io.readRange(location, -1, 2), "INVALID_RANGE");
      await rejectsWithCode(io.readRange(location, 0, 1.5), "INVALID_RANGE");
    },
  );

  contractTest("a missing file is NOT_FOUND for every read", async ({ io, root }, t) => {
    const missing = `${root}no/such/file.avro`;
    const error = await rejectsWithCode(io.read(missing), "NOT_FOUND");
    assert.equal(error.location, missing);
    assert.ok(error.message.includes(missing), "the message names the location");
    await rejectsWithCode(io.readRange(missing, 0, 1), "NOT_FOUND");
    await rejectsWithCode(io.stat(missing), "NOT_FOUND");
    await rejectsWithCode(io.downloadToFile(missing, join(await scratchDir(t), "x")), "NOT_FOUND");
    assert.equal(await io.exists(missing), false);
  });

  contractTest(
    "ifNotExists: the second writer gets ALREADY_EXISTS and the first write stays",
    async ({ io, root }) => {
      const location = `${root}metadata/v2.metadata.json`;
      await io.write(location, bytes("winner"), { ifNotExists: true });
      const error = await rejectsWithCode(
        io.write(location, bytes("loser"), { ifNotExists: true }),
        "ALREADY_EXISTS",
      );
      assert.ok(error.message.includes(location));
      assert.equal(text(await io.read(location)), "winner");
    },
  );

  contractTest("ifNotExists race: of concurrent writers exactly one wins", async ({ io, root }) => {
    for (let round = 0; round < 2; round++) {
      const location = `${root}metadata/v${10 + round}.metadata.json`;
      const contents = Array.from({ length: 8 }, (_, writer) => `writer ${writer} of round ${round}`);
      const results = await Promise.allSettled(
        contents.map((content) => io.write(location, bytes(content), { ifNotExists: true })),
      );
      const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(winners.length, 1, `exactly one winner, got ${winners.length}`);
      for (const result of results) {
        if (result.status === "rejected") {
          assert.ok(result.reason instanceof IoError);
          assert.equal(result.reason.code, "ALREADY_EXISTS", result.reason.message);
        }
      }
      assert.equal(text(await io.read(location)), contents[winners[0] ?? -1]);
    }
  });

  contractTest(
    "list finds files under a prefix at any depth, with locations as written",
    async ({ io, root }) => {
      const files = {
        "t/metadata/v1.metadata.json": "m1",
        "t/metadata/snap-1.avro": "snap",
        "t/data/part-0.parquet": "p0-data",
        "t/data/dt=2024-01-01/part-1.parquet": "p1",
        "t/data-extra/other.bin": "x",
        "t/with space+plus=eq.txt": "odd",
        "u/unrelated.txt": "no",
      };
      for (const [path, content] of Object.entries(files)) await io.write(`${root}${path}`, bytes(content));

      const all = await collect(io.list(`${root}t/`));
      const expected = Object.keys(files).filter((p) => p.startsWith("t/"));
      assert.deepEqual(all.map((f) => f.location).sort(), expected.map((p) => `${root}${p}`).sort());
      for (const file of all) {
        const path = file.location.slice(root.length) as keyof typeof files;
        assert.equal(file.size, files[path].length, file.location);
        assert.ok(file.lastModified instanceof Date);
        assert.equal(text(await io.read(file.location)), files[path]);
      }

      const dataDir = (await collect(io.list(`${root}t/data/`))).map((f) => f.location).sort();
      assert.deepEqual(dataDir, [
        `${root}t/data/dt=2024-01-01/part-1.parquet`,
        `${root}t/data/part-0.parquet`,
      ]);
      const partialName = (await collect(io.list(`${root}t/data`))).map((f) => f.location).sort();
      assert.equal(partialName.length, 3, "a prefix that is not a directory also matches data-extra/");
      assert.deepEqual(await collect(io.list(`${root}nothing-here/`)), []);
    },
  );

  contractTest("delete and deleteMany remove files and are idempotent", async ({ io, root }) => {
    const locations = Array.from({ length: 12 }, (_, i) => `${root}orphans/file-${i}.parquet`);
    for (const location of locations) await io.write(location, bytes(location));
    await io.delete(locations[0] ?? "");
    assert.equal(await io.exists(locations[0] ?? ""), false);
    await io.delete(locations[0] ?? "");
    await io.deleteMany([...locations, `${root}orphans/never-existed`]);
    assert.deepEqual(await collect(io.list(`${root}orphans/`)), []);
    await io.deleteMany([]);
  });

  contractTest("malformed locations are INVALID_LOCATION", async ({ io }) => {
    for (const location of options.invalidLocations) {
      await rejectsWithCode(io.read(location), "INVALID_LOCATION");
      await rejectsWithCode(io.write(location, bytes("x")), "INVALID_LOCATION");
    }
  });
}
