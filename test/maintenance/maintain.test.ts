import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import {
  parseMaintenanceConfiguration,
  resolveMaintenanceConfiguration,
} from "../../src/maintenance/config.ts";
import { maintainTable } from "../../src/maintenance/maintain.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { cdcCommit, Model, sortById } from "./cdc.ts";

test("one pass runs the enabled jobs and reports status and metrics; disabled jobs say Disabled", async (t) => {
  const { catalog, advanceClock } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  // Snapshot timestamps are max(real now, last metadata update): run the fake clock ahead of real time.
  advanceClock(Date.now() - advanceClock(0) + 1000 * 3_600_000);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const model = new Model();
  for (let i = 0; i < 8; i++)
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ id: BigInt(i % 5), status: `v${i}`, day: 1 }], deletes: [] },
      "equality",
    );
  const now = advanceClock(200 * 3_600_000);
  const configuration = resolveMaintenanceConfiguration(
    parseMaintenanceConfiguration({ icebergUnreferencedFileRemoval: { status: "disabled" } }),
  );
  const result = await maintainTable({ catalog, identifier: ordersId, configuration, nowMs: () => now });
  assert.equal(
    result.status.icebergCompaction.status,
    "Successful",
    result.status.icebergCompaction.failureMessage,
  );
  assert.equal(result.status.icebergSnapshotManagement.status, "Successful");
  assert.equal(result.status.icebergUnreferencedFileRemoval.status, "Disabled");
  assert.equal(result.status.icebergCompaction.metrics?.rewrittenDataFiles, 8);
  assert.equal(result.status.icebergCompaction.metrics?.addedDataFiles, 1);
  assert.ok((result.status.icebergCompaction.metrics?.rewrittenDeleteFiles ?? 0) >= 1);
  assert.ok(typeof result.status.icebergCompaction.lastRunTimestamp === "string");
  // Everything older than 120 h except the head (the compaction) expires.
  assert.equal(result.status.icebergSnapshotManagement.metrics?.expiredSnapshots, 8);
  const latest = await catalog.loadTable(ordersId);
  assert.equal(latest.metadata.snapshots.length, 1);
  assert.equal((await planScan(latest)).tasks.length, 1);
  assert.deepEqual(sortById(await readTable(latest)), model.sorted());

  // A failing job is reported, not thrown: a store that refuses every commit fails compaction (which has
  // work to do on fresh small files) while the pass still returns.
  for (let i = 0; i < 6; i++) {
    table = await cdcCommit(
      catalog,
      await catalog.loadTable(ordersId),
      model,
      { upserts: [{ id: BigInt(100 + i), status: "late", day: 2 }], deletes: [] },
      "equality",
    );
  }
  const failing = await maintainTable({
    catalog: {
      ...catalog,
      loadTable: catalog.loadTable.bind(catalog),
      commitTable: async () => {
        throw new Error("store down");
      },
    } as unknown as typeof catalog,
    identifier: ordersId,
    configuration,
    nowMs: () => now,
  });
  assert.equal(failing.status.icebergCompaction.status, "Failed");
  assert.match(failing.status.icebergCompaction.failureMessage ?? "", /store down/);
  assert.equal(failing.status.icebergUnreferencedFileRemoval.status, "Disabled");
  assert.deepEqual(sortById(await readTable(await catalog.loadTable(ordersId))), model.sorted());
});
