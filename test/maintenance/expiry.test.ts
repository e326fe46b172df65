import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { expireTableSnapshots, snapshotsToExpire } from "../../src/maintenance/expiry.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { cdcCommit, Model, sortById } from "./cdc.ts";

const HOUR = 3_600_000;

/** Snapshot timestamps are max(real now, last metadata update): run the fake clock ahead of real time. */
function aheadOfRealTime(advanceClock: (ms: number) => number): void {
  advanceClock(Date.now() - advanceClock(0) + 1000 * HOUR);
}

test("expiry keeps minSnapshotsToKeep and everything younger than maxSnapshotAgeHours, and branch/tag needs", async (t) => {
  const { catalog, advanceClock, io } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  aheadOfRealTime(advanceClock);
  const model = new Model();
  // Six snapshots, 10 hours apart.
  for (let i = 0; i < 6; i++) {
    advanceClock(10 * HOUR);
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ id: BigInt(i % 3), status: `v${i}`, day: 1 }], deletes: [] },
      "equality",
    );
  }
  const snapshots = table.metadata.snapshots;
  const now = snapshots.at(-1)!.timestampMs + HOUR;
  // Tag the second snapshot: it must survive.
  table = await catalog.commitTable({
    identifier: ordersId,
    requirements: [],
    updates: [
      { action: "set-snapshot-ref", refName: "audit", type: "tag", snapshotId: snapshots[1]!.snapshotId },
    ],
  });

  // Younger than 25 h: the last three (1 h, 11 h, 21 h old); minSnapshotsToKeep 2 adds nothing more.
  const plan = snapshotsToExpire(table.metadata, { minSnapshotsToKeep: 2, maxSnapshotAgeHours: 25 }, now);
  assert.deepEqual(
    plan.map((s) => s.snapshotId),
    [snapshots[0]!.snapshotId, snapshots[2]!.snapshotId],
  );
  // minSnapshotsToKeep 5 keeps snapshots[1..5] whatever their age.
  assert.deepEqual(
    snapshotsToExpire(table.metadata, { minSnapshotsToKeep: 5, maxSnapshotAgeHours: 1 }, now).map(
      (s) => s.snapshotId,
    ),
    [snapshots[0]!.snapshotId],
  );

  const result = await expireTableSnapshots(catalog, table, {
    minSnapshotsToKeep: 2,
    maxSnapshotAgeHours: 25,
    nowMs: () => now,
  });
  assert.deepEqual(result.expiredSnapshotIds, [snapshots[0]!.snapshotId, snapshots[2]!.snapshotId]);
  const after = await catalog.loadTable(ordersId);
  assert.deepEqual(
    after.metadata.snapshots.map((s) => s.snapshotId),
    [1, 3, 4, 5].map((i) => snapshots[i]!.snapshotId),
  );
  assert.ok(result.deletedManifestLists >= 2);
  for (const s of after.metadata.snapshots) assert.ok(await io.exists(s.manifestList));
  // Every retained snapshot still reads, the tag included.
  assert.deepEqual(sortById(await readTable(after)), model.sorted());
  assert.equal((await readTable(after, { ref: "audit" })).length, 2);
});

test("a branch's own retention wins over the configuration", async (t) => {
  const { catalog, advanceClock } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  aheadOfRealTime(advanceClock);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const model = new Model();
  for (let i = 0; i < 4; i++) {
    advanceClock(10 * HOUR);
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ id: BigInt(i), status: "a", day: 1 }], deletes: [] },
      "equality",
    );
  }
  const head = table.metadata.refs.main!.snapshotId;
  table = await catalog.commitTable({
    identifier: ordersId,
    requirements: [],
    updates: [
      {
        action: "set-snapshot-ref",
        refName: "main",
        type: "branch",
        snapshotId: head,
        minSnapshotsToKeep: 3,
      },
    ],
  });
  const now = table.metadata.snapshots.at(-1)!.timestampMs + 100 * HOUR;
  const plan = snapshotsToExpire(table.metadata, { minSnapshotsToKeep: 1, maxSnapshotAgeHours: 1 }, now);
  assert.deepEqual(
    plan.map((s) => s.snapshotId),
    [table.metadata.snapshots[0]!.snapshotId],
  );
  const nothing = snapshotsToExpire(
    table.metadata,
    { minSnapshotsToKeep: 1, maxSnapshotAgeHours: 1000 },
    now,
  );
  assert.deepEqual(nothing, []);
});
