// Issue #7's file-count acceptance: after a stretch of 1-second CDC commits (the sink's
// UpsertTableWriter in its default position-delete mode, 5 upserts/deletes per commit, into a local
// warehouse partitioned by bucket[4](id)), ONE maintenance pass — maintainTable with the default S3
// Tables configuration — leaves one data file per partition (no partition holds enough data to fill the
// 512 MiB target, so one file is as near the target as the data allows), no delete files at all, and
// exactly the model's rows (Floe's reader and pyiceberg).
//
// Scale: the default is the hour, 3600 commits (FLOE_FILE_COUNT_COMMITS sets another count): on this
// shared 2-core machine 3600 commits in 216 s (42 → 65-76 ms a commit, ~9400 data + ~8700 delete files),
// the pass 33.5 s, the whole test 254 s. The pass used to take 777 s and forced a default of 1200: the
// reader's scan SQL put every distinct set of delete files in its own UNION ALL branch (one per data file
// with the sink's deletes) and DuckDB's time grew with the square of the branches; it now reads all data
// files in one read_parquet and applies all position deletes with one anti join (src/iceberg/reader.ts,
// bench/scan-deletes.ts). Commit cost itself is flat in the snapshot count: the catalog answers loads and
// commits from the metadata it wrote instead of re-reading and re-parsing the file, and writes each
// snapshot's JSON once (src/catalog/metadata-cache.ts, src/iceberg/table-metadata.ts); bench/commit.ts
// measures it. The diagnostic line prints ms per commit by stretch of 300 commits.
//
// The warehouse sits on /dev/shm when the machine has it: the test is about file counts and rows, and
// thousands of commits × ~10 fsync'd files each would otherwise measure the disk (~15-30 ms a commit).
//
// Set only: the clock maintenance runs with (the warehouse's simulated one, so snapshot expiry and
// unreferenced-file removal see the time that passed rather than the wall clock).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LoadedTable } from "../../src/catalog/catalog.ts";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { DataFileContent, ManifestEntryStatus } from "../../src/iceberg/data-file.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { readManifestEntries, readManifestList } from "../../src/iceberg/snapshot-producer.ts";
import { currentSnapshot } from "../../src/iceberg/table-metadata.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { LocalFileIO, localLocationOf } from "../../src/io/index.ts";
import { maintainTable, resolveMaintenanceConfiguration } from "../../src/maintenance/index.ts";
import type { Row } from "../../src/sink/change.ts";
import { UpsertTableWriter } from "../../src/sink/table-writer.ts";
import { runReader } from "../helpers/python.ts";
import { rng } from "../sink/model.ts";

const COMMITS = Number(process.env.FLOE_FILE_COUNT_COMMITS ?? 3600);
const STRETCH = 300;
const CHANGES_PER_COMMIT = 5;
const KEY_SPACE = 2000;

const schema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("long") },
    { id: 2, name: "region", required: false, type: primitive("string") },
    { id: 3, name: "qty", required: false, type: primitive("int") },
    { id: 4, name: "note", required: false, type: primitive("string") },
  ],
  [1],
);

/** An in-memory catalog over a local warehouse in memory-backed storage when there is some. */
function memoryWarehouse(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "floe-file-count-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let clock = 1_700_000_000_000;
  const catalog = new StoreCatalog({
    name: "file-count",
    store: new InMemoryCatalogStore(),
    io: new LocalFileIO(),
    warehouse: localLocationOf(dir),
    now: () => clock,
  });
  return {
    catalog,
    advanceClock: (ms: number) => {
      clock += ms;
      return clock;
    },
  };
}

/** Live data and delete files of the current snapshot, by content, read from its manifests. */
async function liveFiles(table: LoadedTable) {
  const counts = { data: 0, deletes: 0 };
  const snapshot = currentSnapshot(table.metadata);
  if (!snapshot) return counts;
  for (const manifest of await readManifestList(table, snapshot)) {
    for (const entry of await readManifestEntries(table, manifest)) {
      if (entry.status === ManifestEntryStatus.DELETED) continue;
      if (entry.dataFile.content === DataFileContent.DATA) counts.data++;
      else counts.deletes++;
    }
  }
  return counts;
}

// The hour takes longer than the runner's default 10-minute limit per test.
const timeout = Math.max(600_000, COMMITS * 400);

