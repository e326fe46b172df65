import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoadedTable } from "../../../src/catalog/catalog.ts";
import { ManifestEntryStatus } from "../../../src/iceberg/data-file.ts";
import { IcebergError } from "../../../src/iceberg/errors.ts";
import { FastAppend } from "../../../src/iceberg/operations/append.ts";
import { ExpireSnapshots } from "../../../src/iceberg/operations/expire-snapshots.ts";
import { OverwriteFiles } from "../../../src/iceberg/operations/overwrite.ts";
import { RewriteFiles } from "../../../src/iceberg/operations/rewrite.ts";
import { RowDelta } from "../../../src/iceberg/operations/row-delta.ts";
import { setRef, updatePartitionSpec, updateSchema } from "../../../src/iceberg/operations/table-changes.ts";
import { readManifestEntries, readManifestList } from "../../../src/iceberg/snapshot-producer.ts";
import { currentSchema, currentSnapshot, defaultSpec } from "../../../src/iceberg/table-metadata.ts";
import { day } from "../../../src/iceberg/transforms.ts";
import { primitive } from "../../../src/iceberg/types.ts";
import {
  dataFile,
  equalityDeleteFile,
  localWarehouse,
  ordersId,
  ordersSchema,
  positionDeleteFile,
} from "../../helpers/tables.ts";

async function newTable(t: Parameters<typeof localWarehouse>[0]) {
  const warehouse = localWarehouse(t);
  await warehouse.catalog.createNamespace(["shop"]);
  const table = await warehouse.catalog.createTable(ordersId, { schema: ordersSchema });
  return { ...warehouse, table };
}

/** Live files of the current snapshot: path → data sequence number. */
async function liveFiles(table: LoadedTable): Promise<Map<string, bigint | null>> {
  const live = new Map<string, bigint | null>();
  for (const manifest of await readManifestList(table, currentSnapshot(table.metadata))) {
    for (const entry of await readManifestEntries(table, manifest)) {
      if (entry.status !== ManifestEntryStatus.DELETED)
        live.set(entry.dataFile.filePath, entry.sequenceNumber);
    }
  }
  return live;
}

const isValidationFailure = (e: unknown) => e instanceof IcebergError && e.code === "VALIDATION_FAILED";

test("append, row delta and overwrite keep summaries and sequence numbers right", async (t) => {
  const { catalog, table } = await newTable(t);
  const loc = table.metadata.location;
  const f1 = dataFile(loc, 100);
  const s1 = await new FastAppend(catalog, table).appendFile(f1).set("floe.source.lsn", "0/16B3748").commit();
  assert.deepEqual(
    { ...s1.result.summary },
    {
      operation: "append",
      "floe.source.lsn": "0/16B3748",
      "added-data-files": "1",
      "added-records": "100",
      "added-files-size": "10000",
      "total-data-files": "1",
      "total-records": "100",
      "total-files-size": "10000",
      "total-delete-files": "0",
      "total-position-deletes": "0",
      "total-equality-deletes": "0",
    },
  );

  const f2 = dataFile(loc, 3);
  const pd = positionDeleteFile(loc, f1.filePath, 2);
  const s2 = await new RowDelta(catalog, s1.table).addRows(f2).addDeletes(pd).commit();
  assert.equal(s2.result.summary.operation, "overwrite");
  assert.equal(s2.result.summary["total-records"], "103");
  assert.equal(s2.result.summary["total-position-deletes"], "2");
  assert.equal(s2.result.summary["total-delete-files"], "1");
  assert.deepEqual(
    await liveFiles(s2.table),
    new Map([
      [f2.filePath, 2n],
      [pd.filePath, 2n],
      [f1.filePath, 1n],
    ]),
  );

  const f3 = dataFile(loc, 50);
  const s3 = await new OverwriteFiles(catalog, s2.table).deleteFile(f1).addFile(f3).commit();
  assert.equal(s3.result.summary["deleted-data-files"], "1");
  assert.equal(s3.result.summary["total-records"], "53");
  const live = await liveFiles(s3.table);
  assert.equal(live.has(f1.filePath), false);
  assert.equal(live.get(f3.filePath), 3n);
  assert.equal(live.get(f2.filePath), 2n, "carried entries keep their sequence numbers");

  await assert.rejects(new OverwriteFiles(catalog, s3.table).deleteFile(f1).commit(), isValidationFailure);
});

test("a row delta whose target file was rewritten concurrently fails validation instead of losing deletes", async (t) => {
  const { catalog, table } = await newTable(t);
  const loc = table.metadata.location;
  const f1 = dataFile(loc, 10);
  const base = (await new FastAppend(catalog, table).appendFile(f1).commit()).table;

  const delta = new RowDelta(catalog, base).addDeletes(positionDeleteFile(loc, f1.filePath, 1));
  await new RewriteFiles(catalog, base).rewriteFiles([f1], [dataFile(loc, 10)]).commit();
  await assert.rejects(delta.commit({ minWaitMs: 1 }), isValidationFailure);
});

