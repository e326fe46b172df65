import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { MaintenanceError } from "../../src/maintenance/errors.ts";
import {
  parseUnreferencedFileState,
  referencedFiles,
  removeUnreferencedFiles,
} from "../../src/maintenance/unreferenced-files.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { cdcCommit, Model, sortById } from "./cdc.ts";

const DAY = 86_400_000;

test("unreferenced files are marked after unreferencedDays and deleted nonCurrentDays later; referenced files never", async (t) => {
  const { catalog, io } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const model = new Model();
  for (let i = 0; i < 3; i++)
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ id: BigInt(i), status: "a", day: 1 }], deletes: [i > 0 ? i - 1 : 99] },
      "equality",
    );
  // Leftovers of a failed commit: a data file and a manifest nobody references.
  const orphanData = `${table.metadata.location}/data/orphan-1.parquet`;
  const orphanManifest = `${table.metadata.location}/metadata/orphan-m0.avro`;
  await io.write(orphanData, new Uint8Array([1, 2, 3]));
  await io.write(orphanManifest, new Uint8Array([4]));
  const referenced = await referencedFiles(table);
  const start = Date.now();
  const options = { unreferencedDays: 3, nonCurrentDays: 10 };

  // Day 1: too young.
  let run = await removeUnreferencedFiles(catalog, table, { ...options, nowMs: () => start + DAY });
  assert.deepEqual(run.markedFiles, []);
  assert.equal(run.youngFiles, 2);
  // Day 3: marked.
  run = await removeUnreferencedFiles(catalog, table, {
    ...options,
    state: run.state,
    nowMs: () => start + 3 * DAY + 1000,
  });
  assert.deepEqual(run.markedFiles.sort(), [orphanData, orphanManifest].sort());
  assert.deepEqual(run.deletedFiles, []);
  // The state round-trips through JSON.
  const persisted = parseUnreferencedFileState(JSON.stringify(run.state));
  // Day 12: marked 9 days ago, still pending.
  run = await removeUnreferencedFiles(catalog, table, {
    ...options,
    state: persisted,
    nowMs: () => start + 12 * DAY,
  });
  assert.deepEqual(run.deletedFiles, []);
  assert.equal(run.pendingFiles, 2);
  // Day 14: deleted.
  run = await removeUnreferencedFiles(catalog, table, {
    ...options,
    state: run.state,
    nowMs: () => start + 14 * DAY,
  });
  assert.deepEqual(run.deletedFiles.sort(), [orphanData, orphanManifest].sort());
  assert.deepEqual(run.state.markedFiles, {});
  assert.equal(await io.exists(orphanData), false);
  for (const location of referenced) assert.ok(await io.exists(location), `${location} is referenced`);
  assert.deepEqual(sortById(await readTable(await catalog.loadTable(ordersId))), model.sorted());
});

test("a file that was marked and became referenced is unmarked; an unreadable manifest deletes nothing", async (t) => {
  const { catalog, io } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const model = new Model();
  table = await cdcCommit(
    catalog,
    table,
    model,
    { upserts: [{ id: 1n, status: "a", day: 1 }], deletes: [] },
    "equality",
  );
  const [someFile] = [...(await referencedFiles(table))].filter((l) => l.endsWith(".parquet"));
  const state = { version: 1 as const, markedFiles: { [someFile!]: Date.now() - 30 * DAY } };
  const run = await removeUnreferencedFiles(catalog, table, {
    unreferencedDays: 1,
    nonCurrentDays: 1,
    state,
    nowMs: () => Date.now() + 30 * DAY,
  });
  assert.deepEqual(run.deletedFiles, []);
  assert.deepEqual(run.state.markedFiles, {});
  assert.ok(await io.exists(someFile!));

  const manifestList = table.metadata.snapshots[0]!.manifestList;
  await io.delete(manifestList);
  await assert.rejects(
    removeUnreferencedFiles(catalog, table, {
      unreferencedDays: 1,
      nonCurrentDays: 1,
      nowMs: () => Date.now() + 30 * DAY,
    }),
    (e: unknown) => e instanceof MaintenanceError && e.code === "UNSUPPORTED_TABLE",
  );
  assert.ok(await io.exists(someFile!));
  assert.throws(() => parseUnreferencedFileState("{"), MaintenanceError);
  assert.throws(() => parseUnreferencedFileState({ version: 2 }), MaintenanceError);
});