test(`one maintenance pass after ${COMMITS} one-second CDC commits leaves one file per partition, no deletes, the model's rows`, {
  timeout,
}, async (t) => {
  const { catalog, advanceClock } = memoryWarehouse(t);
  const id = { namespace: ["src"], name: "events" };
  await catalog.createNamespace(["src"]);
  await catalog.createTable(id, {
    schema,
    spec: {
      specId: 0,
      fields: [
        { sourceId: 1, fieldId: 1000, name: "id_bucket", transform: { kind: "bucket", numBuckets: 4 } },
      ],
    },
  });
  const writer = await UpsertTableWriter.open({ catalog, identifier: id });
  t.after(() => writer.close());

  const model = new Map<bigint, Row>();
  const random = rng(7);
  let lsn = 0x1_0000_0000n;
  const started = performance.now();
  let windowStart = started;
  const timings: string[] = [];
  for (let commit = 1; commit <= COMMITS; commit++) {
    lsn += 0x100n;
    const commitTimeMs = advanceClock(1000);
    for (let n = 1; n <= CHANGES_PER_COMMIT; n++) {
      const key = BigInt(1 + Math.floor(random() * KEY_SPACE));
      const position = `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}#${n}`;
      if (model.has(key) && random() < 0.35) {
        await writer.write({ op: "d", key: { id: key }, before: model.get(key)!, position, commitTimeMs });
        model.delete(key);
      } else {
        const after: Row = {
          id: key,
          region: ["eu", "us", "ap", null][Math.floor(random() * 4)] ?? null,
          qty: commit,
          note: random() < 0.1 ? null : `note ${commit}.${n}`,
        };
        const op = model.has(key) ? "u" : "c";
        await writer.write({ op, key: { id: key }, after, position, commitTimeMs });
        model.set(key, after);
      }
    }
    await writer.commit();
    if (commit % STRETCH === 0) {
      const now = performance.now();
      timings.push(`${commit}: ${((now - windowStart) / STRETCH).toFixed(0)} ms/commit`);
      windowStart = now;
    }
  }
  const commitSeconds = (performance.now() - started) / 1000;

  let table = await catalog.loadTable(id);
  const before = await liveFiles(table);
  assert.ok(before.data >= COMMITS, `${before.data} data files before maintenance`);
  assert.ok(before.deletes >= COMMITS / 2, `${before.deletes} delete files before maintenance`);

  const passStarted = performance.now();
  const result = await maintainTable({
    catalog,
    identifier: id,
    configuration: resolveMaintenanceConfiguration(),
    nowMs: () => advanceClock(0),
  });
  const passSeconds = (performance.now() - passStarted) / 1000;
  assert.equal(result.status.icebergCompaction.status, "Successful", JSON.stringify(result.status));
  assert.equal(result.status.icebergSnapshotManagement.status, "Successful");
  assert.equal(result.status.icebergUnreferencedFileRemoval.status, "Successful");
  assert.equal(result.compaction?.committed, true);

  table = await catalog.loadTable(id);
  const after = await liveFiles(table);
  assert.equal(after.deletes, 0, "no delete files are left, not even dangling ones");
  const plan = await planScan(table);
  const perPartition = new Map<string, number>();
  for (const task of plan.tasks) {
    const key = JSON.stringify(task.partition);
    perPartition.set(key, (perPartition.get(key) ?? 0) + 1);
  }
  assert.equal(perPartition.size, 4, "every bucket holds rows");
  for (const [partition, files] of perPartition)
    assert.equal(files, 1, `partition ${partition}: ${files} data files (all of its rows fit the target)`);
  assert.equal(after.data, 4);

  const expected = [...model.values()]
    .map((row) => ({ ...row }))
    .sort((a, b) => ((a.id as bigint) < (b.id as bigint) ? -1 : 1));
  const actual = (await readTable(table)).sort((a, b) => ((a.id as bigint) < (b.id as bigint) ? -1 : 1));
  assert.equal(actual.length, expected.length);
  assert.deepEqual(actual, expected);
  const json = (rows: Row[]) =>
    rows.map((row) => JSON.stringify({ ...row, id: Number(row.id) }, Object.keys(row).sort())).sort();
  assert.deepEqual(json(runReader<Row[]>("pyiceberg-scan", table.metadataLocation)), json(expected));

  t.diagnostic(
    `${COMMITS} commits in ${commitSeconds.toFixed(1)} s (${timings.join(", ")}); before the pass ${before.data} data + ${before.deletes} delete files, after ${after.data} + ${after.deletes}; the pass took ${passSeconds.toFixed(1)} s; ${model.size} rows`,
  );
});