test("a rewrite keeps the old data sequence number, survives concurrent equality deletes, and aborts on concurrent position deletes", async (t) => {
  const { catalog, table } = await newTable(t);
  const loc = table.metadata.location;
  const f1 = dataFile(loc, 10);
  const f2 = dataFile(loc, 10);
  const base = (await new FastAppend(catalog, table).appendFile(f1).appendFile(f2).commit()).table;

  // Equality deletes committed while the rewrite ran still apply to the compacted file (seq 1 < 2).
  const compacted = dataFile(loc, 20);
  const rewrite = new RewriteFiles(catalog, base).rewriteFiles([f1, f2], [compacted]);
  const eq = equalityDeleteFile(loc, 1);
  await new RowDelta(catalog, base).addDeletes(eq).commit();
  const done = await rewrite.commit({ minWaitMs: 1 });
  assert.equal(done.attempts, 2);
  assert.equal(done.result.summary.operation, "replace");
  const live = await liveFiles(done.table);
  assert.equal(live.get(compacted.filePath), 1n);
  assert.equal(live.get(eq.filePath), 2n);

  // Position deletes against a file being rewritten cannot be carried over: the rewrite must not win.
  const f3 = dataFile(loc, 5);
  const withF3 = (await new FastAppend(catalog, done.table).appendFile(f3).commit()).table;
  const second = new RewriteFiles(catalog, withF3).rewriteFiles([f3], [dataFile(loc, 5)]);
  await new RowDelta(catalog, withF3).addDeletes(positionDeleteFile(loc, f3.filePath, 1)).commit();
  await assert.rejects(second.commit({ minWaitMs: 1 }), isValidationFailure);
});

test("expire snapshots with a fake clock: the right snapshots and only unreferenced files go", async (t) => {
  const { catalog, table, io, advanceClock } = await newTable(t);
  const loc = table.metadata.location;
  const hour = 3_600_000;
  const write = async (path: string) => io.write(path, new Uint8Array([1, 2, 3]));

  const f1 = dataFile(loc, 1);
  await write(f1.filePath);
  const s1 = await new FastAppend(catalog, table).appendFile(f1).commit();
  advanceClock(hour);
  const f2 = dataFile(loc, 1);
  await write(f2.filePath);
  const s2 = await new OverwriteFiles(catalog, s1.table).deleteFile(f1).addFile(f2).commit();
  advanceClock(hour);
  const f3 = dataFile(loc, 1);
  await write(f3.filePath);
  const s3 = await new FastAppend(catalog, s2.table).appendFile(f3).commit();
  // A tag keeps s2 (and so f2) alive.
  const tagged = await setRef(catalog, s3.table, "audit", { type: "tag", snapshotId: s2.result.snapshotId });

  // Snapshot timestamps come from the wall clock; expire everything older than "now" except what refs need.
  const now = Date.now() + 10 * hour;
  const result = await new ExpireSnapshots(catalog, tagged.table)
    .expireOlderThan(now)
    .withClock(() => now)
    .commit();
  assert.deepEqual(result.expiredSnapshotIds, [s1.result.snapshotId]);
  assert.equal(result.deletedDataFiles, 1);
  assert.equal(await io.exists(f1.filePath), false, "only s1 referenced f1");
  assert.equal(await io.exists(f2.filePath), true);
  assert.equal(await io.exists(f3.filePath), true);
  assert.equal(await io.exists(s1.result.manifestList), false);
  const after = await catalog.loadTable(ordersId);
  assert.deepEqual(
    after.metadata.snapshots.map((s) => s.snapshotId),
    [s2.result.snapshotId, s3.result.snapshotId],
  );

  // Keep the newest two on main; nothing else may go while the tag holds s2.
  const again = await new ExpireSnapshots(catalog, after)
    .retainLast(1)
    .expireOlderThan(now)
    .withClock(() => now)
    .commit();
  assert.deepEqual(again.expiredSnapshotIds, []);
});

test("schema and partition evolution commit through requirements and keep ids", async (t) => {
  const { catalog, table } = await newTable(t);
  const evolved = await updateSchema(catalog, table, (u) => {
    u.addColumn("total", primitive("double"));
    u.renameColumn("status", "state");
  });
  const schema = currentSchema(evolved.table.metadata);
  assert.equal(schema.findFieldByName("total")?.id, 4);
  assert.equal(schema.findFieldByName("state")?.id, 2);
  assert.equal(evolved.table.metadata.lastColumnId, 4);
  assert.equal(evolved.table.metadata.currentSchemaId, 1);

  const partitioned = await updatePartitionSpec(catalog, evolved.table, [
    { sourceId: 3, transform: day, name: "day_day" },
  ]);
  const spec = defaultSpec(partitioned.table.metadata);
  assert.equal(spec.specId, 1);
  assert.deepEqual(
    spec.fields.map((f) => [f.sourceId, f.fieldId, f.name]),
    [[3, 1000, "day_day"]],
  );
});
